"""Full agreement check of the torch HASPI v2 / HASQI v2 / HAAQI with pyclarity (slow).

Pairs (all made here, cached only in pytest's tmp dir):

- speech: 6 espeak-ng sentences (several voices) x 5 conditions — clean at another gain,
  white noise at 0 / 5 dB SNR, NAL-R amplified (pyclarity NALR, 24 kHz), MSBG-simulated
  (pyclarity ``Ear`` at 44.1 kHz, scored at 44.1 kHz so pyclarity's 44 kHz rounding and
  resampling are exercised) = 30 pairs;
- music (HAAQI): 3 fluidsynth renders (or additive synthesis without fluidsynth) x 4
  conditions (NAL-R, 3 kHz low-pass, noise at 15 dB, soft clipping) = 12 pairs, scored with
  Cadenza's level ``65 - 20 log10(rms(reference))`` and ``equalisation=2``.

Audiograms cycle over 4 Bisgaard profiles (N1, N3, S2, N4) and levels over 65 / 100 dB SPL.
Criteria (issue 8): |torch - pyclarity| <= 1e-3 for every pair and metric, SRCC >= 0.999.
Run: ``pytest -m slow tests/test_torch_metrics_slow.py -s`` (prints max / mean differences).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("clarity")

import scipy.signal  # noqa: E402
import scipy.stats  # noqa: E402
import soundfile as sf  # noqa: E402
from clarity.enhancer.nalr import NALR  # noqa: E402
from clarity.evaluator.haaqi import compute_haaqi  # noqa: E402
from clarity.evaluator.haspi import haspi_v2  # noqa: E402
from clarity.evaluator.hasqi import hasqi_v2  # noqa: E402
from clarity.utils.audiogram import Audiogram  # noqa: E402

from hltk.metrics import indices as te  # noqa: E402

pytestmark = pytest.mark.slow

FS = 24000
FS_MSBG = 44100
BISGAARD_FREQS = np.array([250, 375, 500, 750, 1000, 1500, 2000, 3000, 4000, 6000])
PROFILES = {
    "N1": [10, 10, 10, 10, 10, 10, 15, 20, 30, 40],
    "N3": [35, 35, 35, 35, 40, 45, 50, 55, 60, 65],
    "S2": [20, 20, 20, 22.5, 25, 35, 55, 75, 95, 95],
    "N4": [55, 55, 55, 55, 55, 60, 65, 70, 75, 80],
}
SENTENCES = [
    ("en", "The birch canoe slid on the smooth planks."),
    ("en+f3", "Glue the sheet to the dark blue background."),
    ("en-us", "It is easy to tell the depth of a well."),
    ("en+m3", "These days a chicken leg is a rare dish."),
    ("en-gb-x-rp", "Rice is often served in round bowls."),
    ("en+f2", "The juice of lemons makes fine punch."),
]


def _espeak(text: str, voice: str, path: Path) -> np.ndarray:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True,
                   capture_output=True)
    signal, rate = sf.read(path)
    signal = scipy.signal.resample_poly(signal, FS, rate)
    return 0.1 * signal / np.sqrt(np.mean(signal**2))


def _add_noise(signal: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(signal.size)
    noise *= np.sqrt(np.mean(signal**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return signal + noise


def _nalr(signal: np.ndarray, levels: np.ndarray, rate: int) -> np.ndarray:
    enhancer = NALR(220, rate)
    fir, _ = enhancer.build(Audiogram(levels=levels, frequencies=BISGAARD_FREQS))
    return enhancer.apply(fir, signal)[: signal.size]


def _music(path: Path, program: int, notes: list[list[int]]) -> np.ndarray | None:
    """Render a short chord progression with fluidsynth (None when unavailable)."""
    soundfont = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
    if shutil.which("fluidsynth") is None or not soundfont.exists():
        return None
    import mido

    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.Message("program_change", program=program, time=0))
    for chord in notes:
        for note in chord:
            track.append(mido.Message("note_on", note=note, velocity=90, time=0))
        for i, note in enumerate(chord):
            track.append(mido.Message("note_off", note=note, velocity=0, time=360 if i == 0 else 0))
    mid_path = path.with_suffix(".mid")
    midi.save(mid_path)
    subprocess.run(["fluidsynth", "-ni", "-g", "1.0", "-F", str(path), "-r", str(FS),
                    str(soundfont), str(mid_path)], check=True, capture_output=True)
    signal, _ = sf.read(path)
    signal = signal.mean(axis=1) if signal.ndim == 2 else signal
    return signal[: int(2.2 * FS)]


def _additive_music(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(2.2 * FS)) / FS
    out = np.zeros_like(t)
    for k in range(4):
        start = k * 0.5
        env = np.where(t >= start, np.exp(-(t - start) * 3.0), 0.0)
        for f0 in rng.choice([196.0, 246.9, 293.7, 392.0, 440.0], 3, replace=False):
            out += env * sum(np.sin(2 * np.pi * h * f0 * t) / h**1.5 for h in range(1, 8))
    return out


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    from clarity.evaluator.msbg.msbg import Ear

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    root = tmp_path_factory.mktemp("pairs")
    names = list(PROFILES)
    items: list[dict] = []
    for s, (voice, text) in enumerate(SENTENCES):
        clean = _espeak(text, voice, root / f"s{s}.wav")[: int(2.2 * FS)]
        profile = names[s % 4]
        levels10 = np.array(PROFILES[profile], dtype=float)
        audiogram = (levels10, BISGAARD_FREQS)
        level = 65.0 if s % 2 == 0 else 100.0
        conditions = {
            "gain": 0.6 * clean,
            "snr0": _add_noise(clean, 0.0, 100 + s),
            "snr5": _add_noise(clean, 5.0, 200 + s),
            "nalr": _nalr(clean, levels10, FS),
        }
        for c, (name, processed) in enumerate(conditions.items()):
            items.append(dict(kind="speech", name=f"s{s}-{name}", reference=clean,
                              processed=processed, rate=FS, audiogram=audiogram, level=level,
                              seed=1000 * s + c))
        ear = Ear(src_pos="ff", sample_rate=FS_MSBG, equiv_0db_spl=100, ahr=20)
        ear.set_audiogram(Audiogram(levels=levels10, frequencies=BISGAARD_FREQS))
        clean_44 = scipy.signal.resample_poly(clean, 147, 80)
        simulated = ear.process(clean_44)[0][: clean_44.size]
        items.append(dict(kind="speech", name=f"s{s}-msbg", reference=clean_44,
                          processed=simulated, rate=FS_MSBG, audiogram=audiogram, level=level,
                          seed=1000 * s + 9))
    scores = [[60, 64, 67], [62, 65, 69], [57, 60, 64], [55, 59, 62]]
    for m, program in enumerate((0, 48, 24)):
        music = _music(root / f"m{m}.wav", program, [[n + 2 * m for n in c] for c in scores])
        if music is None:
            music = _additive_music(m)
        music = 0.1 * music / np.sqrt(np.mean(music**2))
        profile = names[m % 4]
        levels10 = np.array(PROFILES[profile], dtype=float)
        level = 65.0 - 20 * np.log10(np.sqrt(np.mean(music**2)))
        b, a = scipy.signal.butter(4, 3000 / (FS / 2))
        conditions = {
            "nalr": _nalr(music, levels10, FS),
            "lowpass": scipy.signal.lfilter(b, a, music),
            "noise": _add_noise(music, 15.0, 300 + m),
            "clip": np.tanh(4 * music) / 4,
        }
        for c, (name, processed) in enumerate(conditions.items()):
            items.append(dict(kind="music", name=f"m{m}-{name}", reference=music,
                              processed=processed, rate=FS, audiogram=(levels10, BISGAARD_FREQS),
                              level=level, seed=5000 + 10 * m + c))
    return items


def _reference_scores(item: dict) -> dict[str, float]:
    audiogram = Audiogram(levels=item["audiogram"][0], frequencies=item["audiogram"][1])
    x, y, rate, level = item["reference"], item["processed"], item["rate"], item["level"]
    scores = {}
    if item["kind"] == "speech":
        np.random.seed(item["seed"])
        scores["haspi"] = haspi_v2(x, rate, y, rate, audiogram, level)[0]
        np.random.seed(item["seed"])
        scores["hasqi"] = hasqi_v2(x, rate, y, rate, audiogram, 1, level)[0]
    np.random.seed(item["seed"])
    scores["haaqi"] = compute_haaqi(processed_signal=y, reference_signal=x,
                                    processed_sample_rate=rate, reference_sample_rate=rate,
                                    audiogram=audiogram, equalisation=2, level1=level)
    return scores


def _torch_scores(items: list[dict], metric: str) -> np.ndarray:
    out = []
    for rate in sorted({it["rate"] for it in items}):
        group = [it for it in items if it["rate"] == rate]
        args = dict(
            reference=[torch.tensor(it["reference"]) for it in group],
            processed=[torch.tensor(it["processed"]) for it in group],
            sample_rate=rate,
            audiograms=[it["audiogram"] for it in group],
            level1=torch.tensor([it["level"] for it in group]),
            seeds=[it["seed"] for it in group],
        )
        if metric == "haspi":
            scores = te.haspi_v2(**args)
        elif metric == "hasqi":
            scores = te.hasqi_v2(**args, equalisation=1)
        else:
            scores = te.haaqi(**args, equalisation=2)
        out.extend(zip([it["name"] for it in group], scores.tolist(), strict=True))
    by_name = dict(out)
    return np.array([by_name[it["name"]] for it in items])


@pytest.mark.parametrize("metric", ["haspi", "hasqi", "haaqi"])
def test_agreement_with_pyclarity(pairs: list[dict], metric: str) -> None:
    torch.set_num_threads(1)
    items = [it for it in pairs if metric == "haaqi" or it["kind"] == "speech"]
    assert len(items) >= 30
    expected = np.array([_reference_scores_cached(it)[metric] for it in items])
    got = _torch_scores(items, metric)
    diff = np.abs(got - expected)
    srcc = scipy.stats.spearmanr(got, expected).statistic
    print(f"\n{metric}: n={len(items)} max|diff|={diff.max():.3e} mean|diff|={diff.mean():.3e} "
          f"SRCC={srcc:.6f} range=[{expected.min():.3f}, {expected.max():.3f}]")
    worst = int(np.argmax(diff))
    print(f"  worst: {items[worst]['name']} torch={got[worst]:.8f} pyclarity={expected[worst]:.8f}")
    assert np.all(diff <= 1e-3), [(it["name"], d) for it, d in zip(items, diff, strict=True)]
    assert srcc >= 0.999


_CACHE: dict[str, dict[str, float]] = {}


def _reference_scores_cached(item: dict) -> dict[str, float]:
    if item["name"] not in _CACHE:
        _CACHE[item["name"]] = _reference_scores(item)
    return _CACHE[item["name"]]
