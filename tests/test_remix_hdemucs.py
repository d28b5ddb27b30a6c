"""The Hybrid Demucs separator: weights format, checkpoint round trip, segment-wise inference.

Most tests use a small configuration (:data:`SMALL`: 4 channels, nfft 256, depth 4, at 8 kHz)
that still has every kind of layer of ``hdemucs_high`` (spectral layers, the last spectral
layer merged with the waveform branch, a time-only layer, GroupNorm, the BiLSTM with its
200-frame windows and the local attention), so they run in seconds on a CPU.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from hltk.remix.chain import MODEL_SAMPLE_RATE, STEMS
from hltk.remix.hdemucs import (
    HDEMUCS_HIGH,
    CheckpointError,
    HDemucs,
    HDemucsConfig,
    load_hdemucs,
    save_hdemucs,
)
from hltk.remix.separators import (
    MISSING_CHECKPOINT,
    HDemucsSeparator,
    mono_statistics,
    segment_starts,
    segment_weights,
    separate_in_segments,
)
from tests.helpers import write_manifest_csv

DATA = Path(__file__).parent / "data"
SMALL = HDemucsConfig(channels=4, nfft=256, depth=4, norm_starts=2, dconv_lstm=2, dconv_attn=2,
                      sample_rate=8000)


def small_model(seed: int = 0) -> HDemucs:
    """A random :data:`SMALL` model whose residual branches matter (layer scales raised from
    their 1e-4 start, so the BiLSTM and attention change the output)."""
    torch.manual_seed(seed)
    model = HDemucs(SMALL).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(".scale"):
                parameter.fill_(0.5)
    return model


def noise(channels: int, length: int, seed: int = 1) -> torch.Tensor:
    return 0.1 * torch.randn(channels, length, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------------- the weights


def test_hdemucs_high_state_dict_matches_the_checkpoint_keys() -> None:
    """Every key and shape of ``hdemucs_high`` equals the committed list (checked, when it was
    made, against torchaudio's model of the HDEMUCS_HIGH_MUSDB weights), so those weights
    load with ``strict=True``."""
    expected = json.loads((DATA / "hdemucs_high_keys.json").read_text())
    state = HDemucs(HDEMUCS_HIGH).state_dict()
    assert {key: list(value.shape) for key, value in state.items()} == expected["keys"]
    assert sum(value.numel() for value in state.values()) == expected["parameters"]
    # a few shapes that follow from the configuration: 2 audio channels x (real, imag) in,
    # 48 channels, kernel (8, 1); 4 sources x 2 channels x 2 out; 512 frequency rows after
    # the first stride-4 layer of 2048; the merged bottleneck at 48 * 2**4 = 768 channels
    known = {
        "freq_encoder.0.conv.weight": [48, 4, 8, 1],
        "time_encoder.0.conv.weight": [48, 2, 8],
        "freq_emb.embedding.weight": [512, 48],
        "freq_decoder.5.conv_tr.weight": [48, 16, 8, 1],
        "time_decoder.4.conv_tr.weight": [48, 8, 8],
        "freq_encoder.4.conv.weight": [768, 384, 8, 1],
        "time_encoder.4.conv.weight": [768, 384, 8],
        "freq_encoder.5.conv.weight": [1536, 768, 4],
        "freq_decoder.1.rewrite.weight": [1536, 768, 3, 3],
        "freq_encoder.4.dconv.layers.0.3.lstm.weight_ih_l0": [768, 192],
        "freq_encoder.5.dconv.layers.1.4.query_decay.weight": [16, 384, 1],
        "freq_encoder.5.dconv.layers.1.8.scale": [1536],
    }
    for key, shape in known.items():
        assert list(state[key].shape) == shape, key
    # GroupNorm only from layer 4: no norm weights before it (Identity), and the empty
    # waveform layer keeps its (unused) norm1, as the checkpoint does
    assert "freq_encoder.3.norm1.weight" not in state
    assert list(state["time_encoder.4.norm1.weight"].shape) == [768]


def _torchaudio_hdemucs_source() -> Path | None:
    """torchaudio's ``models/_hdemucs.py`` if installed (found without importing torchaudio,
    which fails to import next to a CPU-only torch)."""
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "_hdemucs.py"
    return path if path.is_file() else None


@pytest.mark.skipif(_torchaudio_hdemucs_source() is None, reason="torchaudio's HDemucs source not installed")
def test_same_outputs_as_torchaudio_hdemucs_on_its_weights() -> None:
    """Cross-check with torchaudio's implementation (its one source file loaded alone; it
    imports only torch): its random weights load strictly into hltk's model and give the
    same output (float32 reordering only)."""
    source = _torchaudio_hdemucs_source()
    spec = importlib.util.spec_from_file_location("torchaudio_hdemucs_reference", source)
    assert spec is not None and spec.loader is not None
    reference_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference_module)
    torch.manual_seed(0)
    fields = {f: getattr(SMALL, f) for f in ("channels", "nfft", "depth", "norm_starts",
                                             "dconv_lstm", "dconv_attn")}
    reference = reference_module.HDemucs(list(SMALL.sources), **fields).eval()
    ours = HDemucs(SMALL).eval()
    with torch.no_grad():
        for name, parameter in reference.named_parameters():
            if name.endswith(".scale"):
                parameter.fill_(0.5)
    ours.load_state_dict(reference.state_dict(), strict=True)
    mixture = noise(2, 4 * SMALL.sample_rate).unsqueeze(0)  # 500 frames: BiLSTM in windows
    with torch.no_grad():
        expected, produced = reference(mixture), ours(mixture)
    assert torch.max(torch.abs(produced - expected)) < 1e-5 * torch.max(torch.abs(expected))


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = small_model()
    path = tmp_path / "small.pt"
    save_hdemucs(model, path)
    assert isinstance(torch.load(path, weights_only=True), dict)  # a plain state dict
    loaded = load_hdemucs(path, SMALL)
    mixture = noise(2, SMALL.sample_rate).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(loaded(mixture), model(mixture))
    # a training checkpoint that wraps the state dict loads too
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "wrapped.pt")
    with torch.no_grad():
        assert torch.equal(load_hdemucs(tmp_path / "wrapped.pt", SMALL)(mixture), model(mixture))


def test_checkpoint_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "small.pt"
    save_hdemucs(small_model(), path)
    with pytest.raises(CheckpointError, match="does not fit.*(missing|wrong shape)"):
        load_hdemucs(path, HDEMUCS_HIGH)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_hdemucs(tmp_path / "text.pt", SMALL)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_hdemucs(tmp_path / "absent.pt", SMALL)


def test_model_output_shape_for_odd_lengths() -> None:
    model = small_model()
    for length in (1000, 1001, 3333):
        with torch.no_grad():
            separated = model(noise(2, length).unsqueeze(0))
        assert separated.shape == (1, 4, 2, length)
        assert torch.isfinite(separated).all()


# ----------------------------------------------------------------------- segment-wise inference


@pytest.mark.parametrize("length", [500, 4400, 4401, 7999, 8000, 12345])
def test_segments_cover_the_signal_and_weights_sum_to_one(length: int) -> None:
    segment, overlap = 4400, 400
    starts = segment_starts(length, segment, overlap)
    weights = segment_weights(starts, segment, overlap, length)
    total = torch.zeros(length, dtype=torch.float64)
    covering = torch.zeros(length)
    width = min(segment, length)
    for start, weight in zip(starts, weights, strict=True):
        total[start:start + width] += weight[:width]
        covering[start:start + width] += (weight[:width] > 0).float()
    assert starts[0] == 0 and starts[-1] + width == length
    torch.testing.assert_close(total, torch.ones(length, dtype=torch.float64), rtol=0, atol=1e-12)
    assert covering.max() <= 2  # never more than two segments mixed
    assert (weights >= 0).all()


def _pointwise_model(pieces: torch.Tensor) -> torch.Tensor:
    """A stand-in separator without memory: source ``s`` is ``(s + 1) / 10`` of the input
    plus a per-channel offset."""
    offsets = torch.tensor([0.0, 0.01]).view(1, 1, 2, 1)
    return torch.stack([pieces * (s + 1) / 10 for s in range(4)], dim=1) + offsets


def test_segment_wise_equals_whole_signal_for_a_memoryless_model() -> None:
    mixture = noise(2, 12345)
    segmented = separate_in_segments(_pointwise_model, mixture, 4400, 400, sources=4, batch=3)
    whole = _pointwise_model(mixture.unsqueeze(0))[0]
    torch.testing.assert_close(segmented, whole, rtol=0, atol=1e-6)


def test_segment_wise_equals_whole_signal_in_the_interior() -> None:
    """A time-local stand-in (a 9-tap FIR per channel: 4 samples of context each side) run in
    segments equals the whole-signal run within 1e-4 everywhere except within 4 samples of
    an inner segment edge, where a segment lacks the context the whole signal has."""
    torch.manual_seed(0)
    fir = torch.nn.Conv1d(2, 2, 9, padding=4, groups=2).eval()

    def local_model(pieces: torch.Tensor) -> torch.Tensor:
        filtered = fir(pieces)
        return torch.stack([filtered * (s + 1) for s in range(4)], dim=1)

    length, segment, overlap, context = 20000, 4400, 400, 4
    mixture = noise(2, length)
    with torch.no_grad():
        segmented = separate_in_segments(local_model, mixture, segment, overlap, sources=4)
        whole = local_model(mixture.unsqueeze(0))[0]
    starts = segment_starts(length, segment, overlap)
    interior = torch.ones(length, dtype=torch.bool)
    for start in starts[1:]:
        interior[start:start + context] = False
    for start in starts[:-1]:
        interior[start + segment - context:start + segment] = False
    assert interior.float().mean() > 0.99
    assert torch.max(torch.abs(segmented - whole)[..., interior]) < 1e-4
    # ...and at the edges only the faded-down part differs
    assert torch.max(torch.abs(segmented - whole)) < 0.1 * torch.max(torch.abs(whole))


def test_batched_segments_equal_one_by_one() -> None:
    model = small_model()
    mixture = noise(2, 3 * SMALL.sample_rate)
    one = separate_in_segments(model, mixture, 4400, 800, sources=4, batch=1)
    together = separate_in_segments(model, mixture, 4400, 800, sources=4, batch=8)
    torch.testing.assert_close(together, one, rtol=0, atol=1e-5)


# -------------------------------------------------------------------------------- the separator


@pytest.fixture()
def small_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "small.pt"
    save_hdemucs(small_model(), path)
    return path


def test_separator_standardises_by_the_mono_mix(small_checkpoint: Path) -> None:
    """Recipe (``decompose_signal``): ``ref = mixture.mean(channels)``; the model sees
    ``(mixture - ref.mean()) / ref.std()`` and every source is scaled back."""
    separator = HDemucsSeparator(small_checkpoint, config=SMALL, segment_seconds=0.5)
    assert (separator.segment, separator.overlap_samples) == (4400, 800)
    mixture = 3.0 * noise(2, 12000) + 0.2
    stems = separator(mixture, sample_rate=SMALL.sample_rate)
    assert list(stems) == list(STEMS) and stems["vocals"].shape == (12000, 2)
    mono = mixture.double().mean(0).numpy()
    mean, std = mono_statistics(mixture)
    assert (mean, std) == pytest.approx((mono.mean(), mono.std()), rel=1e-12)
    model = load_hdemucs(small_checkpoint, SMALL)
    expected = separate_in_segments(model, (mixture - mean) / std, 4400, 800, sources=4) * std + mean
    for index, name in enumerate(SMALL.sources):
        np.testing.assert_allclose(stems[name], expected[index].double().numpy().T, atol=1e-5)
    # a signal shorter than a segment is one plain model call
    short = mixture[:, :3000]
    mean, std = mono_statistics(short)
    with torch.no_grad():
        direct = model(((short - mean) / std).unsqueeze(0))[0] * std + mean
    torch.testing.assert_close(separator.separate(short, SMALL.sample_rate), direct, rtol=0, atol=1e-5)
    # scale: a mixture 10x louder gives stems 10x louder (standardisation is undone)
    louder = separator.separate(10 * mixture, SMALL.sample_rate)
    torch.testing.assert_close(louder, 10 * separator.separate(mixture, SMALL.sample_rate),
                               rtol=1e-4, atol=1e-4)


def test_separator_resamples_in_and_out(small_checkpoint: Path) -> None:
    separator = HDemucsSeparator(small_checkpoint, config=SMALL, segment_seconds=0.5)
    mixture = noise(2, 16000)  # 1 s at 16 kHz; the model runs at 8 kHz
    separated = separator.separate(mixture, sample_rate=16000)
    assert separated.shape == (4, 2, 16000)
    assert torch.isfinite(separated).all()
    silent = separator.separate(torch.zeros(2, 5000), SMALL.sample_rate)
    assert not silent.any()


def test_separator_without_checkpoint_says_where_to_get_it() -> None:
    with pytest.raises(ValueError, match="hdemucs_high_musdbhq_only.pt"):
        HDemucsSeparator(None)
    assert "download.pytorch.org/torchaudio/models/hdemucs_high_musdbhq_only.pt" in MISSING_CHECKPOINT


# --------------------------------------------------------------------------------- the command


def _mixture_manifest(folder: Path, seconds: float = 2.0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    time = np.arange(int(seconds * MODEL_SAMPLE_RATE)) / MODEL_SAMPLE_RATE
    tone = 0.2 * np.sin(2 * np.pi * 220 * time)[:, None] * np.ones((1, 2))
    sf.write(folder / "mixture.wav", tone + 0.02 * rng.standard_normal(tone.shape),
             MODEL_SAMPLE_RATE, subtype="FLOAT")
    return write_manifest_csv(folder / "manifest.csv", [
        {"id": "i1", "audio": "mixture.wav", "listener": "N2", "gain_vocals": "6"}])


def test_cli_hdemucs_without_checkpoint_is_a_usage_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hltk_cli.app import app

    manifest = _mixture_manifest(tmp_path / "corpus", seconds=0.5)
    result = CliRunner().invoke(app, ["remix", str(manifest), "-o", str(tmp_path / "out"),
                                      "--separator", "hdemucs", "-q"])
    assert result.exit_code == 2, result.output
    assert "--checkpoint" in result.output and "hdemucs_high_musdbhq_only.pt" in result.output
    # weights of another configuration: also refused before any work
    save_hdemucs(small_model(), tmp_path / "small.pt")
    result = CliRunner().invoke(app, ["remix", str(manifest), "-o", str(tmp_path / "out"),
                                      "--separator", "hdemucs", "--checkpoint",
                                      str(tmp_path / "small.pt"), "-q"])
    assert result.exit_code == 2, result.output
    assert "does not fit" in result.output
    assert not (tmp_path / "out" / "audio").exists()


def test_cli_remix_with_hdemucs_high_checkpoint(tmp_path: Path) -> None:
    """End to end with random ``hdemucs_high`` weights in the checkpoint format (the compute
    of the real weights; the stems are meaningless). About 5 s on one CPU thread."""
    from typer.testing import CliRunner

    from hltk_cli.app import app

    torch.manual_seed(0)
    checkpoint = tmp_path / "hdemucs_high_random.pt"
    save_hdemucs(HDemucs(HDEMUCS_HIGH), checkpoint)
    manifest = _mixture_manifest(tmp_path / "corpus")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["remix", str(manifest), "-o", str(out), "--separator",
                                      "hdemucs", "--checkpoint", str(checkpoint), "--device",
                                      "cpu", "-q", "--format", "csv"])
    assert result.exit_code == 0, result.output
    info = sf.info(out / "audio" / "i1.flac")
    assert (info.samplerate, info.channels) == (32000, 2)
    assert info.frames == round((2 * MODEL_SAMPLE_RATE + 220) * 32000 / MODEL_SAMPLE_RATE)
    record = json.loads((out / "run.json").read_text())
    assert record["processor"]["separator"] == "hdemucs"
    assert len(record["processor"]["checkpoint_sha256"]) == 64
    assert math.isclose(record["processor"]["overlap"], 0.1)
