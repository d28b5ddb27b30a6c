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


def _square(offset: int, payload: int, worker: bool) -> tuple[int, bool]:
    return payload * payload + offset, worker


def test_map_work_yields_every_result_in_process_and_in_a_pool() -> None:
    from hltk.runner.executors import map_work

    payloads = list(range(6))
    here = list(map_work(_square, 1, payloads, jobs=1))
    assert here == [(p * p + 1, False) for p in payloads]  # in order, in this process
    pooled = list(map_work(_square, 1, payloads, jobs=2))
    assert sorted(pooled) == [(p * p + 1, True) for p in payloads]  # any order, in workers
    assert list(map_work(_square, 1, payloads, jobs=2, in_process=True)) == here
