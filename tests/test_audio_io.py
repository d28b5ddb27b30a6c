"""Audio I/O: formats, clipping policy, atomic writes, resampling, ears."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from hltk.io.audio import (
    AUDIO_FORMATS,
    AudioReadError,
    apply_clip,
    atomic_path,
    read_audio,
    resample,
    select_ears,
    write_audio,
)


@pytest.mark.parametrize("audio_format", list(AUDIO_FORMATS))
def test_write_read_every_format(tmp_path: Path, audio_format: str) -> None:
    t = torch.arange(8000) / 16000
    audio = torch.stack([0.5 * torch.sin(2 * torch.pi * 440 * t), 0.25 * torch.sin(2 * torch.pi * 880 * t)])
    extension, _, subtype = AUDIO_FORMATS[audio_format]
    path = tmp_path / f"x.{extension}"
    write_audio(path, audio, 16000, audio_format)
    assert sf.info(path).subtype == subtype
    back, rate = read_audio(path)
    assert rate == 16000 and back.shape == audio.shape and back.dtype == torch.float32
    tolerance = {"PCM_16": 1e-4, "PCM_24": 1e-6, "FLOAT": 0.0}[subtype]
    assert torch.max(torch.abs(back - audio)) <= tolerance
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


def test_clip_policies_count_and_bound() -> None:
    audio = torch.tensor([[0.5, 1.5, -2.0, 0.9]])
    for policy in ("none", "hard", "tanh"):
        clipped, count = apply_clip(audio, policy)
        assert count == 2
        if policy != "none":
            assert clipped.abs().max() <= 1.0
    assert torch.equal(apply_clip(audio, "none")[0], audio)
    with pytest.raises(ValueError):
        apply_clip(audio, "soft")


def test_integer_formats_saturate_not_wrap(tmp_path: Path) -> None:
    write_audio(tmp_path / "loud.wav", torch.tensor([[1.7, -1.7, 0.2]]), 8000, "wav16")
    back, _ = read_audio(tmp_path / "loud.wav")
    assert back[0, 0] > 0.99 and back[0, 1] < -0.99


def test_atomic_path_keeps_destination_on_error(tmp_path: Path) -> None:
    destination = tmp_path / "out.txt"
    destination.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(destination) as temporary:
        temporary.write_text("half")
        raise RuntimeError("crash")
    assert destination.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_read_errors(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF nonsense")
    with pytest.raises(AudioReadError, match="unreadable"):
        read_audio(tmp_path / "bad.wav")
    sf.write(tmp_path / "inf.wav", np.array([0.0, np.inf], dtype=np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="NaN or infinite"):
        read_audio(tmp_path / "inf.wav")


def test_resample_lengths_and_identity() -> None:
    audio = torch.randn(2, 16000)
    assert resample(audio, 16000, 16000) is audio
    up = resample(audio, 16000, 44100)
    assert up.shape == (2, 44100)
    back = resample(up, 44100, 16000)
    assert back.shape == (2, 16000)


def test_select_ears() -> None:
    mono, stereo = torch.randn(1, 10), torch.randn(2, 10)
    assert select_ears(mono, "both").shape == (2, 10)
    assert torch.equal(select_ears(stereo, "right")[0], stereo[1])
    assert torch.equal(select_ears(mono, "left"), mono)
    with pytest.raises(ValueError):
        select_ears(torch.randn(3, 10), "both")


def test_resample_splits_rows_over_threads_without_changing_a_bit() -> None:
    import soxr

    audio = torch.randn(5, 2, 8000, generator=torch.Generator().manual_seed(3))
    rows = audio.reshape(-1, 8000).numpy()
    expected = np.stack([np.asarray(soxr.resample(r, 16000, 44100, quality="VHQ")) for r in rows])
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out = resample(audio, 16000, 44100)
            assert out.shape == (5, 2, expected.shape[-1]) and out.dtype == audio.dtype
            assert np.array_equal(out.reshape(10, -1).numpy(), expected)
    finally:
        torch.set_num_threads(previous)
