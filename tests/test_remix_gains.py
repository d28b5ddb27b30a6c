"""Personalised remix gains: the leaky-oracle separator, the exact HAAQI-of-gains objective,
the gain predictor inside ``hltk remix``, decoder-only HDemucs fine-tuning."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from hltk.io.audio import read_audio, write_audio
from hltk.remix.chain import STEMS, remix_for_listener
from hltk.remix.gain_predictor import BOUND_DB, MODEL_KIND, PARAMETERS, GainPredictor
from hltk.remix.gain_search import ItemObjective, pcm16_round_trip, search_gains
from hltk.remix.hdemucs import DECODER_PREFIXES, HDemucs, HDemucsConfig, freeze_encoder
from hltk.remix.leaky_oracle import DEFAULT_LEAK_DB, HDEMUCS_SDR_DB, leaky_stems, sdr_db
from hltk.synth import signals
from hltk.synth.listeners import make_listeners

#: a small random Hybrid Demucs (as tests/test_remix_hdemucs.py builds it)
SMALL = HDemucsConfig(channels=4, nfft=256, depth=4, norm_starts=2, dconv_lstm=2, dconv_attn=2,
                      sample_rate=8000)


@pytest.fixture(scope="module")
def song() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """A 2.5 s synthetic song: stems and mixture as ``(time, 2)`` float64 at 44.1 kHz."""
    if not signals.has_fluidsynth():
        pytest.skip("fluidsynth or the GM soundfont not installed")
    stems, mixture = signals.song_stems(seed=11, seconds=2.5, sample_rate=44100)
    return ({name: audio.numpy().T.astype(np.float64) for name, audio in stems.items()},
            mixture.numpy().T.astype(np.float64))


def test_leaky_oracle_sdr_near_hdemucs_per_stem(song) -> None:
    """At the default leak, each stem's SDR is within 2.5 dB of Hybrid Demucs' MUSDB18-HQ
    figure; a worse leak lowers every stem's SDR; the same seed gives the same estimates."""
    stems, _ = song
    estimates = leaky_stems(stems, DEFAULT_LEAK_DB, seed=3)
    measured = {name: sdr_db(stems[name], estimates[name]) for name in STEMS}
    print("leaky-oracle SDR at", DEFAULT_LEAK_DB, "dB:", {k: round(v, 2) for k, v in measured.items()})
    for name in STEMS:
        assert abs(measured[name] - HDEMUCS_SDR_DB[name]) < 2.5, (name, measured[name])
    worse = leaky_stems(stems, 10.0, seed=3)
    assert all(sdr_db(stems[n], worse[n]) < measured[n] - 1.0 for n in STEMS)
    again = leaky_stems(stems, DEFAULT_LEAK_DB, seed=3)
    other = leaky_stems(stems, DEFAULT_LEAK_DB, seed=4)
    assert np.array_equal(again["vocals"], estimates["vocals"])
    assert not np.array_equal(other["vocals"], estimates["vocals"])


def test_objective_output_is_the_chain_and_the_flac_round_trip(song, tmp_path: Path) -> None:
    """The objective's 32 kHz output equals remix_for_listener's (the sum of per-stem NAL-R'd,
    resampled stems vs the chain on the sum), and its PCM emulation equals the runner's
    16-bit FLAC write and read back, sample for sample."""
    stems, mixture = song
    listener = make_listeners(11, 5)[7]
    estimated = leaky_stems(stems, DEFAULT_LEAK_DB, seed=1)
    requested = {"vocals": 6.0, "drums": 0.0, "bass": -3.0, "other": 0.0}
    objective = ItemObjective.build(estimated, stems, mixture, requested, listener, seed=9)
    gains = {"vocals": 9.0, "drums": -2.0, "bass": -3.0, "other": 1.0}
    chain = remix_for_listener(estimated, mixture, gains, listener)
    fast = objective.output(gains)
    assert fast.shape == chain.shape
    assert np.max(np.abs(fast - chain)) < 1e-6 * max(1.0, np.max(np.abs(chain)))
    path = tmp_path / "out.flac"
    write_audio(path, torch.from_numpy(chain.T.astype("float32")), 32000, "flac16")
    read, _ = read_audio(path)
    assert np.array_equal(read.numpy().T.astype(np.float64), pcm16_round_trip(chain))
    assert objective.clipped_samples(gains) == int(np.sum(np.abs(chain.astype(np.float32)) >= 1.0))


@pytest.mark.slow
def test_objective_equals_the_cadenza_preset_score(song, tmp_path: Path) -> None:
    """The fast objective is the preset's score (pyclarity's compute_haaqi on the written
    file, the stream seeded once before the left ear) to 1e-6, both ears."""
    from hltk.remix.scoring import cadenza_haaqi

    stems, mixture = song
    cut = 44100
    stems = {k: v[:cut] for k, v in stems.items()}
    mixture = mixture[:cut]
    listener = make_listeners(11, 5)[6]
    estimated = leaky_stems(stems, 12.0, seed=2)
    requested = {"vocals": 3.0, "drums": -3.0, "bass": 0.0, "other": 0.0}
    objective = ItemObjective.build(estimated, stems, mixture, requested, listener, seed=1234)
    gains = {"vocals": 5.0, "drums": -4.0, "bass": 1.0, "other": -2.0}
    fast = objective.score(gains)
    path = tmp_path / "out.flac"
    write_audio(path, torch.from_numpy(remix_for_listener(estimated, mixture, gains, listener).T
                                       .astype("float32")), 32000, "flac16")
    processed, rate = read_audio(path)
    exact = cadenza_haaqi(processed.numpy().T.astype(np.float64), rate, stems, mixture, requested,
                          listener, 1234)
    assert fast[0] == pytest.approx(exact["haaqi_left"], abs=1e-6)
    assert fast[1] == pytest.approx(exact["haaqi_right"], abs=1e-6)


def test_search_climbs_a_known_optimum() -> None:
    """The compass search keeps the offsets' mean at zero, stays within the bound and reaches
    the optimum of a smooth function of the centred offsets."""
    target = np.array([4.0, -2.0, -3.0, 1.0])

    def objective(gains):  # noqa: ANN001, ANN202
        offsets = np.array([gains[n] for n in STEMS])
        offsets = offsets - offsets.mean()
        value = float(-np.sum((offsets - target) ** 2))
        return value, value, value

    result = search_gains(objective, {n: 0.0 for n in STEMS}, bound=BOUND_DB, max_evaluations=200,
                          min_step=0.2)
    found = np.array([result.gains[n] for n in STEMS])
    assert abs(found.mean()) < 1e-9 and np.max(np.abs(found)) <= BOUND_DB
    assert np.max(np.abs(found - target)) < 0.5
    assert result.haaqi[2] > result.start_haaqi[2]


def test_gain_predictor_bounded_centred_and_small() -> None:
    torch.manual_seed(0)
    model = GainPredictor()
    assert PARAMETERS == sum(p.numel() for p in model.parameters()) and PARAMETERS < 10_000
    audiograms = torch.rand(5, 2, 8) * 100
    requested = torch.tensor([[10.0, 0, 0, -6]] * 5)
    with torch.no_grad():
        model.head[-1].bias.fill_(50.0)  # saturate: offsets hit the bound
        gains = model(audiograms, requested)
    offsets = gains - requested
    assert torch.all(offsets.abs() <= BOUND_DB + 1e-5)
    assert torch.allclose(offsets.mean(dim=1), torch.zeros(5), atol=1e-5)
    with torch.no_grad():
        model.head[-1].weight.zero_()
        model.head[-1].bias.zero_()
        assert torch.allclose(model(audiograms, requested), requested)


def _remix_manifest(folder: Path, song) -> Path:
    stems, mixture = song
    for name, audio in {**stems, "mixture": mixture}.items():
        sf.write(folder / f"{name}.wav", audio[:44100].astype(np.float32), 44100, subtype="FLOAT")
    listeners = make_listeners(2, 3)
    (folder / "listeners.json").write_text(json.dumps(
        {lis.id: {"name": lis.id, "audiogram_cfs": list(lis.left.frequencies),
                  "audiogram_levels_l": list(lis.left.levels),
                  "audiogram_levels_r": list(lis.right.levels)} for lis in listeners}))
    with (folder / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "audio", *STEMS, "listener", "gain_vocals"])
        for lis in listeners:
            writer.writerow([f"song_{lis.id}", "mixture.wav", *(f"{s}.wav" for s in STEMS), lis.id, "6"])
    return folder / "manifest.csv"


def test_remix_gains_predictor_writes_its_gains(song, tmp_path: Path) -> None:
    """``hltk remix --separator leaky-oracle --gains predictor --gains-checkpoint CKPT``: the
    gains it chose go to predicted_gain_<stem> columns, the requested ones stay; the audio is
    the chain with those gains on the seeded leaky estimates."""
    from typer.testing import CliRunner

    from hltk.nn.checkpoint import save_checkpoint
    from hltk.runner.settings import item_seed
    from hltk_cli.app import app

    manifest = _remix_manifest(tmp_path, song)
    torch.manual_seed(1)
    model = GainPredictor()
    checkpoint = tmp_path / "gains.pt"
    save_checkpoint(checkpoint, MODEL_KIND, {"channels": 16, "hidden": 32, "bound_db": BOUND_DB},
                    model.state_dict(), {})
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["remix", str(manifest), "-o", str(out), "--separator",
                                      "leaky-oracle", "--leak-db", "12", "--gains", "predictor",
                                      "--gains-checkpoint", str(checkpoint), "-q"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 2 and rows[0]["gain_vocals"] == "6"
    predicted = [{s: float(r[f"predicted_gain_{s}"]) for s in STEMS} for r in rows]
    assert predicted[0] != {"vocals": 6.0, "drums": 0.0, "bass": 0.0, "other": 0.0}
    stems, mixture = song
    true = {k: v[:44100].astype(np.float32).astype(np.float64) for k, v in stems.items()}
    mixture = mixture[:44100].astype(np.float32).astype(np.float64)
    listener = make_listeners(2, 3)[0]
    estimated = leaky_stems(true, 12.0, item_seed(0, rows[0]["id"]))
    expected = pcm16_round_trip(remix_for_listener(estimated, mixture, predicted[0], listener))
    written, _ = read_audio(out / "audio" / f"{rows[0]['id']}.flac")
    assert np.max(np.abs(written.numpy().T - expected)) <= 1 / 32768 + 1e-12


def test_finetune_decoder_changes_only_the_decoder() -> None:
    """One optimizer step after freeze_encoder on random weights: every decoder parameter may
    move, no other parameter does (and some decoder parameter does)."""
    torch.manual_seed(0)
    model = HDemucs(SMALL)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainable = freeze_encoder(model)
    optimizer = torch.optim.Adam(trainable, lr=1e-2)
    mixture = 0.1 * torch.randn(1, 2, 4096)
    loss = model(mixture).pow(2).mean()
    loss.backward()
    optimizer.step()
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all(name.startswith(DECODER_PREFIXES) for name in changed)
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and not any(name.startswith(DECODER_PREFIXES) for name in frozen)


def test_train_remix_gains_refuses_hdemucs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hltk_cli.app import app

    result = CliRunner().invoke(app, ["train", "remix-gains", "--data", str(tmp_path), "-o",
                                      str(tmp_path / "g.pt"), "--separator", "hdemucs",
                                      "--finetune-decoder", "-q"])
    assert result.exit_code == 2 and "torch HAAQI" in result.output


@pytest.mark.slow
def test_train_remix_gains_quick_and_resumable(tmp_path: Path) -> None:
    """``hltk train remix-gains --quick`` on a small synthetic corpus writes a checkpoint the
    remix command loads, with the exact validation HAAQI per ear in its history; run again it
    resumes (no new search, no new steps)."""
    from typer.testing import CliRunner

    from hltk.remix.gain_predictor import load_predictor
    from hltk_cli.app import app

    if not signals.has_fluidsynth():
        pytest.skip("fluidsynth or the GM soundfont not installed")
    corpus = tmp_path / "music"
    runner = CliRunner()
    made = runner.invoke(app, ["synth", "music", "--out", str(corpus), "--n", "12", "--seconds", "1",
                               "--seed", "3", "-q"])
    assert made.exit_code == 0, made.output
    checkpoint = tmp_path / "gains.pt"
    command = ["train", "remix-gains", "--data", str(corpus), "-o", str(checkpoint), "--quick", "-q"]
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    model, content = load_predictor(checkpoint)
    history = content["training"]["history"]
    valid = [h for h in history if "valid_haaqi_left" in h]
    assert valid and all(0.0 <= h["valid_haaqi_right"] <= 1.0 for h in valid)
    optima = (tmp_path / "optima.jsonl").read_text().splitlines()
    second = runner.invoke(app, command)
    assert second.exit_code == 0, second.output
    assert (tmp_path / "optima.jsonl").read_text().splitlines() == optima
    assert load_predictor(checkpoint)[1]["training"]["steps"] == content["training"]["steps"]
