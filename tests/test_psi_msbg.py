"""psi-msbg: TorchMsbg's supra-threshold overrides, the population, the psi network, the
Bayesian-optimisation fit and the commands (hltk.simulate.psi_msbg, hltk.train.psi*)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.nn.checkpoint import save_checkpoint
from hltk.simulate.psi_msbg import LogMel, PsiMsbg, PsiMsbgConfig, PsiMsbgNet
from hltk.simulate.torch_msbg import Suprathreshold, TorchMsbg
from hltk.train.psi import draw_population, fraction_explained
from hltk.train.psi_fit import fit_psi, psi_objective, reference_optimum, within
from hltk_cli.app import app

RATE = 44100


def _noise(items: int, seconds: float = 0.25, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.05 * torch.randn(items, 1, int(seconds * RATE), generator=generator)


def _band_energy_db(audio: torch.Tensor, low: float, high: float) -> float:
    spectrum = torch.fft.rfft(audio.double(), dim=-1).abs().square()
    frequencies = torch.fft.rfftfreq(audio.shape[-1], 1 / RATE)
    band = (frequencies >= low) & (frequencies < high)
    return float(10 * torch.log10(spectrum[..., band].sum()))


@pytest.mark.parametrize("compiled", [None, False])
def test_suprathreshold_default_is_msbg(compiled: bool | None) -> None:
    audio = _noise(2, seconds=0.1)
    listeners = ListenerBatch((standard_listener("NH"), standard_listener("N3")), ("left",))
    msbg = TorchMsbg(compiled=compiled)
    plain = msbg(audio, listeners)
    assert torch.equal(plain, msbg(audio, listeners, suprathreshold=None))
    assert torch.equal(plain, msbg(audio, listeners, suprathreshold=[None, None]))
    assert torch.equal(plain, msbg(audio, listeners, suprathreshold=[Suprathreshold()] * 2))
    changed = msbg(audio, listeners, suprathreshold=[None, Suprathreshold(smear_scale=2.0)])
    assert torch.equal(changed[0], plain[0])  # the other item is untouched
    assert not torch.allclose(changed[1], plain[1])


def test_suprathreshold_paths_agree_and_act() -> None:
    audio = _noise(3, seed=1)
    listener = standard_listener("N2")
    listeners = ListenerBatch((listener,) * 3, ("left",))
    profiles = [Suprathreshold(smear_scale=1.8), Suprathreshold(recruitment_scale=2.0),
                Suprathreshold(dead_above_hz=2500.0)]
    compiled = TorchMsbg(compiled=True)(audio, listeners, suprathreshold=profiles)
    recursion = TorchMsbg(compiled=False)(audio, listeners, suprathreshold=profiles)
    assert float((compiled - recursion).abs().max()) < 1e-4 * float(recursion.abs().max())
    plain = TorchMsbg()(audio, listeners)
    # a dead region above 2.5 kHz: far less output above it, the same below 1 kHz
    assert _band_energy_db(compiled[2], 4000, 8000) < _band_energy_db(plain[2], 4000, 8000) - 20
    assert abs(_band_energy_db(compiled[2], 200, 1000) - _band_energy_db(plain[2], 200, 1000)) < 1
    # steeper recruitment: a soft input comes out softer
    assert _band_energy_db(compiled[1], 100, 8000) < _band_energy_db(plain[1], 100, 8000) - 0.5
    with pytest.raises(ValueError, match="positive"):
        Suprathreshold(smear_scale=-1.0)


def _listeners_json(path: Path) -> Path:
    content = {}
    for index, name in enumerate(["NH", "N1", "N2", "N3", "S1", "S2"]):
        listener = standard_listener(name)
        entry = listener.to_clarity_dict()
        content[f"L{index}"] = {**entry, "name": f"L{index}"}
    path.write_text(json.dumps(content))
    return path


def test_population_has_same_audiogram_pairs_in_every_split(tmp_path: Path) -> None:
    population = draw_population(_listeners_json(tmp_path / "l.json"), train_audiograms=2,
                                 unseen_audiograms=2, seed=3)
    assert len(population) == 8
    for split in ("train", "unseen"):
        members = [i for i in population if i.split == split]
        assert {i.group for i in members} == {"near-normal", "impaired"}
        for a, b in zip(members[::2], members[1::2], strict=True):
            assert a.audiogram == b.audiogram and a.hidden != b.hidden
    again = draw_population(tmp_path / "l.json", train_audiograms=2, unseen_audiograms=2, seed=3)
    assert again == population


def _model(n_psi: int = 2, individuals: int = 4) -> PsiMsbgNet:
    torch.manual_seed(0)
    model = PsiMsbgNet(PsiMsbgConfig(n_psi=n_psi, individuals=tuple(f"i{k}" for k in range(individuals)),
                                     channels=8))
    with torch.no_grad():  # a psi that matters: linear PReLUs, the condition's path enlarged
        for layer in model.conditioning.expansion:  # type: ignore[union-attr]
            layer[0].weight.mul_(4.0)
            layer[1].weight.fill_(1.0)
        for layer in [*model.combine, model.decoder[0]]:
            layer[1].weight.fill_(1.0)
        model.combine[0][0].weight[:, 8:].mul_(10.0)
        model.decoder[1].weight.mul_(10.0)
    return model.eval()


def test_psi_network_and_kl() -> None:
    model = _model()
    assert model.conditioning is not None
    logmel = torch.rand(3, 40, 20) * 60
    psi = torch.rand(3, 2)
    out = model(logmel, psi)
    assert out.shape == logmel.shape
    assert not torch.allclose(out, model(logmel, torch.rand(3, 2)))
    with torch.no_grad():
        model.conditioning.mean.zero_()
        model.conditioning.log_variance.fill_(float(np.log(1 / 4)))
    assert float(model.conditioning.kl(torch.arange(4)).detach()) == pytest.approx(0.0, abs=1e-6)
    assert fraction_explained(out, out, torch.zeros_like(out)) == 1.0


def _planted(model: PsiMsbgNet) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    inputs = torch.rand(4, 40, 30, generator=generator) * 60
    planted = torch.tensor([0.8, 0.25])
    with torch.no_grad():
        targets = model(inputs, planted[None].expand(4, -1)) + 0.5 * torch.randn(
            4, 40, 30, generator=generator)
    return inputs, targets, planted


def test_fit_psi_stops_at_the_target_or_max_iter() -> None:
    model = _model()
    inputs, targets, planted = _planted(model)
    objective = psi_objective(model, inputs, targets)
    result = fit_psi(objective, 2, init_points=4, max_iter=8, target=None, seed=0)
    assert len(result.losses) == 8 and result.iterations_to_target is None
    assert all(0.0 <= v <= 1.0 for point in result.points for v in point)
    assert result.loss == min(result.losses) and result.best_trace[-1] == result.loss
    # Sobol initial points: spread over the cube, the same for the same seed
    assert result.points[:4] == fit_psi(objective, 2, init_points=4, max_iter=4, seed=0).points
    assert min(np.ptp(np.asarray(result.points[:4]), axis=0)) > 0.3
    easy = fit_psi(objective, 2, init_points=4, max_iter=8, target=result.losses[1], seed=0)
    assert easy.iterations_to_target is not None and easy.iterations_to_target <= 2
    assert len(easy.losses) == easy.iterations_to_target  # it stopped there


def test_fit_psi_domain_reduction_and_bounds() -> None:
    """Domain reduction shrinks the box around the best point after the Sobol points; without
    it the box stays whole; given bounds hold every point."""
    model = _model()
    inputs, targets, _ = _planted(model)
    objective = psi_objective(model, inputs, targets)
    reduced = fit_psi(objective, 2, init_points=4, max_iter=12, seed=0)
    whole = fit_psi(objective, 2, init_points=4, max_iter=12, seed=0, domain_reduction=False)
    assert whole.extra["final_bounds"] == [[0.0, 0.0], [1.0, 1.0]]
    low, high = np.asarray(reduced.extra["final_bounds"])
    assert np.all(high - low < 0.9) and np.all(low <= reduced.psi) and np.all(reduced.psi <= high)
    assert reduced.points[:4] == whole.points[:4]  # the same Sobol start
    boxed = fit_psi(objective, 2, init_points=4, max_iter=8, seed=0, bounds=([0.2, 0.4], [0.5, 0.9]))
    assert all(0.2 <= a <= 0.5 and 0.4 <= b <= 0.9 for a, b in boxed.points)


@pytest.mark.slow
def test_fit_psi_reaches_the_planted_profile() -> None:
    model = _model()
    inputs, targets, planted = _planted(model)
    objective = psi_objective(model, inputs, targets)
    _, optimum = reference_optimum(objective, 2, candidates=64, steps=40)
    result = fit_psi(objective, 2, init_points=4, max_iter=30, target=optimum, seed=0)
    assert result.iterations_to_target is not None and result.iterations_to_target <= 30
    assert result.loss <= optimum * 1.02
    assert within(result.losses, optimum) == result.iterations_to_target
    with torch.no_grad():
        at_planted = float(objective(planted[None])[0])
        far = float(objective(1 - planted[None])[0])
    assert optimum <= at_planted * 1.01 and at_planted * 2 < far  # planted ~ the optimum
    assert result.loss < far
    assert float(np.abs(np.asarray(result.psi) - planted.numpy()).max()) < 0.15


def test_fit_listener_and_simulate_commands(tmp_path: Path) -> None:
    model = _model(n_psi=2)
    checkpoint = tmp_path / "psi.pt"
    save_checkpoint(checkpoint, "psi-msbg", model.config.to_dict(), model.state_dict(), {})
    rng = np.random.default_rng(0)
    rows = ["audio,listener,hl_500,hl_2000,hl_4000,smear_scale,recruitment_scale,dead_above_hz"]
    for index in range(2):
        sf.write(tmp_path / f"s{index}.wav", (0.03 * rng.standard_normal(8000)).astype(np.float32),
                 16000)
        rows.append(f"s{index}.wav,newcomer,20,40,50,1.5,,3000")
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    profile = tmp_path / "profile.json"
    result = CliRunner().invoke(app, ["fit-listener", str(tmp_path / "pairs.csv"), "-o",
                                      str(profile), "--checkpoint", str(checkpoint),
                                      "--init-points", "4", "--max-iter", "6", "--target", "none",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    entry = json.loads(profile.read_text())["newcomer"]
    assert len(entry["psi"]) == 2 and len(entry["psi_fit"]["losses"]) == 6
    assert entry["psi_fit"]["domain_reduction"] and entry["psi_fit"]["search"] == "cube"
    assert entry["audiogram_levels_l"] == [20, 40, 50]
    assert entry["psi_fit"]["hidden"]["recruitment_scale"] is None
    # the profile drives the backend: another psi gives another output
    backend = PsiMsbg(checkpoint=checkpoint, profiles=profile)
    listener = ListenerBatch((standard_listener("N2"),), ("left",))
    audio = torch.as_tensor(sf.read(tmp_path / "s0.wav")[0], dtype=torch.float32)[None, None]
    renamed = ListenerBatch((type(listener.listeners[0])("newcomer", listener.listeners[0].left,
                                                         listener.listeners[0].right),), ("left",))
    out = backend(audio, renamed)
    assert out.shape == audio.shape and torch.isfinite(out).all()
    backend.profiles["newcomer"] = {"psi": [1 - v for v in entry["psi"]]}
    assert not torch.allclose(out, backend(audio, renamed))
    with pytest.raises(ValueError, match="no psi"):
        PsiMsbg(checkpoint=checkpoint, profiles=profile, unfitted="error")(audio, listener)
    # by default an unfitted listener is the population's average listener (mean psi)
    backend.profiles["average"] = {"psi": backend.mean_psi}
    averaged = ListenerBatch((type(listener.listeners[0])("average", listener.listeners[0].left,
                                                          listener.listeners[0].right),), ("left",))
    assert torch.equal(backend(audio, listener), backend(audio, averaged))
    assert not torch.allclose(backend(audio, listener), out)
    # the log-mel of the resynthesis with no change is the input's
    logmel = LogMel()
    with torch.no_grad():
        backend.model.decoder[1].weight.zero_()
        backend.model.decoder[1].bias.zero_()
    same = backend(audio, renamed)
    assert torch.allclose(logmel(same[0]), logmel(audio[0]), atol=1e-2)
    # the profile file alone, as --listeners: `hltk simulate` finds the psi in the listener
    (tmp_path / "items.csv").write_text("id,audio,listener\nitem0,s0.wav,newcomer\n")
    runs = {}
    for name, extra in (("listeners", []), ("both", ["--profiles", str(profile)])):
        result = CliRunner().invoke(app, [
            "simulate", str(tmp_path / "items.csv"), "-o", str(tmp_path / name), "--backend",
            "psi-msbg", "--checkpoint", str(checkpoint), "--listeners", str(profile),
            "--unfitted", "error", *extra, "-q"])
        assert result.exit_code == 0, result.output
        runs[name] = sf.read(tmp_path / name / "audio" / "item0.wav")[0]
        # the run's listeners.json keeps the profile
        written = json.loads((tmp_path / name / "listeners.json").read_text())
        assert written["newcomer"]["psi"] == entry["psi"]
    assert np.array_equal(runs["listeners"], runs["both"])


def test_listener_extras_carry_a_profile_and_a_foreign_one_is_refused(tmp_path: Path) -> None:
    from hltk.io.listeners import load_listeners, save_listeners

    model = _model(n_psi=2)
    checkpoint = tmp_path / "psi.pt"
    save_checkpoint(checkpoint, "psi-msbg", model.config.to_dict(), model.state_dict(), {})
    backend = PsiMsbg(checkpoint=checkpoint, unfitted="error")
    base = standard_listener("N3")
    entry = {**base.to_clarity_dict(), "name": "x", "psi": [0.2, 0.9],
             "psi_checkpoint": "psi.pt", "psi_checkpoint_sha256": backend.checkpoint_sha256}
    (tmp_path / "p.json").write_text(json.dumps({"x": entry}))
    listener = load_listeners(tmp_path / "p.json")["x"]
    assert listener.extras["psi"] == [0.2, 0.9] and listener == type(base)("x", base.left, base.right)
    assert backend.psi_of(listener) == [0.2, 0.9]
    save_listeners([listener], tmp_path / "again.json")  # extras survive a round trip
    assert json.loads((tmp_path / "again.json").read_text())["x"] == entry
    audio = 0.03 * torch.randn(1, 1, 8000, generator=torch.Generator().manual_seed(1))
    other = type(base)("x", base.left, base.right, {**entry, "psi": [0.9, 0.2]})
    assert not torch.allclose(backend(audio, ListenerBatch((listener,), ("left",))),
                              backend(audio, ListenerBatch((other,), ("left",))))
    foreign = type(base)("x", base.left, base.right, {**entry, "psi_checkpoint_sha256": "0" * 64})
    with pytest.raises(ValueError, match="fitted with psi.pt"):
        backend.psi_of(foreign)
    with pytest.raises(ValueError, match="no psi"):
        backend.psi_of(base)


@pytest.mark.slow
def test_train_psi_msbg_quick_and_resume(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    audio = tmp_path / "audio"
    audio.mkdir()
    for index in range(16):
        sf.write(audio / f"s{index:02d}.wav", (0.05 * rng.standard_normal(26000)).astype(np.float32),
                 16000)
    listeners = _listeners_json(tmp_path / "listeners.json")
    out = tmp_path / "psi.pt"
    arguments = ["train", "psi-msbg", "--data", str(audio), "--listeners", str(listeners), "-o",
                 str(out), "--n-psi", "3", "--quick", "--threads", "1", "-q"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    from hltk.simulate.psi_msbg import load_model

    model = load_model(out)
    assert model.config.n_psi == 3 and len(model.config.individuals) == 4
    again = CliRunner().invoke(app, arguments)  # finished: resumes at the end, trains nothing
    assert again.exit_code == 0 and torch.equal(load_model(out).conditioning.mean,  # type: ignore[union-attr]
                                                model.conditioning.mean)  # type: ignore[union-attr]


def test_manifest_splits_give_each_segment_split_its_own_files(tmp_path: Path) -> None:
    """A manifest with train / valid / test rows: train, fit and test segments come from those
    rows only (a corpus's split keeps talkers and prompts apart), whatever the file order."""
    from hltk.pipelines.psi import audio_files
    from hltk.train.psi import build_population

    rng = np.random.default_rng(1)
    audio = tmp_path / "audio"
    audio.mkdir()
    # rows interleaved, so file order alone would mix the splits
    splits = ["test", "valid", "train"] * 4
    rows = []
    for index, split in enumerate(splits):
        name = f"audio/s{index:02d}.wav"
        sf.write(tmp_path / name, (0.05 * rng.standard_normal(26000)).astype(np.float32), 16000)
        rows.append(f"s{index:02d},{name},{split}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("id,audio,split\n" + "\n".join(rows) + "\n")
    files = audio_files(manifest)
    assert isinstance(files, dict) and set(files) == {"train", "fit", "test"}
    data, _ = build_population(_listeners_json(tmp_path / "l.json"), files, tmp_path / "cache",
                               train_audiograms=1, unseen_audiograms=1, segments=(3, 2, 2))
    expected = {"train": "train", "fit": "valid", "test": "test"}
    by_name = {f"audio/s{i:02d}.wav": s for i, s in enumerate(splits)}
    for source, segment_split in zip(data.sources, data.segment_split, strict=True):
        assert by_name[str(Path(source).relative_to(tmp_path))] == expected[segment_split]
    assert data.segment_split.count("fit") == 2
    # the same segments again from the stored sources and levels (recipes/psi/make_pairs.py)
    from hltk.train.psi import speech_segments

    waveforms, sources, levels = speech_segments(data.sources, len(data.sources),
                                                 levels=data.levels.tolist())
    assert sources == data.sources and torch.allclose(levels, data.levels)
    assert torch.allclose(LogMel()(waveforms), data.inputs, atol=1e-4)
    # a manifest with only train rows: file order, as before
    manifest.write_text("id,audio,split\n" + "\n".join(r for r in rows if r.endswith("train")))
    assert isinstance(audio_files(manifest), list)
