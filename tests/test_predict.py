"""``hltk predict`` and ``hltk manifest cpc2|cpc3|clip``: the logistic recovers a known curve, the
statistics are the recipes' (checked against scipy and a brute-force Kendall tau-b), the
disjoint protocol equals the recipes' per-row refit, and the readers lay out the fake
layouts of tests/data/cpc (made by its make_fake.py) as the recipes read them."""

from __future__ import annotations

import csv
import json
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy import stats as scipy_stats
from scipy.optimize import curve_fit
from typer.testing import CliRunner

from hltk.challenges.clip import write_clip_manifest
from hltk.challenges.cpc2 import parse_signal, write_cpc2_manifest
from hltk.challenges.cpc3 import SEVERITY_AUDIOGRAMS, write_cpc3_manifest
from hltk.io.manifest import ManifestError, load_manifest
from hltk.predict.logistic import (
    INITIAL_GUESS,
    FitError,
    disjoint_mask,
    fit_logistic,
    logistic,
    predict_disjoint,
)
from hltk.predict.statistics import kendall_tau, ncc, prediction_statistics, rmse, std_err
from hltk.synth import signals
from hltk_cli.app import app

FAKE = Path(__file__).parent / "data" / "cpc"
TRUE_X0, TRUE_K = 0.45, 12.0


def synthetic_set(n: int, seed: int, words: int = 10) -> pd.DataFrame:
    """A CPC-like table: better-ear HASPI uniform in [0, 1], correctness = the words a listener
    got right out of ``words``, each right with the known logistic's probability (in %)."""
    rng = np.random.default_rng(seed)
    haspi = rng.uniform(0.0, 1.0, n)
    probability = logistic(haspi, TRUE_X0, TRUE_K) / 100.0
    correctness = 100.0 * rng.binomial(words, probability) / words
    return pd.DataFrame({"id": [f"S{seed}_{i:04d}" for i in range(n)], "haspi": haspi,
                         "correctness": correctness,
                         "system": [f"E{i % 7:03d}" for i in range(n)],
                         "listener": [f"L{i % 11:04d}" for i in range(n)]})


# -- the logistic --------------------------------------------------------------------------


def test_fit_recovers_the_known_logistic() -> None:
    table = synthetic_set(2000, seed=1)
    fit = fit_logistic(table.haspi, table.correctness)
    assert fit.x0 == pytest.approx(TRUE_X0, abs=0.01)
    assert fit.k == pytest.approx(TRUE_K, rel=0.1)
    grid = np.linspace(0, 1, 101)
    assert np.max(np.abs(fit.predict(grid) - logistic(grid, TRUE_X0, TRUE_K))) < 3.0  # percent


def test_fit_is_the_recipes_curve_fit() -> None:
    """The recipe's LogisticModel: 100 / (1 + exp(-k (x - x0))), curve_fit from (0.5, 1.0)."""
    table = synthetic_set(300, seed=2)

    def recipe_mapping(x: np.ndarray, x_0: float, k: float) -> np.ndarray:
        return 100.0 / (1 + np.exp(-k * (x - x_0)))

    params, _ = curve_fit(recipe_mapping, table.haspi, table.correctness, [0.5, 1.0])
    fit = fit_logistic(table.haspi, table.correctness)
    assert INITIAL_GUESS == (0.5, 1.0)
    assert (fit.x0, fit.k) == pytest.approx(tuple(params), rel=1e-9)
    assert fit.n == 300


def test_fit_refuses_too_few_points() -> None:
    with pytest.raises(FitError, match="at least 2"):
        fit_logistic([0.5, np.nan], [50.0, 40.0])


def test_disjoint_prediction_equals_the_recipes_per_row_refit() -> None:
    """predict_train.py refits for every row on the rows sharing neither signal, system nor
    listener; grouping by (system, listener) gives the same predictions with fewer fits."""
    table = synthetic_set(150, seed=3)
    predictions, fits = predict_disjoint(table, "haspi", "correctness", ["system", "listener"])
    expected = []
    for row in range(len(table)):
        train = table[(table.id != table.id[row]) & (table.system != table.system[row])
                      & (table.listener != table.listener[row])]
        expected.append(fit_logistic(train.haspi, train.correctness).predict([table.haspi[row]])[0])
    np.testing.assert_allclose(predictions, expected, rtol=1e-12)
    assert fits == len(set(zip(table.system, table.listener, strict=True))) < len(table)


def test_disjoint_mask_leaves_out_shared_values_and_the_row() -> None:
    table = pd.DataFrame({"system": ["a", "a", "b", "b"], "listener": ["x", "y", "x", "y"]})
    assert disjoint_mask(table, 0, ["system", "listener"]).tolist() == [False, False, False, True]
    assert disjoint_mask(table, 0, []).tolist() == [False, True, True, True]


# -- the statistics --------------------------------------------------------------------------


def _tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b by counting pairs."""
    concordant = discordant = ties_x = ties_y = 0
    for i, j in combinations(range(len(x)), 2):
        dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif dx == dy:
            concordant += 1
        else:
            discordant += 1
    return (concordant - discordant) / np.sqrt((concordant + discordant + ties_x)
                                               * (concordant + discordant + ties_y))


def test_statistics_are_the_recipes_and_scipys() -> None:
    table = synthetic_set(120, seed=4)  # correctness in steps of 10 %: many ties
    predictions = logistic(table.haspi.to_numpy(), 0.5, 10.0)
    truth = table.correctness.to_numpy()
    assert rmse(predictions, truth) == pytest.approx(np.sqrt(np.mean((predictions - truth) ** 2)),
                                                     rel=1e-12)
    assert std_err(predictions, truth) == pytest.approx(
        np.std(predictions - truth) / np.sqrt(len(truth)), rel=1e-12)
    assert ncc(predictions, truth) == pytest.approx(scipy_stats.pearsonr(predictions, truth)[0],
                                                    rel=1e-12)
    assert kendall_tau(predictions, truth) == pytest.approx(
        scipy_stats.kendalltau(predictions, truth)[0], rel=1e-12)
    assert kendall_tau(predictions, truth) == pytest.approx(_tau_b(predictions, truth), rel=1e-12)
    rows = {r["statistic"]: r for r in prediction_statistics(predictions, truth, 300, seed=0)}
    assert list(rows) == ["RMSE", "Std", "NCC", "KT", "SRCC"]
    assert rows["SRCC"]["value"] == pytest.approx(scipy_stats.spearmanr(predictions, truth)[0],
                                                  rel=1e-12)
    for name in ("RMSE", "NCC", "KT", "SRCC"):
        assert rows[name]["ci_low"] < rows[name]["value"] < rows[name]["ci_high"]
    assert rows["Std"]["ci_low"] is None and rows["RMSE"]["n"] == 120


def test_statistics_drop_nan_pairs_and_constant_sides() -> None:
    rows = {r["statistic"]: r["value"] for r in
            prediction_statistics(np.array([1.0, 2.0, np.nan, 4.0]), np.array([1.0, 3.0, 2.0, 5.0]),
                                  resamples=0)}
    assert rows["RMSE"] == pytest.approx(np.sqrt(2 / 3))
    assert np.isnan(ncc(np.ones(4), np.arange(4.0))) and np.isnan(kendall_tau(np.ones(4), np.arange(4.0)))


# -- hltk predict ----------------------------------------------------------------------------


def _scores(path: Path, table: pd.DataFrame) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    scored = table.assign(listener=table.listener, severity="", status="ok", haspi_left=table.haspi,
                          haspi_right=table.haspi)
    scored.to_csv(path / "scores.csv", index=False)
    return path


def test_predict_cli_fits_on_train_and_scores_test(tmp_path: Path) -> None:
    train = _scores(tmp_path / "train", synthetic_set(800, seed=5))
    test_table = synthetic_set(200, seed=6)
    test = _scores(tmp_path / "test", test_table)
    out = tmp_path / "sub" / "CEC2.test.predict.csv"
    result = CliRunner().invoke(app, ["predict", str(test), "--train", str(train), "-o", str(out),
                                      "--score", "--format", "json", "--resamples", "200"])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "signal_ID,intelligibility_score"
    written = pd.read_csv(out)
    assert written.signal_ID.tolist() == test_table.id.tolist()
    record = json.loads(out.with_suffix(".json").read_text())
    x0, k = record["fit"]["x0"], record["fit"]["k"]
    assert (x0, k) == pytest.approx((TRUE_X0, TRUE_K), rel=0.1)
    np.testing.assert_allclose(written.intelligibility_score, logistic(test_table.haspi, x0, k),
                               rtol=1e-15)
    stats = {row["statistic"]: row for row in json.loads(result.stdout)}
    truth = test_table.correctness.to_numpy()
    assert stats["RMSE"]["value"] == pytest.approx(
        np.sqrt(np.mean((written.intelligibility_score - truth) ** 2)), rel=1e-12)
    assert stats["NCC"]["value"] == pytest.approx(
        scipy_stats.pearsonr(written.intelligibility_score, truth)[0], rel=1e-12)
    assert stats["KT"]["value"] == pytest.approx(
        scipy_stats.kendalltau(written.intelligibility_score, truth)[0], rel=1e-12)
    assert record["statistics"][0]["statistic"] == "RMSE"


def test_predict_cli_no_header_and_another_column(tmp_path: Path) -> None:
    table = synthetic_set(60, seed=7).rename(columns={"haspi": "stoi"})
    scores = tmp_path / "scores.csv"
    table.to_csv(scores, index=False)
    out = tmp_path / "dev.predict.csv"
    result = CliRunner().invoke(app, ["predict", str(scores), "--train", str(scores), "-o", str(out),
                                      "--score-column", "stoi", "--no-header", "-q"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open()))
    assert len(rows) == 60 and rows[0][0] == table.id[0] and float(rows[0][1]) > 0


def test_predict_cli_disjoint_without_train(tmp_path: Path) -> None:
    table = synthetic_set(90, seed=8)
    scores = _scores(tmp_path / "s", table)
    out = tmp_path / "train.predict.csv"
    result = CliRunner().invoke(app, ["predict", str(scores), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    expected, _ = predict_disjoint(table, "haspi", "correctness", ["system", "listener"])
    np.testing.assert_allclose(pd.read_csv(out).intelligibility_score, expected, rtol=1e-15)
    assert json.loads(out.with_suffix(".json").read_text())["mode"] == "disjoint by system, listener"


def test_predict_cli_refusals(tmp_path: Path) -> None:
    table = synthetic_set(20, seed=9)
    table.loc[3, "haspi"] = np.nan
    scores = _scores(tmp_path / "s", table)
    runner = CliRunner()
    unscored = runner.invoke(app, ["predict", str(scores), "--train", str(scores),
                                   "-o", str(tmp_path / "p.csv")])
    assert unscored.exit_code == 2 and "no 'haspi' score" in unscored.output
    missing = runner.invoke(app, ["predict", str(scores), "--train", str(scores),
                                  "-o", str(tmp_path / "p.csv"), "--score-column", "hasqi"])
    assert missing.exit_code == 2 and "no column 'hasqi'" in missing.output
    assert not (tmp_path / "p.csv").exists()


# -- the readers -----------------------------------------------------------------------------


def _tone(path: Path, seconds: float = 0.05, rate: int = 16000) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    audio = 0.1 * np.sin(2 * np.pi * 440 * t)
    sf.write(path, np.stack([audio, audio], axis=1), rate, subtype="PCM_16")


def _layout(tmp_path: Path, challenge: str) -> Path:
    root = tmp_path / challenge
    shutil.copytree(FAKE / challenge, root)
    return root


def test_cpc2_manifest(tmp_path: Path) -> None:
    root = _layout(tmp_path, "cpc2")
    data = root / "clarity_data"
    for cec in ("CEC1", "CEC2"):
        for record in json.loads((data / "metadata" / f"{cec}.train.1.json").read_text()):
            # CEC1 where the full package keeps it, CEC2 where the demo package does
            folder = "train.1" if cec == "CEC1" else "signals"
            _tone(data / "HA_outputs" / folder / cec / f"{record['signal']}.wav")
            _tone(data / "scenes" / cec / f"{record['scene']}_target_ref.wav")
    out = tmp_path / "m"
    result = write_cpc2_manifest(root, "train.1", out)
    rows = list(csv.DictReader(result.manifest.open()))
    assert [r["id"] for r in rows] == ["S0101_L0001_E001", "S0102_L0002_E001", "S0201_L0001_E010",
                                       "S0201_L0001_E011_hr", "S0202_L0002_E010",
                                       "S0202_L0002_E011_hr"]
    assert list(rows[0]) == ["id", "audio", "reference", "listener", "scene", "system", "cec",
                             "split", "correctness"]
    last = rows[-1]
    assert (last["system"], last["listener"], last["scene"], last["cec"]) == (
        "E011_hr", "L0002", "S0202", "CEC2")
    assert (out / last["audio"]).resolve() == (
        data / "HA_outputs/signals/CEC2/S0202_L0002_E011_hr.wav").resolve()
    assert (out / rows[0]["audio"]).resolve() == (
        data / "HA_outputs/train.1/CEC1/S0101_L0001_E001.wav").resolve()
    assert (out / last["reference"]).resolve() == (data / "scenes/CEC2/S0202_target_ref.wav").resolve()
    assert [float(r["correctness"]) for r in rows] == [80, 20, 60, 100, 0, 40]
    assert result.listeners is not None
    assert result.listeners.read_bytes() == (data / "metadata/listeners.json").read_bytes()
    manifest = load_manifest(result.manifest, required_columns=("id", "audio", "reference"),
                             audio_columns=("audio", "reference"), require_listener=True)
    assert manifest.items[0].listener is not None and manifest.items[0].listener.id == "L0001"
    assert parse_signal("S0001_L0001_E001_hr") == ("S0001", "L0001", "E001_hr")


def test_cpc2_evaluation_partition_and_missing_files(tmp_path: Path) -> None:
    root = _layout(tmp_path, "cpc2")
    data = root / "clarity_data"
    with pytest.raises(ManifestError, match="no audio file"):
        write_cpc2_manifest(root, "test.1", tmp_path / "m")
    for cec, scene, system in (("CEC1", "S0101", "E001"), ("CEC2", "S0201", "E010")):
        _tone(data / "HA_outputs" / "test.1" / cec / f"{scene}_L0003_{system}.wav")
        _tone(data / "scenes" / cec / f"{scene}_target_ref.wav")
    result = write_cpc2_manifest(data, "test.1", tmp_path / "m", ("CEC2",))
    rows = list(csv.DictReader(result.manifest.open()))
    assert [r["id"] for r in rows] == ["S0201_L0003_E010"] and "correctness" not in rows[0]
    assert not result.with_correctness
    unknown = CliRunner().invoke(app, ["manifest", "cpc2", "--root", str(root), "--split", "eval.9",
                                       "-o", str(tmp_path / "x")])
    assert unknown.exit_code == 2 and "CEC1.train.1.json" in unknown.output


def test_cpc3_manifest_train_and_dev(tmp_path: Path) -> None:
    root = _layout(tmp_path, "cpc3")
    data = root / "clarity_data"
    for record in json.loads((data / "metadata/CPC3.train.json").read_text()):
        cec, _, scene, _ = record["signal"].split("_")
        _tone(data / "train/signals" / f"{record['signal']}.wav")
        _tone(data / "train/references" / f"{cec}_{scene}_ref.wav")
    for record in json.loads((data / "metadata/CPC3.dev.json").read_text()):
        _tone(data / "dev/signals" / f"{record['signal']}.wav")
        _tone(data / "dev/references" / f"{record['signal']}_ref.wav")
    out = tmp_path / "train"
    result = CliRunner().invoke(app, ["manifest", "cpc3", "--root", str(root), "--split", "train",
                                      "-o", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    first = rows[0]
    assert (first["id"], first["listener"], first["hearing_loss"], first["system"], first["scene"]) \
        == ("CEC1_E001_S00101_L0201", "L0201", "Mild", "CEC1_E001", "S00101")
    assert (out / rows[-1]["reference"]).resolve() == (
        data / "train/references/CEC2_S09318_ref.wav").resolve()
    listeners = json.loads((out / "listeners.json").read_text())
    assert listeners["L0203"]["audiogram_levels_l"] == list(SEVERITY_AUDIOGRAMS["Moderately severe"])
    assert listeners["L0202"]["audiogram_cfs"] == [250, 500, 1000, 2000, 3000, 4000, 6000, 8000]
    assert [float(r["correctness"]) for r in rows] == [90, 10, 55, 35, 70, 0]
    dev = write_cpc3_manifest(data, "dev", tmp_path / "dev")
    dev_rows = list(csv.DictReader(dev.manifest.open()))
    assert [(r["listener"], r["hearing_loss"]) for r in dev_rows] == [
        ("Mild", "Mild"), ("Moderately severe", "Moderately severe")]
    assert dev_rows[0]["reference"].endswith("dev/references/fb65e85e504ae136db0184d4_ref.wav")
    assert not dev.with_correctness


def test_cpc3_unknown_listener_is_named(tmp_path: Path) -> None:
    root = _layout(tmp_path, "cpc3")
    csv_path = root / "clarity_data/metadata/listeners.csv"
    csv_path.write_text(csv_path.read_text().replace("L0202,Moderate\n", ""))
    with pytest.raises(ManifestError, match="'L0202' is not in listeners.csv"):
        write_cpc3_manifest(root, "train", tmp_path / "m")


@pytest.mark.parametrize("under_audio", [False, True])
def test_clip_manifest(tmp_path: Path, under_audio: bool) -> None:
    root = _layout(tmp_path, "clip") / "cadenza_data"
    folder = root / "audio" / "train" if under_audio else root / "train"
    for record in json.loads((root / "metadata/train_metadata.json").read_text()):
        _tone(folder / "signals" / f"{record['signal']}.flac")
        _tone(folder / "unprocessed" / f"{record['signal']}_unproc.flac")
    result = write_clip_manifest(root.parent, "train", tmp_path / "m")
    rows = list(csv.DictReader(result.manifest.open()))
    assert [float(r["correctness"]) for r in rows] == pytest.approx([100.0, 33.3333, 0.0])
    assert result.notes == {"correctness_scale": 100} and result.listeners is None
    assert {r["listener"] for r in rows} == {"NH"}
    assert rows[1]["hearing_loss"] == "Mild" and rows[1]["prompt"] == "fake song now"
    assert (tmp_path / "m" / rows[0]["reference"]).resolve() == (
        folder / "unprocessed/c221f2084c780e8f212f4697_unproc.flac").resolve()
    manifest = load_manifest(result.manifest, required_columns=("id", "audio", "reference"),
                             audio_columns=("audio", "reference"), require_listener=True)
    assert manifest.items[0].listener is not None and max(manifest.items[0].listener.left.levels) == 0


def test_cpc3_evaluate_then_predict(tmp_path: Path) -> None:
    """The chain: manifest cpc3 -> evaluate (STOI, quick) -> predict --score on its scores."""
    root = _layout(tmp_path, "cpc3")
    data = root / "clarity_data"
    rng = np.random.default_rng(0)
    rate = 16000
    envelope = np.repeat(rng.uniform(0.1, 1.0, 16), rate // 16)
    for number, record in enumerate(json.loads((data / "metadata/CPC3.train.json").read_text())):
        cec, _, scene, _ = record["signal"].split("_")
        reference = envelope * rng.standard_normal(rate) * 0.05
        reference_path = data / "train/references" / f"{cec}_{scene}_ref.wav"
        if reference_path.exists():
            reference = sf.read(reference_path)[0][:, 0]
        else:
            reference_path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(reference_path, np.stack([reference, reference], 1), rate, subtype="PCM_16")
        noisy = reference + rng.standard_normal(rate) * 0.01 * (1 + 2 * number)
        path = data / "train/signals" / f"{record['signal']}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, np.stack([noisy, noisy], 1), rate, subtype="PCM_16")
    runner = CliRunner()
    assert runner.invoke(app, ["manifest", "cpc3", "--root", str(root), "-o", str(tmp_path / "m"),
                               "-q"]).exit_code == 0
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "m/manifest.csv"), "-o",
                                    str(tmp_path / "e"), "--metrics", "stoi", "-q"])
    assert evaluated.exit_code == 0, evaluated.output
    scores = pd.read_csv(tmp_path / "e/scores.csv")
    assert {"correctness", "system", "listener", "stoi"} <= set(scores.columns)
    out = tmp_path / "p.csv"
    predicted = runner.invoke(app, ["predict", str(tmp_path / "e"), "--train", str(tmp_path / "e"),
                                    "--score-column", "stoi", "-o", str(out), "--score", "-q"])
    assert predicted.exit_code == 0, predicted.output
    assert pd.read_csv(out).signal_ID.tolist() == scores.id.tolist()


@pytest.mark.slow
@pytest.mark.skipif(not signals.has_espeak(), reason="espeak-ng not installed")
def test_haspi_from_evaluate_recovers_a_known_logistic(tmp_path: Path) -> None:
    """The issue's check: better-ear HASPI written by ``hltk evaluate`` on synthetic noisy speech,
    correctness drawn per word from a known logistic of it; ``hltk predict`` recovers the curve
    and its statistics are scipy's."""
    runner = CliRunner()
    corpus, scored = tmp_path / "corpus", tmp_path / "scores"
    assert runner.invoke(app, ["synth", "noisy", "-o", str(corpus), "--n", "60", "--snr=-12:12",
                               "--seed", "3", "-q"]).exit_code == 0
    evaluated = runner.invoke(app, ["evaluate", str(corpus / "manifest.csv"), "-o", str(scored),
                                    "--metrics", "haspi", "--engine", "torch", "-q"])
    assert evaluated.exit_code == 0, evaluated.output
    table = pd.read_csv(scored / "scores.csv", dtype={"id": str})
    rng = np.random.default_rng(7)
    words = table.text.str.split().str.len().to_numpy()
    table["correctness"] = 100 * rng.binomial(words, logistic(table.haspi, 0.6, 10.0) / 100) / words
    table.iloc[:40].to_csv(tmp_path / "train.csv", index=False)
    table.iloc[40:].to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "test.predict.csv"
    predicted = runner.invoke(app, ["predict", str(tmp_path / "test.csv"), "--train",
                                    str(tmp_path / "train.csv"), "-o", str(out), "--score", "-q"])
    assert predicted.exit_code == 0, predicted.output
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["fit"]["x0"] == pytest.approx(0.6, abs=0.1)
    assert record["fit"]["k"] == pytest.approx(10.0, rel=0.5)
    x = pd.read_csv(out).intelligibility_score.to_numpy()
    y = table.correctness.to_numpy()[40:]
    values = {row["statistic"]: row["value"] for row in record["statistics"]}
    assert values["NCC"] == pytest.approx(scipy_stats.pearsonr(x, y)[0], rel=1e-12)
    assert values["KT"] == pytest.approx(scipy_stats.kendalltau(x, y)[0], rel=1e-12)
    assert values["RMSE"] == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), rel=1e-12)
