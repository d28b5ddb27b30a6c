"""evaluate: scores equal direct reference calls (clarity engine); the fast engine by default,
equal to it; engines recorded; agreement statistics named by system; resume; failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy import stats
from typer.testing import CliRunner

from hltk.io.listeners import standard_listener
from hltk.metrics.engine_clarity import ScoringSettings
from hltk.metrics.stats import agreement
from hltk.pipelines import evaluate as evaluate_module
from hltk.pipelines.evaluate import EvaluateSettings, compare_scores, score_manifest
from hltk_cli.app import app
from tests.helpers import demo_speech, write_manifest_csv

runner = CliRunner()


def music(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A short piece: a chord progression of harmonic tones plus noise-burst percussion."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    signal = np.zeros_like(t)
    for start, root in enumerate([220.0, 174.6, 261.6, 196.0]):
        gate = (t >= start * seconds / 4) & (t < (start + 1) * seconds / 4)
        for ratio in (1.0, 1.26, 1.5):
            for harmonic in range(1, 5):
                signal += gate * np.sin(2 * np.pi * root * ratio * harmonic * t) / harmonic
    for beat in np.arange(0, seconds, 0.25):
        index = int(beat * rate)
        burst = rng.standard_normal(int(0.03 * rate)) * np.exp(-np.arange(int(0.03 * rate)) / (0.005 * rate))
        signal[index: index + len(burst)] += burst[: len(signal) - index]
    return 0.05 * signal / np.sqrt(np.mean(signal**2))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """Processed/reference pairs: speech (clean vs noisy, vs level-changed) and music."""
    folder = tmp_path_factory.mktemp("pairs")
    rng = np.random.default_rng(3)
    rows = []
    for index, (item, listener) in enumerate([("s01", "N2"), ("s02", "S2"), ("s04", "NH")]):
        clean, rate = demo_speech(item, seconds=1.0)
        noisy = clean + 0.02 * rng.standard_normal(len(clean))
        sf.write(folder / f"ref{index}.wav", clean, rate, subtype="FLOAT")
        sf.write(folder / f"proc{index}.wav", np.stack([noisy, 0.8 * noisy], axis=1), rate, subtype="FLOAT")
        rows.append({"id": f"speech{index}", "audio": f"proc{index}.wav", "reference": f"ref{index}.wav",
                     "listener": listener, "kind": "speech"})
    reference = music(1.0, 24000, 1)
    processed = np.tanh(4 * reference) / 4
    sf.write(folder / "ref_music.wav", reference, 24000, subtype="FLOAT")
    sf.write(folder / "proc_music.wav", processed, 24000, subtype="FLOAT")
    rows.append({"id": "music0", "audio": "proc_music.wav", "reference": "ref_music.wav",
                 "listener": "N3", "kind": "music"})
    return write_manifest_csv(folder / "pairs.csv", rows)


def direct_scores(manifest: Path, item_id: str, seed: int) -> dict[str, float]:
    """The same scores by direct calls to pyclarity, pystoi and pesq."""
    from clarity.evaluator.haaqi import compute_haaqi
    from clarity.evaluator.haspi import haspi_v2
    from clarity.evaluator.hasqi import hasqi_v2
    from pesq import pesq
    from pystoi import stoi
    from soxr import resample

    table = pd.read_csv(manifest, dtype=str).set_index("id")
    row = table.loc[item_id]
    processed, rate = sf.read(manifest.parent / row["audio"], always_2d=True)
    reference, reference_rate = sf.read(manifest.parent / row["reference"], always_2d=True)
    listener = standard_listener(row["listener"]).to_clarity()
    scores = {}
    for index, (ear, audiogram) in enumerate([("left", listener.audiogram_left),
                                              ("right", listener.audiogram_right)]):
        p = processed[:, min(index, processed.shape[1] - 1)]
        r = reference[:, 0]
        np.random.seed(seed)
        scores[f"haspi_{ear}"] = haspi_v2(reference=r, reference_sample_rate=reference_rate, processed=p,
                                          processed_sample_rate=rate, audiogram=audiogram, level1=100.0)[0]
        np.random.seed(seed)
        scores[f"hasqi_{ear}"] = hasqi_v2(reference=r, reference_sample_rate=reference_rate, processed=p,
                                          processed_sample_rate=rate, audiogram=audiogram,
                                          equalisation=1, level1=100.0)[0]
        np.random.seed(seed)
        scores[f"haaqi_{ear}"] = compute_haaqi(
            processed_signal=p, reference_signal=r, processed_sample_rate=rate,
            reference_sample_rate=reference_rate, audiogram=audiogram, equalisation=1, level1=100.0)
        scores[f"stoi_{ear}"] = stoi(r, p, rate, extended=False)
        scores[f"estoi_{ear}"] = stoi(r, p, rate, extended=True)
        scores[f"pesq_{ear}"] = pesq(16000, resample(r, rate, 16000, "VHQ"),
                                     resample(p, rate, 16000, "VHQ"), "wb")
    return scores


def test_scores_equal_direct_reference_calls(pairs: Path, tmp_path: Path) -> None:
    """The clarity engine, the reference, gives pyclarity's (pystoi's, pesq's) numbers exactly."""
    settings = EvaluateSettings(out=tmp_path / "eval", seed=5, engine="clarity",
                                scoring=ScoringSettings(metrics=("haspi", "hasqi", "haaqi", "stoi",
                                                                 "estoi", "pesq", "sisdr")))
    result = score_manifest(pairs, settings)
    assert result.exit_code == 0, (tmp_path / "eval/failures.csv").read_text()
    table = result.scores.set_index("id")
    for item_id in ("speech1", "music0"):
        seed = evaluate_module.item_seed(5, item_id)
        expected = direct_scores(pairs, item_id, seed)
        for column, value in expected.items():
            assert table.loc[item_id, column] == pytest.approx(value, rel=0, abs=0), column
        assert table.loc[item_id, "haspi"] == max(expected["haspi_left"], expected["haspi_right"])
        mean_ears = (expected["haaqi_left"] + expected["haaqi_right"]) / 2
        assert table.loc[item_id, "haaqi"] == pytest.approx(mean_ears)
    assert set(table["severity"]) >= {"MODERATE", "SEVERE", "NOTHING"}


def test_jobs_resume_and_cli(pairs: Path, tmp_path: Path, monkeypatch) -> None:
    base = dict(scoring=ScoringSettings(metrics=("haspi", "stoi", "sisdr")), seed=1, engine="clarity")
    one = score_manifest(pairs, EvaluateSettings(out=tmp_path / "one", **base))
    two = score_manifest(pairs, EvaluateSettings(out=tmp_path / "two", jobs=2, **base))
    pd.testing.assert_frame_equal(one.scores, two.scores)
    # interrupted after the first item: a rerun scores only the missing ones
    real = evaluate_module._score_one
    calls = []

    def interrupt_second(scoring, item, worker):
        calls.append(item.id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(scoring, item, worker)

    monkeypatch.setattr(evaluate_module, "_score_one", interrupt_second)
    partial = score_manifest(pairs, EvaluateSettings(out=tmp_path / "resume", **base))
    assert partial.exit_code == 130 and partial.counts["scored"] == 1
    monkeypatch.setattr(evaluate_module, "_score_one", real)
    resumed = score_manifest(pairs, EvaluateSettings(out=tmp_path / "resume", **base))
    assert resumed.counts == {**resumed.counts, "skipped": 1, "scored": 3}
    pd.testing.assert_frame_equal(resumed.scores, one.scores)
    # the CLI prints the scores table as CSV on stdout
    result = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "one"), "--metrics",
                                 "haspi,stoi,sisdr", "--seed", "1", "--engine", "clarity",
                                 "--format", "json", "-q"])
    assert result.exit_code == 0, result.output
    assert [row["id"] for row in json.loads(result.stdout)] == ["speech0", "speech1", "speech2", "music0"]


def test_silent_reference_is_a_failure_row(pairs: Path, tmp_path: Path) -> None:
    sf.write(tmp_path / "silent.wav", np.zeros(16000), 16000)
    table = pd.read_csv(pairs, dtype=str)
    table.loc[0, "reference"] = str(tmp_path / "silent.wav")
    table.to_csv(tmp_path / "m.csv", index=False)
    for column in ("audio",):
        table[column] = [str(pairs.parent / v) for v in table[column]]
    table.to_csv(tmp_path / "m.csv", index=False)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "m.csv"), "-o", str(tmp_path / "o"),
                                 "--metrics", "stoi,sisdr", "--format", "csv", "--limit", "2",
                                 "--root", str(pairs.parent)])
    assert result.exit_code == 3, result.output
    failures = pd.read_csv(tmp_path / "o/failures.csv")
    assert list(failures["id"]) == ["speech0"] and "silent reference" in failures["message"][0]


def test_agreement_statistics_match_numpy_scipy() -> None:
    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 1, 40)
    system = reference + rng.normal(0, 0.1, 40)
    row = agreement(system, reference, resamples=200)
    assert row["n"] == 40
    assert row["lcc"] == pytest.approx(stats.pearsonr(system, reference)[0], abs=1e-12)
    assert row["srcc"] == pytest.approx(stats.spearmanr(system, reference)[0], abs=1e-12)
    assert row["mse"] == pytest.approx(np.mean((system - reference) ** 2), abs=1e-15)
    assert row["lcc_ci_low"] < row["lcc"] < row["lcc_ci_high"]
    scores_a = pd.DataFrame({"id": [str(i) for i in range(40)], "haspi": system, "split": ["a", "b"] * 20})
    scores_b = pd.DataFrame({"id": [str(i) for i in range(40)][::-1], "haspi": reference[::-1]})
    summary = compare_scores(scores_a, scores_b, ["haspi"], ["split"], resamples=50)
    assert list(summary["group"]) == ["all", "split", "split"]
    assert summary.loc[0, "lcc"] == pytest.approx(row["lcc"], abs=1e-12)
    part = summary[summary["value"] == "a"].iloc[0]
    assert part["n"] == 20
    assert part["srcc"] == pytest.approx(stats.spearmanr(system[::2], reference[::2])[0], abs=1e-12)


def test_against_writes_summary_and_plots(pairs: Path, tmp_path: Path) -> None:
    table = pd.read_csv(pairs, dtype=str)
    other = table.copy()
    other["audio"] = other["reference"]  # a "perfect" second system
    other.to_csv(pairs.parent / "other.csv", index=False)
    result = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "cmp"), "--metrics",
                                 "stoi,sisdr", "--against", str(pairs.parent / "other.csv"),
                                 "--group-by", "kind", "--format", "csv", "-q"])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "cmp/summary.csv")
    assert {"lcc", "srcc", "mse", "lcc_ci_low", "srcc_ci_high"} <= set(summary.columns)
    assert set(summary["metric"]) == {"stoi", "sisdr"} and set(summary["group"]) == {"all", "kind"}
    for metric in ("stoi", "sisdr"):
        for kind in ("scatter", "difference", "severity"):
            assert (tmp_path / f"cmp/plots/{metric}_{kind}.png").stat().st_size > 1000
    # hltk compare gives the same statistics from the two score tables
    again = runner.invoke(app, ["compare", str(tmp_path / "cmp/scores.csv"),
                                str(tmp_path / "cmp/against/scores.csv"), "--format", "csv"])
    assert again.exit_code == 0
    assert again.stdout.splitlines()[0].startswith("metric,group,value,n")


def test_torch_engine_equals_clarity_engine(pairs: Path, tmp_path: Path) -> None:
    """evaluate --engine torch: the batched torch ear model gives pyclarity's scores (the
    full 30+ pair agreement is tests/test_torch_metrics_slow.py)."""
    base = dict(scoring=ScoringSettings(metrics=("haspi", "hasqi", "stoi")), seed=2, limit=2)
    clarity = score_manifest(pairs, EvaluateSettings(out=tmp_path / "clarity", engine="clarity", **base))
    result = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "torch"), "--engine",
                                 "torch", "--metrics", "haspi,hasqi,stoi", "--seed", "2", "--limit",
                                 "2", "--batch-size", "4", "--format", "csv", "-q"])
    assert result.exit_code == 0, result.output
    torch_scores = pd.read_csv(tmp_path / "torch/scores.csv", dtype={"id": str})
    for column in ("haspi_left", "haspi_right", "haspi", "hasqi", "stoi"):
        np.testing.assert_allclose(torch_scores[column], clarity.scores[column], rtol=0, atol=1e-6)
    # 'torch' is the fast engine's former name: recorded under its name
    assert json.loads((tmp_path / "torch/run.json").read_text())["engine"] == "fast"


def _with_silent_reference(pairs: Path, folder: Path) -> Path:
    """The pairs manifest with speech1's reference silent (a scoring failure row)."""
    folder.mkdir(parents=True, exist_ok=True)
    sf.write(folder / "silent.wav", np.zeros(16000), 16000)
    table = pd.read_csv(pairs, dtype=str)
    table.loc[1, "reference"] = str(folder / "silent.wav")
    table.to_csv(folder / "m.csv", index=False)
    return folder / "m.csv"


def test_shards_then_merge_equal_unsharded_scores(pairs: Path, tmp_path: Path) -> None:
    manifest = _with_silent_reference(pairs, tmp_path / "m")
    common = ["--metrics", "stoi,sisdr", "--seed", "2", "--root", str(pairs.parent), "-q"]
    whole = runner.invoke(app, ["evaluate", str(manifest), "-o", str(tmp_path / "whole"), *common])
    assert whole.exit_code == 3, whole.output
    for index in (1, 2):
        shard = runner.invoke(app, ["evaluate", str(manifest), "-o", str(tmp_path / "sharded"),
                                    "--shard", f"{index}/2", *common])
        assert shard.exit_code == (3 if index == 2 else 0), shard.output
        part = pd.read_csv(tmp_path / f"sharded/shards/{index}-of-2/scores.csv", dtype=str)
        assert list(part["id"]) == (["speech0", "speech2"] if index == 1 else ["speech1", "music0"])
    assert not (tmp_path / "sharded/scores.csv").exists()
    merged = runner.invoke(app, ["merge", str(tmp_path / "sharded"), "-q"])
    assert merged.exit_code == 3, merged.output
    for name in ("scores.csv", "failures.csv", "scores.csv.json"):
        assert (tmp_path / "sharded" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    # --against compares whole runs only
    against = runner.invoke(app, ["evaluate", str(manifest), "-o", str(tmp_path / "cmp"), "--shard",
                                  "1/2", "--against", str(tmp_path / "whole"), *common])
    assert against.exit_code == 2 and not (tmp_path / "cmp").exists()


def test_skip_invalid_scores_the_other_rows(pairs: Path, tmp_path: Path) -> None:
    table = pd.read_csv(pairs, dtype=str)
    (tmp_path / "broken.wav").write_bytes(b"this is not audio at all" * 10)
    table.loc[2, "audio"] = str(tmp_path / "broken.wav")
    table.to_csv(tmp_path / "m.csv", index=False)
    args = ["evaluate", str(tmp_path / "m.csv"), "--metrics", "sisdr", "--root", str(pairs.parent), "-q"]
    refused = runner.invoke(app, [*args, "-o", str(tmp_path / "refused")])
    assert refused.exit_code == 2 and "line 4, column 'audio'" in refused.stderr
    assert not (tmp_path / "refused").exists()
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "o"), "--skip-invalid"])
    assert result.exit_code == 3, result.output
    failures = pd.read_csv(tmp_path / "o/failures.csv", dtype=str)
    assert list(zip(failures["id"], failures["line"], failures["stage"], strict=True)) == [
        ("speech2", "4", "validate")]
    message = " ".join(failures["message"][0].split())
    assert message.startswith("m.csv line 4, column 'audio': unreadable audio file")
    assert message in " ".join(refused.stderr.split())  # the refusal's own words
    scores = pd.read_csv(tmp_path / "o/scores.csv", dtype=str)
    assert list(scores["id"]) == ["speech0", "speech1", "music0"]
    assert set(scores["status"]) == {"ok"}


def test_fast_engine_is_the_default_and_recorded(pairs: Path, tmp_path: Path) -> None:
    """Without --engine, evaluate scores with the fast engine: HASPI/HASQI/HAAQI equal the
    clarity engine's to 1e-6, the other metrics are the same numbers, and run.json and the
    sidecar scores.csv.json say which engine, path, device and versions made them."""
    metrics = "haspi,haaqi,stoi,sisdr"
    common = ["--metrics", metrics, "--seed", "3", "--limit", "2", "--format", "csv", "-q"]
    fast = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "fast"), *common])
    assert fast.exit_code == 0, fast.output
    clarity = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "clarity"),
                                  "--engine", "clarity", *common])
    assert clarity.exit_code == 0, clarity.output
    got = pd.read_csv(tmp_path / "fast/scores.csv", dtype={"id": str})
    reference = pd.read_csv(tmp_path / "clarity/scores.csv", dtype={"id": str})
    for column in ("haspi_left", "haspi_right", "haspi", "haaqi_left", "haaqi"):
        np.testing.assert_allclose(got[column], reference[column], rtol=0, atol=1e-6)
    for column in ("stoi_left", "stoi_right", "stoi", "sisdr_left", "sisdr"):
        pd.testing.assert_series_equal(got[column], reference[column])
    import hltk

    for folder, name, path in (("fast", "fast", "compiled"), ("clarity", "clarity", "pyclarity")):
        run = json.loads((tmp_path / folder / "run.json").read_text())
        sidecar = json.loads((tmp_path / folder / "scores.csv.json").read_text())
        assert run["engine"] == name and run["settings"]["engine"] == name
        assert sidecar["table"] == "scores.csv" and sidecar["engine"] == run["scoring_engine"]
        record = sidecar["engine"]
        assert (record["name"], record["ear_model"], record["device"]) == (name, path, "cpu")
        assert record["hltk"] == hltk.__version__ and record["pyclarity"]
        assert sidecar["metrics"] == metrics.split(",") and sidecar["seed"] == 3
    # no ear-model metric: the engine is still named, no ear-model path claimed
    stoi_only = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "stoi"),
                                    "--metrics", "stoi", "--limit", "1", "-q"])
    assert stoi_only.exit_code == 0, stoi_only.output
    record = json.loads((tmp_path / "stoi/scores.csv.json").read_text())["engine"]
    assert record["name"] == "fast" and record["ear_model"] is None


def test_engine_names_aliases_and_presets() -> None:
    from hltk.pipelines.provenance import resolve_engine
    from hltk.runner.settings import RunError

    assert resolve_engine(None) == "fast"
    assert resolve_engine("torch") == "fast" and resolve_engine("clarity") == "clarity"
    with pytest.raises(RunError, match="available engines: fast, clarity, torch"):
        resolve_engine("numpy")
    # the Cadenza preset replays the recipe's random stream: pyclarity's engine only
    assert resolve_engine(None, "cadenza-icassp2024") == "clarity"
    assert resolve_engine("clarity", "cadenza-icassp2024") == "clarity"
    with pytest.raises(RunError, match="scores with the clarity engine"):
        resolve_engine("fast", "cadenza-icassp2024")


def test_preset_refuses_another_engine(pairs: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "o"), "--preset",
                                 "cadenza-icassp2024", "--engine", "fast", "-q"])
    assert result.exit_code == 2 and "scores with the clarity engine" in result.stderr
    assert not (tmp_path / "o").exists()


def _processing_run(pairs: Path, folder: Path, backend: str, audio_from: str = "audio") -> Path:
    """A manifest as a processing run leaves it: OUT/manifest.csv beside OUT/run.json (the
    runner's record names the task and backend)."""
    folder.mkdir(parents=True, exist_ok=True)
    table = pd.read_csv(pairs, dtype=str).head(3)
    table["audio"] = [str(pairs.parent / v) for v in table[audio_from]]
    table["reference"] = [str(pairs.parent / v) for v in table["reference"]]
    table.to_csv(folder / "manifest.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"task": "amplify", "backend": backend}))
    return folder / "manifest.csv"


def _figure_texts(monkeypatch) -> list[str]:
    """Collect the titles, axis labels and legend entries of every saved agreement plot."""
    from hltk.metrics import plots

    texts: list[str] = []
    real = plots._save

    def save(figure, path, plt):  # type: ignore[no-untyped-def]
        for axes in figure.axes:
            texts.extend([axes.get_title(), axes.get_xlabel(), axes.get_ylabel()])
            legend = axes.get_legend()
            if legend is not None:
                texts.extend(t.get_text() for t in legend.get_texts())
        return real(figure, path, plt)

    monkeypatch.setattr(plots, "_save", save)
    return texts


def test_against_names_the_systems_by_backend_or_label(pairs: Path, tmp_path: Path, monkeypatch) -> None:
    """--against: summary.csv keeps mean_system / mean_reference and names them in its system /
    reference columns; the plots' titles, axes and legends name them too; hltk compare derives
    the same names from the score tables' sidecars, and --label / --against-label win."""
    system = _processing_run(pairs, tmp_path / "amp-neuroamp", "neuroamp")
    other = _processing_run(pairs, tmp_path / "amp-nalr", "nalr-wdrc", audio_from="reference")
    texts = _figure_texts(monkeypatch)
    common = ["--metrics", "stoi,sisdr", "--format", "csv", "-q"]
    result = runner.invoke(app, ["evaluate", str(system), "-o", str(tmp_path / "cmp"),
                                 "--against", str(other), *common])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "cmp/summary.csv")
    assert {"mean_system", "mean_reference"} <= set(summary.columns)
    assert set(summary["system"]) == {"neuroamp"} and set(summary["reference"]) == {"nalr-wdrc"}
    assert result.stdout.splitlines()[0].endswith(",system,reference")
    joined = "\n".join(texts)
    assert "the system" not in joined and "reference system" not in joined
    assert "SI-SDR (dB) of nalr-wdrc" in texts and "SI-SDR (dB) of neuroamp" in texts
    assert {"neuroamp", "nalr-wdrc"} <= set(texts)  # the severity plot's legend
    assert any("neuroamp against nalr-wdrc" in t for t in texts)
    assert json.loads((tmp_path / "cmp/scores.csv.json").read_text())["system"]["backend"] == "neuroamp"
    # hltk compare: names from the sidecars; given labels win
    texts.clear()
    again = runner.invoke(app, ["compare", str(tmp_path / "cmp/scores.csv"),
                                str(tmp_path / "cmp/against"), "-o", str(tmp_path / "again"),
                                "--format", "csv"])
    assert again.exit_code == 0, again.output
    assert set(pd.read_csv(tmp_path / "again/summary.csv")["reference"]) == {"nalr-wdrc"}
    assert "STOI of neuroamp" in texts
    labelled = runner.invoke(app, ["compare", str(tmp_path / "cmp"), str(tmp_path / "cmp/against"),
                                   "--label", "NeuroAMP (CNN)", "--against-label", "NAL-R + WDRC",
                                   "--format", "json"])
    assert labelled.exit_code == 0, labelled.output
    rows = json.loads(labelled.stdout)
    assert {(r["system"], r["reference"]) for r in rows} == {("NeuroAMP (CNN)", "NAL-R + WDRC")}
    # evaluate --label / --against-label against an existing scores.csv
    named = runner.invoke(app, ["evaluate", str(system), "-o", str(tmp_path / "named"), "--against",
                                str(tmp_path / "cmp/against/scores.csv"), "--label", "mine",
                                "--against-label", "baseline", "--no-plots", *common])
    assert named.exit_code == 0, named.output
    summary = pd.read_csv(tmp_path / "named/summary.csv")
    assert set(summary["system"]) == {"mine"} and set(summary["reference"]) == {"baseline"}


def test_labels_of_two_runs_of_one_backend_differ(tmp_path: Path) -> None:
    from hltk.pipelines.provenance import distinct_labels, manifest_system, scores_system

    one = {"label": "msbg", "run": "sim-a"}
    two = {"label": "msbg", "run": "sim-b"}
    assert distinct_labels(one, two) == ("msbg (sim-a)", "msbg (sim-b)")
    assert distinct_labels(one, {"label": "msbg", "run": "sim-a"}) == ("msbg (system)", "msbg (reference)")
    assert distinct_labels(one, two, "left", None) == ("left", "msbg")
    # a manifest without a processing run is named by its file (or folder); so is a bare table
    (tmp_path / "hand").mkdir()
    (tmp_path / "hand/pairs.csv").write_text("id,audio,reference\n")
    assert manifest_system(tmp_path / "hand/pairs.csv")["label"] == "pairs"
    (tmp_path / "hand/manifest.csv").write_text("id,audio,reference\n")
    assert manifest_system(tmp_path / "hand/manifest.csv")["label"] == "hand"
    (tmp_path / "t").mkdir()
    (tmp_path / "t/scores.csv").write_text("id,stoi\n")
    assert scores_system(tmp_path / "t")["label"] == "t"


def test_resuming_with_another_engine_says_which(pairs: Path, tmp_path: Path) -> None:
    """An OUT scored with the clarity engine (the default before the fast one) is not mixed
    with fast scores: the refusal names the engine to pass."""
    common = ["--metrics", "sisdr", "--limit", "1", "-q"]
    first = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "o"), "--engine",
                                "clarity", *common])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "o"), *common])
    assert again.exit_code == 2 and "add --engine clarity to go on" in " ".join(again.stderr.split())
    resumed = runner.invoke(app, ["evaluate", str(pairs), "-o", str(tmp_path / "o"), "--engine",
                                  "clarity", *common])
    assert resumed.exit_code == 0, resumed.output


def test_recipe_entry_names_the_stage_that_failed() -> None:
    """Every preset's item goes through one entry shape: a read failure is stage ``read``, a
    scoring failure stage ``score``, neither stops the run; an ok entry has the scores, the wall
    time and the duration that ``read`` gave."""
    from types import SimpleNamespace

    from hltk.metrics.entries import recipe_entry

    item = SimpleNamespace(id="s1", line=2)

    def broken_read() -> tuple[int, float]:
        raise OSError("no such file")

    def broken_score(signals: int) -> dict[str, float]:
        raise ValueError("silent reference")

    [entry] = recipe_entry(item, False, broken_read, lambda signals: {"haspi": 1.0})
    assert (entry["status"], entry["stage"], entry["message"]) == ("failed", "read", "OSError: no such file")
    [entry] = recipe_entry(item, False, lambda: (3, 1.5), broken_score)
    assert (entry["status"], entry["stage"]) == ("failed", "score") and "silent reference" in entry["message"]
    [entry] = recipe_entry(item, False, lambda: (3, 1.5), lambda signals: {"haspi": signals / 4})
    assert entry["status"] == "ok" and entry["scores"] == {"haspi": 0.75} and entry["duration"] == 1.5
    assert entry["seconds"] >= 0 and "stage" not in entry
