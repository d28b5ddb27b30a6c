"""The same outputs whatever runs them: one process, a joblib pool, or dask.distributed."""

from __future__ import annotations

import json
from pathlib import Path

from hltk.pipelines.simulate import simulate
from hltk.runner import EXIT_OK, RunSettings
from tests.helpers import make_speech_manifest


def audio_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "audio").iterdir())}


def test_joblib_pool_and_dask_local_cluster_equal_in_process(tmp_path: Path) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=3, seconds=0.4,
                                    listeners=("NH", "N3", "S2"))
    single = simulate(manifest, RunSettings(out=tmp_path / "single", jobs=1))
    pooled = simulate(manifest, RunSettings(out=tmp_path / "pooled", jobs=2))
    distributed = simulate(manifest, RunSettings(out=tmp_path / "dask", jobs=2, executor="dask"))
    assert single.exit_code == pooled.exit_code == distributed.exit_code == EXIT_OK
    reference = audio_bytes(tmp_path / "single")
    assert len(reference) == 3
    assert audio_bytes(tmp_path / "pooled") == reference
    assert audio_bytes(tmp_path / "dask") == reference
    assert (tmp_path / "dask/manifest.csv").read_text() == (tmp_path / "single/manifest.csv").read_text()
    record = json.loads((tmp_path / "dask/run.json").read_text())
    assert record["executor"] == "dask" and record["counts"]["ok"] == 3
