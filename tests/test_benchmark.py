"""``hltk benchmark``: table structure, speed-ups from the same run (a deliberately slowed
test-only backend must come out slower), fidelity rows, metric-engine comparison, records and
the CLI. Test backends are registered inside the tests under a task of their own, so the
default tests stay fast; the run over every registered backend is ``slow``."""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from hltk import registry
from hltk.bench import engines
from hltk.bench.data import BENCH_LISTENERS, CORPUS_RATE, make_corpus
from hltk.bench.report import FIDELITY_COLUMNS, SPEED_COLUMNS
from hltk.bench.timing import measure
from hltk.io.listeners import ListenerBatch
from hltk.pipelines.benchmark import (
    BenchmarkSettings,
    reference_backend,
    resolve_tasks,
    run_benchmark,
)
from hltk.runner import EXIT_FAILED, EXIT_OK
from tests.helpers import AttenuatorProcessor

TASK = "bench-test"
SLEEP_PER_ITEM_S = 0.08


class SlowedAttenuator(AttenuatorProcessor):
    """The attenuator, deliberately slowed: sleeps per item, same output."""

    name = "slowed"

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, **options):  # type: ignore[no-untyped-def]
        time.sleep(SLEEP_PER_ITEM_S * audio.shape[0])
        return super().__call__(audio, listeners, **options)


class PerItemAttenuator(AttenuatorProcessor):
    """The attenuator as a per-item backend (runs through map_work), with extra noise."""

    name = "per-item"
    batched = False

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, **options):  # type: ignore[no-untyped-def]
        output = super().__call__(audio, listeners, **options)
        generator = torch.Generator().manual_seed(int(options["seeds"][0]) + 1)
        return output + 0.01 * torch.randn(output.shape, generator=generator)


class BrokenProcessor(AttenuatorProcessor):
    name = "broken"

    def __call__(self, audio: torch.Tensor, listeners: ListenerBatch, **options):  # type: ignore[no-untyped-def]
        raise RuntimeError("this backend always fails")


@pytest.fixture
def bench_task() -> Iterator[str]:
    registry.register(TASK, "attenuator", AttenuatorProcessor, "test reference", reference=True,
                      default=True)
    registry.register(TASK, "slowed", SlowedAttenuator, "test: deliberately slowed")
    registry.register(TASK, "per-item", PerItemAttenuator, "test: per-item with noise")
    yield TASK
    for name in ("attenuator", "slowed", "per-item", "broken"):
        registry.unregister(TASK, name)


def _settings(tmp_path: Path, **options: object) -> BenchmarkSettings:
    values: dict[str, object] = dict(out=tmp_path / "bench", tasks=(TASK,), items=3, seconds=0.3,
                                     repeats=2, jobs=1, device="cpu")
    values.update(options)
    return BenchmarkSettings(**values)  # type: ignore[arg-type]


def test_corpus_items_listeners_and_snr(tmp_path: Path) -> None:
    corpus = make_corpus(tmp_path, items=5, seconds=0.4)
    with corpus.speech.open() as handle:
        speech = list(csv.DictReader(handle))
    with corpus.noisy.open() as handle:
        noisy = list(csv.DictReader(handle))
    assert [row["id"] for row in speech] == [row["id"] for row in noisy]
    assert [row["listener"] for row in speech] == [BENCH_LISTENERS[i % 4] for i in range(5)]
    for row in noisy:
        mixture, rate = sf.read(tmp_path / row["audio"])
        clean, _ = sf.read(tmp_path / row["reference"])
        assert rate == CORPUS_RATE and len(mixture) == round(0.4 * CORPUS_RATE)
        noise = mixture - clean
        snr = 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))
        assert snr == pytest.approx(float(row["snr_db"]), abs=0.05)  # float32 storage
    # the same corpus on every run
    again = make_corpus(tmp_path / "again", items=5, seconds=0.4)
    first, _ = sf.read(tmp_path / noisy[2]["audio"])
    second, _ = sf.read(again.noisy.parent / noisy[2]["audio"])
    np.testing.assert_array_equal(first, second)


def test_speed_table_and_slowed_backend(tmp_path: Path, bench_task: str) -> None:
    registry.register(TASK, "broken", BrokenProcessor, "test: always fails")
    result = run_benchmark(_settings(tmp_path, suite="speed"))
    rows = {row["backend"]: row for row in result.speed}
    assert list(rows) == ["attenuator", "broken", "per-item", "slowed"]  # reference first
    for row in result.speed:
        assert list(row) == list(SPEED_COLUMNS)
    reference, slowed, per_item = rows["attenuator"], rows["slowed"], rows["per-item"]
    assert reference["reference"] and reference["speedup"] == 1.0
    assert not slowed["reference"]
    # the slowed backend sleeps 3 x 80 ms per pass: it must come out slower, from this run
    assert slowed["median_s"] >= 3 * SLEEP_PER_ITEM_S
    assert slowed["speedup"] < 1.0
    assert slowed["speedup"] == pytest.approx(reference["median_s"] / slowed["median_s"])
    for row in (reference, slowed, per_item):
        assert row["status"] == "ok" and row["repeats"] == 2 and row["items"] == 3
        assert row["audio_s"] == pytest.approx(3 * 0.3, abs=1e-3)
        assert row["rtf"] * row["rtfx"] == pytest.approx(1.0)
        assert row["items_per_s"] == pytest.approx(3 / row["median_s"])
        assert row["p90_s"] >= row["median_s"] > 0
        assert row["peak_rss_mb"] > 0 and row["cuda_peak_mb"] is None
    assert reference["batched"] and reference["batch"] == 3
    assert not per_item["batched"] and per_item["batch"] == 1 and per_item["jobs"] == 1
    assert rows["broken"]["status"] == "failed" and "always fails" in rows["broken"]["message"]
    assert result.exit_code == EXIT_FAILED

    # the Markdown report: a header, one row per backend, the reference marked
    lines = result.report.splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| task | backend | device | jobs | batch | median s")
    assert "speed-up" in table[0]
    assert sum(TASK in line for line in table) == 4
    assert any("attenuator *" in line for line in table)

    out = tmp_path / "bench"
    for name in ("results.csv", "speed.csv", "fidelity.csv", "results.json", "run.json",
                 "report.md", "plots/rtfx.png"):
        assert (out / name).exists(), name
    results = json.loads((out / "results.json").read_text())
    assert results["hardware"]["cpu_count"] >= 1 and "torch" in results["hardware"]
    assert results["reference_backends"][TASK] == "attenuator"
    assert results["timing"]["cpu_s"] > 0 and results["timing"]["wall_s"] > 0
    assert [row["backend"] for row in results["speed"]] == list(rows)
    with (out / "results.csv").open() as handle:
        table_rows = list(csv.DictReader(handle))
    assert {row["suite"] for row in table_rows} == {"speed"} and len(table_rows) == 4


def test_fidelity_rows_against_the_reference(tmp_path: Path, bench_task: str) -> None:
    result = run_benchmark(_settings(tmp_path, suite="fidelity", items=4))
    assert result.exit_code == EXIT_OK and result.speed == []
    rows = {(row["backend"], row["metric"]): row for row in result.fidelity}
    assert set(rows) == {("slowed", "sisdr"), ("per-item", "sisdr")}
    for row in result.fidelity:
        assert list(row) == list(FIDELITY_COLUMNS)
        assert row["reference_backend"] == "attenuator" and row["n"] == 4
    same = rows[("slowed", "sisdr")]  # same outputs: exact agreement
    assert same["max_abs_diff"] == pytest.approx(0.0, abs=1e-6)
    assert same["mse"] == pytest.approx(0.0, abs=1e-9)
    noisier = rows[("per-item", "sisdr")]  # extra noise: lower SI-SDR than the reference
    assert noisier["mean_system"] < noisier["mean_reference"]
    assert noisier["max_abs_diff"] > 1.0
    assert noisier["mean_abs_diff"] <= noisier["max_abs_diff"]
    plots = tmp_path / "bench" / "plots" / "fidelity" / TASK
    assert (plots / "per-item" / "sisdr_scatter.png").exists()
    # the outputs scored are the real pipeline's
    assert (tmp_path / "bench" / "fidelity" / TASK / "slowed" / "manifest.csv").exists()


def test_data_manifest_both_suites(tmp_path: Path, bench_task: str) -> None:
    from tests.helpers import make_speech_manifest

    manifest = make_speech_manifest(tmp_path / "corpus", count=3, seconds=0.4)
    result = run_benchmark(_settings(tmp_path, suite="all", data=manifest, repeats=1,
                                     tasks=(TASK, "metrics", "remix-not-registered")))
    assert not (tmp_path / "bench" / "data").exists()  # no synthetic corpus with --data
    assert {row["items"] for row in result.speed} == {3}
    assert all(row["audio_s"] == pytest.approx(1.2, abs=1e-3) for row in result.speed)
    assert {row["backend"] for row in result.fidelity} == {"slowed", "per-item"}
    # no reference column: the engines are skipped, the unknown task noted, nothing fails
    assert any("metric engines need a 'reference' column" in note for note in result.notes)
    assert any("remix-not-registered" in note for note in result.notes)
    assert result.exit_code == EXIT_OK
    with (tmp_path / "bench" / "results.csv").open() as handle:
        suites = [row["suite"] for row in csv.DictReader(handle)]
    assert suites.count("speed") == 3 and suites.count("fidelity") == 2
    assert "data " + str(manifest) in result.report.splitlines()[0]


def _fake_engine(name: str, offset: float, reference: bool, sleep: float) -> engines.MetricEngine:
    def score(metric, pairs, scoring, device, jobs):  # type: ignore[no-untyped-def]
        time.sleep(sleep)
        return np.array([float(np.sqrt(np.mean(p.processed**2))) + offset for p in pairs])

    return engines.MetricEngine(name, "test engine", score, lambda: True, reference=reference,
                                batched=True)


def test_metric_engines_compared_and_timed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "ENGINES", {
        "slow-reference": _fake_engine("slow-reference", 0.0, True, 0.05),
        "fast": _fake_engine("fast", 0.01, False, 0.0),
        "absent": engines.MetricEngine("absent", "never available", engines.clarity_score,
                                       lambda: False),
    })
    result = run_benchmark(_settings(tmp_path, tasks=("metrics",), engine_metrics=("haspi",)))
    speed = {row["backend"]: row for row in result.speed}
    assert list(speed) == ["slow-reference", "fast"]
    assert all(row["task"] == "metrics" and row["metric"] == "haspi" for row in speed.values())
    assert speed["slow-reference"]["speedup"] == 1.0 and speed["fast"]["speedup"] > 1.0
    (fidelity,) = result.fidelity
    assert fidelity["backend"] == "fast" and fidelity["reference_backend"] == "slow-reference"
    assert fidelity["max_abs_diff"] == pytest.approx(0.01)
    assert fidelity["mean_abs_diff"] == pytest.approx(0.01)
    assert fidelity["srcc"] == pytest.approx(1.0)


def test_reference_choice_and_unknown_tasks(bench_task: str) -> None:
    assert reference_backend(TASK) == "attenuator"
    # several references: the default one; none: the default backend
    registry.register(TASK, "broken", BrokenProcessor, "another reference", reference=True)
    assert reference_backend(TASK) == "attenuator"
    registry.register("bench-none", "b", AttenuatorProcessor, "no reference")
    registry.register("bench-none", "a", AttenuatorProcessor, "default, no reference", default=True)
    try:
        assert reference_backend("bench-none") == "a"
    finally:
        registry.unregister("bench-none", "a")
        registry.unregister("bench-none", "b")
    tasks, notes = resolve_tasks(["simulate", "no-such-task", "metrics"])
    assert tasks == ["simulate", "metrics"]
    assert len(notes) == 1 and "no-such-task" in notes[0]
    everything, _ = resolve_tasks(None)
    assert everything[-1] == "metrics" and "simulate" in everything and TASK in everything


def test_measure_synchronised_repeats() -> None:
    timing, result = measure(lambda: time.sleep(0.02) or 7, repeats=3, device=torch.device("cpu"),
                             children=False)
    assert result == 7 and len(timing.wall_s) == 3 and timing.warmup_s >= 0.02
    assert min(timing.wall_s) >= 0.02 and timing.p90_s >= timing.median_s
    assert timing.peak_rss_bytes > 0 and timing.cuda_peak_bytes is None
    # a time budget stops the repeats early (at least one)
    timing, _ = measure(lambda: time.sleep(0.03), repeats=10, device=torch.device("cpu"),
                        children=False, warmup=False, budget_s=0.05)
    assert len(timing.wall_s) == 2 and timing.warmup_s == 0.0


def test_cli_prints_the_table_and_writes_the_records(tmp_path: Path, bench_task: str) -> None:
    from hltk_cli.app import app

    out = tmp_path / "cli"
    arguments = ["benchmark", "--tasks", TASK, "--suite", "speed", "--items", "2", "--seconds",
                 "0.3", "--repeats", "1", "-j", "1", "--device", "cpu", "-o", str(out)]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "| task | backend |" in result.stdout and "attenuator *" in result.stdout
    assert json.loads((out / "run.json").read_text())["task"] == "benchmark"
    result = CliRunner().invoke(app, [*arguments, "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {row["backend"] for row in rows} == {"attenuator", "slowed", "per-item"}
    assert all(row["suite"] == "speed" for row in rows)
    bad = CliRunner().invoke(app, ["benchmark", "--suite", "fast", "-o", str(out)])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_music_pairs_for_haaqi(tmp_path: Path) -> None:
    from hltk.bench.data import make_music, music_available

    if not music_available():
        pytest.skip("fluidsynth / soundfont not installed")
    music = make_music(tmp_path, items=2, seconds=0.5)
    with music.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["vocal_gain_db"]) for row in rows] == [6.0, -6.0]
    remix, rate = sf.read(tmp_path / rows[0]["audio"])
    mixture, _ = sf.read(tmp_path / rows[0]["reference"])
    assert rate == CORPUS_RATE and remix.shape == mixture.shape == (round(0.5 * rate), 2)
    assert not np.allclose(remix, mixture)


@pytest.mark.slow
def test_every_registered_backend_is_benchmarked(tmp_path: Path) -> None:
    """The real set, tiny: every registered backend of every task gets a speed row, every
    non-reference backend fidelity rows, the clarity engine its timings."""
    result = run_benchmark(BenchmarkSettings(out=tmp_path / "all", items=2, seconds=0.5,
                                             repeats=1, jobs=2, device="cpu"))
    listed = {(row["task"], row["backend"]) for row in result.speed}
    for task in registry.tasks():
        for spec in registry.backends(task):
            assert (task, spec.name) in listed
    assert ("metrics", "clarity") in listed
    assert all(row["status"] == "ok" for row in result.speed), result.speed
    for row in result.fidelity:
        assert row["status"] == "ok" and row["n"] == 2 and math.isfinite(row["mean_reference"])
    assert result.exit_code == EXIT_OK
