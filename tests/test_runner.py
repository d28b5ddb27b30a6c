"""The runner: resume, failures, shards + merge, batching, records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from hltk.io.manifest import ManifestError
from hltk.pipelines.process import load_task_manifest
from hltk.pipelines.simulate import simulate
from hltk.runner import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    RunError,
    RunSettings,
    item_seed,
    merge_runs,
    run_processor,
)
from hltk_cli.app import app
from tests.helpers import AttenuatorProcessor, make_speech_manifest


def audio_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "audio").iterdir())}


def run(manifest: Path, out: Path, **options) -> object:
    backend_options = options.pop("backend_options", {})
    return simulate(manifest, RunSettings(out=out, **options), backend="attenuator",
                    backend_options=backend_options)


def test_item_seed_is_stable_and_distinct() -> None:
    assert item_seed(0, "a") == item_seed(0, "a")
    assert item_seed(0, "a") != item_seed(0, "b")
    assert item_seed(1, "a") != item_seed(0, "a")


def test_run_writes_audio_manifest_and_record(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=3)
    out = tmp_path / "out"
    summary = run(manifest, out)
    assert summary.exit_code == EXIT_OK
    for name in ("manifest.csv", "run.json", "ledger.jsonl", "failures.csv"):
        assert (out / name).exists()
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [r["id"] for r in rows] == ["item00", "item01", "item02"]
    assert rows[0]["audio"] == "audio/item00.wav" and rows[0]["note"] == "n0"
    assert (out / rows[0]["input"]).resolve() == (tmp_path / "corpus/audio/item00.wav").resolve()
    record = json.loads((out / "run.json").read_text())
    assert record["counts"]["ok"] == 3 and record["backend"] == "attenuator"
    assert record["timing"]["audio_s"] > 0 and "torch" in record["versions"]
    # same length and rate as the input, two ears from a mono input
    info = sf.info(out / "audio/item00.wav")
    source = sf.info(tmp_path / "corpus/audio/item00.wav")
    assert (info.frames, info.samplerate, info.channels) == (source.frames, source.samplerate, 2)
    # the output manifest chains into another run
    second = run(out / "manifest.csv", tmp_path / "chained")
    assert second.exit_code == EXIT_OK and second.counts["ok"] == 3


def test_rerun_skips_everything(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=3)
    run(manifest, tmp_path / "out")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out/audio").iterdir()}
    summary = run(manifest, tmp_path / "out")
    assert summary.counts["skipped"] == 3 and summary.counts["processed"] == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out/audio").iterdir()} == before
    redo = run(manifest, tmp_path / "out", overwrite=True)
    assert redo.counts["processed"] == 3


def test_resume_after_interruption(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=5, listeners=("NH", "N1", "N7", "N2", "N3"))
    out = tmp_path / "out"
    attenuator.interrupt_on = {"N7"}
    interrupted = run(manifest, out, batch_size=1)
    assert interrupted.exit_code == EXIT_INTERRUPTED
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["item00.wav", "item01.wav"]
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    done_before = {p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir()}
    attenuator.interrupt_on = set()
    resumed = run(manifest, out, batch_size=1)
    assert resumed.exit_code == EXIT_OK
    assert resumed.counts["skipped"] == 2 and resumed.counts["processed"] == 3
    assert {p: t for p, t in done_before.items()} == {
        p.name: p.stat().st_mtime_ns for p in (out / "audio").iterdir() if p.name in done_before}
    assert len(list((out / "audio").iterdir())) == 5


def test_changed_settings_refused(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=2)
    run(manifest, tmp_path / "out")
    with pytest.raises(RunError, match="other settings"):
        run(manifest, tmp_path / "out", audio_format="flac16")


def test_failure_row_exit_3_and_no_partial_file(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=4, listeners=("NH", "N7", "N2", "N3"))
    out = tmp_path / "out"
    summary = run(manifest, out, batch_size=4, backend_options={"fail_on": ["N7"]})
    assert summary.exit_code == EXIT_FAILED
    failures = list(csv.DictReader((out / "failures.csv").open()))
    assert [(f["id"], f["stage"], f["line"]) for f in failures] == [("item01", "process", "3")]
    assert "cannot process listener N7" in failures[0]["message"]
    # the other items of the failing batch were still produced; nothing partial is left
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["item00.wav", "item02.wav", "item03.wav"]
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [r["id"] for r in rows] == ["item00", "item02", "item03"]
    # failed items are not retried unless asked
    again = run(manifest, out, batch_size=4, backend_options={"fail_on": ["N7"]})
    assert again.counts["processed"] == 0 and again.exit_code == EXIT_FAILED


def test_write_failure_leaves_no_partial_file(tmp_path: Path, attenuator, monkeypatch) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=2)
    real_write = sf.SoundFile.write

    def broken_write(self, data):
        real_write(self, data[: len(data) // 2])  # half the file is on disk
        raise OSError("disk full")

    monkeypatch.setattr(sf.SoundFile, "write", broken_write)
    summary = run(manifest, tmp_path / "out")
    assert summary.exit_code == EXIT_FAILED
    assert list((tmp_path / "out/audio").iterdir()) == []
    stages = {row["stage"] for row in csv.DictReader((tmp_path / "out/failures.csv").open())}
    assert stages == {"write"}


def test_retry_failed(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=2, listeners=("NH", "N7"))
    run(manifest, tmp_path / "out", backend_options={"fail_on": ["N7"]})
    retried = run(manifest, tmp_path / "out", retry_failed=True, backend_options={"fail_on": ["N7"]})
    assert retried.counts["processed"] == 1 and retried.counts["skipped"] == 1


def test_batched_equals_item_by_item(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=5)
    one = run(manifest, tmp_path / "one", batch_size=1)
    many = run(manifest, tmp_path / "many", batch_size=4)
    assert one.exit_code == many.exit_code == EXIT_OK
    assert audio_bytes(tmp_path / "one") == audio_bytes(tmp_path / "many")


def test_shards_then_merge_equal_unsharded(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=5)
    run(manifest, tmp_path / "whole")
    for index in (1, 2, 3):
        summary = run(manifest, tmp_path / "sharded", shard=(index, 3))
        assert summary.record_dir == tmp_path / "sharded/shards" / f"{index}-of-3"
    counts = merge_runs([tmp_path / "sharded"], tmp_path / "sharded")
    assert counts["ok"] == 5 and counts["runs"] == 3
    assert audio_bytes(tmp_path / "whole") == audio_bytes(tmp_path / "sharded")
    assert (tmp_path / "whole/manifest.csv").read_text() == (tmp_path / "sharded/manifest.csv").read_text()
    # merging separate folders copies the audio in
    for index in (1, 2):
        run(manifest, tmp_path / f"part{index}", shard=(index, 2))
    merge_runs([tmp_path / "part1", tmp_path / "part2"], tmp_path / "merged")
    assert audio_bytes(tmp_path / "whole") == audio_bytes(tmp_path / "merged")


def test_limit_selects_the_first_rows(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=3)
    summary = run(manifest, tmp_path / "out", limit=2)
    assert summary.counts["selected"] == 2


def test_unsafe_output_names_refused(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=2)
    text = manifest.read_text().replace("item01,", "../escape,")
    manifest.write_text(text)
    with pytest.raises(ManifestError, match="line 3.*'../escape'"):
        run(manifest, tmp_path / "out")
    with pytest.raises(ManifestError, match="outside the output folder|would make a path"):
        run(make_speech_manifest(tmp_path / "c2", count=1), tmp_path / "o2", filename="/abs/{id}.{ext}")
    with pytest.raises(ManifestError, match="also the output of line 2"):
        run(make_speech_manifest(tmp_path / "c3", count=2, listeners=("N1",)), tmp_path / "o3",
            filename="{listener}.{ext}")


def test_ear_selection_and_stereo_input(tmp_path: Path, attenuator) -> None:
    corpus = make_speech_manifest(tmp_path / "corpus", count=1)
    stereo, rate = sf.read(corpus.parent / "audio/item00.wav")
    sf.write(corpus.parent / "audio/item00.wav", np.stack([stereo, 0.5 * stereo], 1), rate)
    left = run(corpus, tmp_path / "left", ear="left")
    both = run(corpus, tmp_path / "both", ear="both")
    assert left.exit_code == both.exit_code == EXIT_OK
    mono_out, _ = sf.read(tmp_path / "left/audio/item00.wav", always_2d=True)
    two_out, _ = sf.read(tmp_path / "both/audio/item00.wav", always_2d=True)
    assert mono_out.shape[1] == 1 and two_out.shape[1] == 2
    assert abs(mono_out[:, 0] - two_out[:, 0]).max() < 1e-4  # left ear is the same either way


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and modification time."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


class NeedsNoise(AttenuatorProcessor):
    """A per-item backend that declares a further audio column, ``noise``."""

    name = "needs-noise"
    batched = False
    input_columns = ("noise",)

    def __call__(self, audio, listeners, *, inputs=(), rows=(), **options):  # type: ignore[override]
        return super().__call__(audio, listeners, **options)


def test_refused_run_leaves_out_untouched(tmp_path: Path, attenuator) -> None:
    manifest_path = make_speech_manifest(tmp_path / "corpus", count=3)
    out = tmp_path / "out"
    run(manifest_path, out, shard=(1, 2))
    run(manifest_path, out)
    before = snapshot(out)
    assert "ledger.jsonl" in before and "shards/1-of-2/ledger.jsonl" in before
    manifest = load_task_manifest(manifest_path)
    refusals = [
        # other settings in OUT
        (RunError, lambda: run(manifest_path, out, audio_format="flac16")),
        # bad options, under --overwrite (which must not delete the ledger before the checks)
        (RunError, lambda: run(manifest_path, out, overwrite=True, jobs=0)),
        (RunError, lambda: run(manifest_path, out, overwrite=True, executor="spark")),
        (ManifestError, lambda: run(manifest_path, out, overwrite=True, filename="{nope}.{ext}")),
        # the backend needs a column the manifest lacks
        (ManifestError, lambda: run_processor(manifest, NeedsNoise(), RunSettings(out=out, overwrite=True),
                                              task="simulate", backend="needs-noise")),
        (RunError, lambda: run_processor(manifest, type("Batched", (NeedsNoise,), {"batched": True})(),
                                         RunSettings(out=out, overwrite=True, shard=(1, 2)),
                                         task="simulate", backend="needs-noise")),
    ]
    for error, refused_run in refusals:
        with pytest.raises(error):
            refused_run()
        assert snapshot(out) == before
    # a refused first run creates no OUT at all
    with pytest.raises(ManifestError):
        run_processor(manifest, NeedsNoise(), RunSettings(out=tmp_path / "fresh"), task="simulate",
                      backend="needs-noise")
    assert not (tmp_path / "fresh").exists()


def test_skip_invalid_records_failures_and_runs_the_rest(tmp_path: Path, attenuator) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=4)
    (tmp_path / "corpus/audio/item02.wav").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(ManifestError) as refused:
        run(manifest, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "out"
    summary = run(manifest, out, skip_invalid=True)
    assert summary.exit_code == EXIT_FAILED
    failures = list(csv.DictReader((out / "failures.csv").open()))
    assert [(f["id"], f["line"], f["stage"]) for f in failures] == [("item02", "4", "validate")]
    assert failures[0]["message"] == str(refused.value)
    assert sorted(audio_bytes(out)) == ["item00.wav", "item01.wav", "item03.wav"]
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert [r["id"] for r in rows] == ["item00", "item01", "item03"]
    assert summary.counts["invalid"] == 1 and summary.counts["ok"] == 3
    # the others are the bytes of a run without the bad row
    good = make_speech_manifest(tmp_path / "good", count=4)
    run(good, tmp_path / "whole")
    whole = audio_bytes(tmp_path / "whole")
    assert audio_bytes(out) == {name: whole[name] for name in audio_bytes(out)}
    # a rerun keeps the failure row without redoing anything; a shard holds the same rows
    again = run(manifest, out, skip_invalid=True)
    assert again.exit_code == EXIT_FAILED and again.counts["processed"] == 0
    assert list(csv.DictReader((out / "failures.csv").open())) == failures
    for index in (1, 2):
        run(manifest, tmp_path / "sharded", shard=(index, 2), skip_invalid=True)
    counts = merge_runs([tmp_path / "sharded"], tmp_path / "sharded")
    assert counts == {"ok": 3, "failed": 1, "runs": 2}
    assert (tmp_path / "sharded/failures.csv").read_text() == (out / "failures.csv").read_text()
    assert (tmp_path / "sharded/manifest.csv").read_text() == (out / "manifest.csv").read_text()


def test_skip_invalid_through_the_cli(tmp_path: Path) -> None:
    manifest = make_speech_manifest(tmp_path / "corpus", count=3, seconds=0.3)
    (tmp_path / "corpus/audio/item01.wav").write_bytes(b"")
    out = tmp_path / "out"
    refused = CliRunner().invoke(app, ["simulate", str(manifest), "-o", str(out), "-q"])
    assert refused.exit_code == 2 and not out.exists()
    result = CliRunner().invoke(app, ["simulate", str(manifest), "-o", str(out), "--skip-invalid",
                                      "-q",
                                      "--format", "csv"])
    assert result.exit_code == 3, result.output
    failures = list(csv.DictReader((out / "failures.csv").open()))
    assert [(f["id"], f["stage"]) for f in failures] == [("item01", "validate")]
    assert sorted(p.name for p in (out / "audio").iterdir()) == ["item00.wav", "item02.wav"]
