"""What the cnrhlc evaluation scripts share: held-out test items, the systems compared, the
metrics (hltk's metric engines) and the auditory-model NRMSE.

Every signal is mono (the left ear; both ears of a Bisgaard profile are the same), 16 kHz,
calibrated as the whole project: a digital RMS of 1 = 100 dB SPL. References are the clean
speech; HASQI applies NAL-R to its reference (equalisation 1), as in the paper.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hltk import registry
from hltk.io.audio import read_audio, resample
from hltk.io.listeners import Listener, ListenerBatch, standard_listener
from hltk.io.manifest import load_manifest
from hltk.metrics.engine_clarity import MetricError, ScoringSettings, metric_ear

RATE = 16000
PROFILES = ("NH", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "S1", "S2", "S3")
#: where data.sh put the corpora ($DATA) and where the shared held-out corpora are ($MAIN_DATA)
DATA = Path(os.environ.get("DATA", "/work/out/cnrhlc/data"))
MAIN_DATA = Path(os.environ.get("MAIN_DATA", "/work/main/data"))
#: held-out corpora: (name, manifest, split)
CORPORA = (
    ("recorded-en-babble", MAIN_DATA / "recorded-en-babble" / "manifest.csv", "test"),
    ("recorded-noisy", DATA / "recorded-noisy" / "manifest.csv", "test"),
    ("synth-noisy", DATA / "synth-noisy" / "manifest.csv", "test"),
    ("recorded-reverb", DATA / "recorded-reverb" / "manifest.csv", "test"),
)


@dataclass
class Item:
    corpus: str
    id: str
    noisy: torch.Tensor  # [T] 16 kHz
    clean: torch.Tensor


def load_items(per_corpus: int, max_seconds: float, split_override: str | None = None
               ) -> list[Item]:
    """The first ``per_corpus`` test rows of each held-out corpus, cut to ``max_seconds``
    (``split_override="valid"``: the valid rows of the training corpora instead, for choices
    that must not look at the test rows; the held-out English corpus is then left out)."""
    items = []
    limit = int(max_seconds * RATE)
    for corpus, path, split in CORPORA:
        if split_override is not None:
            if corpus == "recorded-en-babble":
                continue
            split = split_override
        if not path.is_file():
            continue
        manifest = load_manifest(path, require_listener=False, check_audio="none",
                                 audio_columns=["audio", "reference"])
        rows = [i for i in manifest.items if i.row.get("split") == split][:per_corpus]
        for row in rows:
            signals = []
            for column in ("audio", "reference"):
                audio, rate = read_audio(row.paths[column])
                signals.append(resample(audio.mean(0), rate, RATE)[:limit])
            items.append(Item(corpus, row.id, signals[0], signals[1]))
    return items


def listener(profile: str) -> ListenerBatch:
    standard = standard_listener(profile)
    return ListenerBatch((Listener(profile, standard.left, standard.right),), ("left",))


def run(processor: Any, audio: torch.Tensor, profile: str) -> torch.Tensor:
    """One mono 16 kHz signal through a processor at its own rate, back at 16 kHz, ``[T]``."""
    rate = int(processor.sample_rate)
    signal = resample(audio[None, None], RATE, rate)
    output = processor(signal, listener(profile), lengths=torch.tensor([signal.shape[-1]]),
                       level_db_spl=torch.tensor([100.0]), seeds=[0])
    return resample(output, rate, RATE)[0, 0, : audio.shape[-1]].float()


class Systems:
    """The systems of the paper's Table I (and the cnrhlc alpha grid), built once."""

    def __init__(self, checkpoint: Path | None, min_gain_db: float | None = None) -> None:
        self.checkpoint = checkpoint
        self.min_gain_db = min_gain_db  # None: the backend's default floor
        self.nalr = registry.create("amplify", "nalr")
        self._cnrhlc: dict[tuple[float, float], Any] = {}
        self._others: dict[str, Any] = {}

    def cnrhlc(self, nr: float, hlc: float) -> Any:
        if (nr, hlc) not in self._cnrhlc:
            options: dict[str, Any] = {"nr": nr, "hlc": hlc}
            if self.checkpoint is not None:
                options["checkpoint"] = self.checkpoint
            if self.min_gain_db is not None:
                options["min_gain_db"] = self.min_gain_db
            self._cnrhlc[(nr, hlc)] = registry.create("denoise-amplify", "cnrhlc", **options)
        return self._cnrhlc[(nr, hlc)]

    def backend(self, name: str) -> Any:
        if name not in self._others:
            self._others[name] = registry.create("denoise-amplify", name)
        return self._others[name]

    def process(self, system: str, noisy: torch.Tensor, profile: str) -> torch.Tensor:
        if system == "noisy":
            return noisy
        if system == "noisy+nalr":
            return run(self.nalr, noisy, profile)
        if system == "cnrhlc":
            return run(self.cnrhlc(1.0, 1.0), noisy, profile)
        if system == "cnrhlc-nr+nalr":
            return run(self.nalr, run(self.cnrhlc(1.0, 0.0), noisy, profile), profile)
        return run(self.backend(system), noisy, profile)


TABLE_SYSTEMS = ("noisy", "noisy+nalr", "cnrhlc", "cnrhlc-nr+nalr", "nalr-wdrc", "two-stage",
                 "neuroamp-denoise")


def nh_metrics(clean: torch.Tensor, processed: torch.Tensor) -> dict[str, float]:
    """PESQ (wide band), ESTOI, SI-SDR (dB) of the processed signal against the clean speech."""
    settings = ScoringSettings(metrics=("pesq", "estoi", "sisdr"))
    scores = {}
    for metric in ("pesq", "estoi", "sisdr"):
        try:
            scores[metric] = metric_ear(metric, clean.double().numpy(), RATE,
                                        processed.double().numpy(), RATE, None, settings, 0)
        except MetricError:
            scores[metric] = math.nan
    return scores


def ear_metrics(clean: list[torch.Tensor], processed: list[torch.Tensor], profile: str
                ) -> list[dict[str, float]]:
    """HASPI v2 and HASQI v2 (hltk's batched indices, as ``hltk evaluate``'s fast engine) of
    each pair for the profile's left ear, level1 = 100 dB SPL, HASQI equalisation 1."""
    from hltk.metrics import indices

    audiogram = standard_listener(profile).left
    common: dict[str, Any] = dict(
        sample_rate=RATE, processed_sample_rate=RATE,
        audiograms=[(audiogram.levels, audiogram.frequencies)] * len(clean),
        level1=torch.full((len(clean),), 100.0, dtype=torch.float64), seeds=[0] * len(clean),
        batch_size=8)
    references = [c.double() for c in clean]
    outputs = [p.double() for p in processed]
    with torch.no_grad():
        haspi = indices.haspi_v2(references, outputs, **common).tolist()
        hasqi = indices.hasqi_v2(references, outputs, equalisation=1, **common).tolist()
    return [{"haspi": float(a), "hasqi": float(b)} for a, b in zip(haspi, hasqi, strict=True)]


class Nrmse:
    """NRMSE of the auditory model's response: ``||A_HI(processed) - A_NH(clean)|| /
    ||A_NH(clean)||`` (the drnl model when hltk.auditory is there, else the msbg response)."""

    def __init__(self, model: str) -> None:
        from hltk.train.cnrhlc import auditory_model

        self.name = model
        self.model = auditory_model(model)

    def __call__(self, clean: torch.Tensor, processed: torch.Tensor, profile: str) -> float:
        levels = torch.as_tensor(standard_listener(profile).left.on_grid(), dtype=torch.float32)[None]
        length = clean.shape[-1] - clean.shape[-1] % 160
        with torch.no_grad():
            target = self.model(clean[None, :length], None)
            response = self.model(processed[None, :length], levels)
        return float((response - target).norm() / target.norm())


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def nrmse_value(nrmse: Nrmse, clean: torch.Tensor, processed: torch.Tensor, profile: str) -> float:
    try:
        return nrmse(clean, processed, profile)
    except Exception as error:  # a failed response is a missing value, said on stderr
        import sys

        print(f"nrmse failed: {error}", file=sys.stderr)
        return math.nan
