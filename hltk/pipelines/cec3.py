"""``hltk manifest cec3``: a CEC3 task and split as an hltk manifest (:mod:`hltk.challenges.cec3`)."""

from __future__ import annotations

from pathlib import Path

from hltk.challenges.cec3 import Cec3Manifest, write_cec3_manifest


def cec3_manifest(root: str | Path, task: int, split: str, out: str | Path) -> Cec3Manifest:
    """``OUT/manifest.csv`` (one row per scene-listener pair: the three microphone pairs, the
    reference, scene, listener, SNR, sample rate) and ``OUT/listeners.json``."""
    return write_cec3_manifest(root, task, split, out)
