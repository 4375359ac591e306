"""The `hindcast` CLI end to end: run_dir, Dagster runs, MLflow runs, bad input; the hindcast and the
live season on real data, the production-only runs on the tiny experiment (tiny.py)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from hindcast_assets.cli import main
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.core.rundir import RunDir, content_hash
from hindcast_assets.core.rundir import read_current
from hindcast_assets_tests.conftest import write_config


def _run(capsys, *argv) -> tuple[int, list[str], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err


def _mlflow_runs():
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    return [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


def test_fit_production_writes_only_the_production_model(tiny_config, tmp_path, capsys):
    runs = tmp_path / "runs"
    code, out, err = _run(capsys, "run", "fit-production", "--config", str(tiny_config), "--runs-dir", str(runs))
    assert code == 0, err
    rd = RunDir(out[-1])
    assert rd.root.parent == runs and rd.root.name.endswith("_corn_usa")
    assert {p.name for p in rd.root.iterdir()} == {"config_resolved.yaml", "included_geo_identifiers.txt", "models",
                                                   "manifest.json", "logs", "metrics"}
    assert [p.name for p in (rd.root / "models" / "corn_usa").iterdir()] == ["production"]
    assert "fold production (1/1, 0 left)" in err
    result = ExperimentResult.from_run_dir(out[-1])
    assert list(result.hindcast) == ["production"] and result.production.train_preds is None
    assert result.complete is True and result.manifest.job == "fit-production"  # its plan: production only
    assert read_current(str(runs), "corn_usa") is None  # only a completed hindcast becomes current
    (run,) = DagsterInstance.get().get_runs()
    assert run.job_name == "corn_usa__fit_production" and run.is_success
    (tracked,) = _mlflow_runs()
    assert tracked.info.status == "FINISHED" and tracked.data.tags["run_dir"] == out[-1]
    assert tracked.data.tags["dagster_run_id"] == run.run_id


def test_hindcast_run_then_show(small_config, tmp_path, capsys):
    runs = tmp_path / "runs"
    code, out, err = _run(capsys, "run", "hindcast", "--config", str(small_config), "--runs-dir", str(runs))
    assert code == 0, err
    run_dir = out[-1]
    assert any(line.split()[:3] == ["national", "model", "RMSE"] for line in out)
    assert str(read_current(str(runs), "corn_usa")) == run_dir
    # the UI's forecast grid offers the configured init dates from the first hindcast on
    assert DagsterInstance.get().get_dynamic_partitions("corn_usa__init_date") == \
        ["06-01", "07-01", "08-01", "09-01", "10-01"]
    result = ExperimentResult.from_run_dir(run_dir)
    assert list(result.hindcast) == ["2009", "2010", "2011", "production"]
    wf = result.walk_forward_preds()
    assert sorted(wf["season_year"].unique()) == [2009, 2010, 2011]
    assert set(wf["geo_id"]) <= set(result.included_geos)
    (tracked,) = _mlflow_runs()
    assert tracked.info.status == "FINISHED"
    assert {"wf_rmse_lightgbm_2009", "wf_rmse_trend_2011", "train_rmse_lightgbm_production"} <= set(tracked.data.metrics)
    assert tracked.data.params["model.name"] == "lightgbm"
    assert set(result.calibration) == {"absolute", "relative"}
    assert result.national["season_year"].tolist() == [2009, 2010, 2011]
    # 3 test seasons are fewer than min_folds (5): the geo quantiles come from the 5 warm-up seasons
    # before 2009 and the earlier test seasons; the national ones from the inner refits of every
    # season before the test season
    table = result.calibration["absolute"].table
    geo, national = table[table["scope"] == "geo"], table[table["scope"] == "national"]
    assert geo["quantile"].notna().all() and geo["first_season"].eq(2004).all()
    assert geo.set_index("calibrated_for")["n_seasons"].to_dict() == {"2009": 5, "2010": 6, "2011": 7, "production": 8}
    assert national["quantile"].notna().all()
    assert national.set_index("calibrated_for")["n_seasons"].to_dict() == {"2009": 39, "2010": 40, "2011": 41,
                                                                          "production": 54}  # 1970-2023
    code, shown, _ = _run(capsys, "show", run_dir)
    assert code == 0 and shown[0] == f"run_dir: {run_dir}"
    assert any(line.startswith("calibration absolute (production): geo 80%: ") and "nan" not in line for line in shown)
    assert any("production" in line and "preds: train" in line for line in shown)


def test_two_runs_in_one_process_are_two_finished_mlflow_runs(tiny_config, tmp_path, capsys):
    for _ in range(2):
        assert _run(capsys, "run", "fit-production", "--config", str(tiny_config),
                    "--runs-dir", str(tmp_path / "runs"))[0] == 0
    tracked = _mlflow_runs()
    assert len(tracked) == 2 and {r.info.status for r in tracked} == {"FINISHED"}
    assert len({r.data.tags["run_dir"] for r in tracked}) == 2
    for run in tracked:  # named for what it is: experiment, job, partition, run_dir stamp
        stamp = Path(run.data.tags["run_dir"]).name.removesuffix("_corn_usa")
        assert run.info.run_name == f"corn_usa · fit_production · production · {stamp}"


def test_a_failing_run_ends_its_mlflow_run_failed(tmp_path, input_dir, capsys):
    config = write_config(tmp_path, hindcast={"first_test_year": 2011, "last_test_year": 2011},
                          model={"name": "lightgbm", "params": {"objective": "no_such_objective"}})
    code, out, err = _run(capsys, "run", "fit-production", "--config", str(config),
                          "--runs-dir", str(tmp_path / "runs"))
    assert code == 2 and "failed" in err
    (tracked,) = _mlflow_runs()
    assert tracked.info.status == "FAILED"
    assert not DagsterInstance.get().get_runs()[0].is_success


def _corrupt_yields(input_dir, change):
    path = input_dir / "us_state_corn" / "yields.parquet"
    df = pd.read_parquet(path)
    change(df).to_parquet(path, index=False)
    return str(path)


BAD_YIELDS = {
    "duplicate": (lambda df: pd.concat([df, df.iloc[[100]]]), "duplicate geo_id x season_year"),
    "nan_target": (lambda df: df.assign(yield_bu_per_acre=df["yield_bu_per_acre"].where(df.index != 7)),
                   "'yield_bu_per_acre' (columns.target) is NaN"),
    "missing_area": (lambda df: df.drop(columns="harvested_acres"), "'harvested_acres' (columns.area) is missing"),
    "negative_area": (lambda df: df.assign(harvested_acres=-df["harvested_acres"]), "is negative"),
}


@pytest.mark.parametrize("case", sorted(BAD_YIELDS))
def test_bad_yields_are_refused_before_any_run_dir(case, small_config, input_dir, tmp_path, capsys):
    change, message = BAD_YIELDS[case]
    path = _corrupt_yields(input_dir, change)
    runs = tmp_path / "runs"
    code, out, err = _run(capsys, "run", "hindcast", "--config", str(small_config), "--runs-dir", str(runs))
    assert code == 2 and message in err and path in err
    assert out == [] and not runs.exists()
    assert not DagsterInstance.get().get_runs()


def test_bad_config_and_missing_input_are_refused_before_any_run_dir(tmp_path, input_dir, capsys):
    runs = tmp_path / "runs"
    cases = {
        "model.name: unknown model 'nope'": {"model": {"name": "nope"}},
        "features.as_of": {"features": {"as_of": "09-31"}},
        "features.months: months [9]": {"features": {"as_of": "09-15"}},
        "inputs.yields: file not found": {"inputs": {"yields": "/nowhere/yields.parquet"}},
    }
    for i, (message, overrides) in enumerate(cases.items()):
        (tmp_path / str(i)).mkdir()
        config = write_config(tmp_path / str(i), **overrides)
        code, out, err = _run(capsys, "run", "hindcast", "--config", str(config), "--runs-dir", str(runs))
        assert code == 2 and message in err and (message.startswith("inputs") or str(config) in err), err
    malformed = tmp_path / "malformed.yaml"
    malformed.write_text("experiment_key: [unclosed\n")
    code, _, err = _run(capsys, "run", "hindcast", "--config", str(malformed), "--runs-dir", str(runs))
    assert code == 2 and f"{malformed}: line" in err and "malformed YAML" in err
    assert not runs.exists()


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("artefact, command", [
    ("detrender.pkl", ["show"]),  # a read-only command
    ("bias_corrector.pkl", ["run", "forecast", "--season-year", "2010", "--init-date", "2010-08-01", "--run-dir"]),
])
def test_a_crafted_pickle_is_refused_and_runs_nothing(artefact, command, small_hindcast, tmp_path, capsys):
    import pickle
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(str(small_hindcast.root), copy, ignore=shutil.ignore_patterns("forecast"))
    marker = tmp_path / "marker"
    crafted = pickle.dumps(_Exploit(marker))
    path = copy / "models" / "corn_usa" / "2010" / artefact
    path.write_bytes(crafted)
    code, out, err = _run(capsys, *command, str(copy))  # the manifest's sha256 catches it first
    assert code == 2 and out == [] and not marker.exists()
    assert err.strip() == (f"hindcast: error: {path}: sha256 differs from {copy}/manifest.json; this run_dir was "
                           "changed after it was written")
    # with the manifest forged too, the allow-list still refuses to run anything
    manifest = copy / "manifest.json"
    manifest.write_text(manifest.read_text().replace(_recorded(manifest, path, copy), content_hash(crafted)))
    code, out, err = _run(capsys, *command, str(copy))
    assert code == 2 and out == [] and not marker.exists()
    assert err.strip() == (f"hindcast: error: {path}: refused to load: it references posix.system, which is not on "
                           "the allow-list (LinearTrend, BiasCorrector, numpy scalars)")
    assert not (copy / "forecast").exists()


def _recorded(manifest, path, root) -> str:
    import json

    rel = str(path.relative_to(root))
    return next(a["sha256"] for a in json.loads(manifest.read_text())["artefacts"] if a["path"] == rel)


def test_an_unknown_instance_profile_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HINDCAST_INSTANCE", "oracle")
    assert main(["backfill", "forecast", "--run-dir", str(tmp_path), "--season-years", "2011",
                 "--init-dates", "08-01"]) == 2
    assert capsys.readouterr().err == "hindcast: error: HINDCAST_INSTANCE='oracle': expected one of sqlite, postgres\n"


def test_the_live_season_is_forecast_by_production_beside_usda_with_its_weather_vintages(small_hindcast, capsys):
    """2025 has no state yields: its forecast comes from the production fold (trained through
    2023), on the 2025-26 weather supplement, and `hindcast season` sets it beside USDA's August
    forecast (188.8) and annual estimate (186.5) and names the weather vintages it used."""
    import io

    run_dir = str(small_hindcast.root)
    code, out, _ = _run(capsys, "run", "forecast", "--run-dir", run_dir, "--season-year", "2025",
                        "--init-date", "2025-08-01")
    assert code == 0 and out[0].startswith("national forecast 2025 as of 2025-08-01: ")
    code, out, _ = _run(capsys, "season", run_dir, "--season-year", "2025", "--csv")
    table = pd.read_csv(io.StringIO("\n".join(out)))  # (other tests may have forecast other 2025 dates)
    row = table.set_index("init_date").loc["2025-08-01"]
    assert code == 0 and set(table["season_year"]) == {2025} and (row.season_year, row.fold) == (2025, "production")
    assert (row.yardstick, row.final) == (188.8, 186.5) and row.ours_error == pytest.approx(row.ours - 186.5)
    assert row.low_80 < row.ours < row.high_80 and row.low_90 < row.low_80
    assert "tmax, tmin: nclimdiv-20241205, nclimdiv-20260904" in row.vintages  # Oct-Nov 2024 pre-season, then 2025
    assert "prcp, tavg: nclimdiv-20260205" in row.vintages
