"""Forecast partitions (season_year x init_date) on the tiny experiment (drift on real data): the
five files, nothing known before it happened, production-only run_dirs, and the errors a user gets."""
from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from hindcast_assets.cli import main
from hindcast_assets.config import load_config
from hindcast_assets.core.indices_store import read_indices
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.launch.forecast import run_forecast
from hindcast_assets.launch.hindcast import run_experiment
from hindcast_assets_tests.tiny import LIVE

FILES = ["indices.zarr", "features/pred.parquet", "preds/walk_forward_preds.parquet",
         "postprocessed/national.parquet", "delivery/Treefera_corn_usa_Forecast_2011_2011-08-01.csv"]


@pytest.fixture
def hindcast_dir(tiny_hindcast) -> RunDir:
    return tiny_hindcast


def test_a_forecast_partition_writes_the_five_files(hindcast_dir):
    before = dt.datetime.now(dt.timezone.utc).date().isoformat()
    run_forecast(str(hindcast_dir), 2011, "2011-08-01")
    made = {before, dt.datetime.now(dt.timezone.utc).date().isoformat()}  # the run may cross midnight
    folder = hindcast_dir.root / "forecast" / "2011" / "2011-08-01"
    for name in FILES:
        assert (folder / name).exists(), name
    preds = pd.read_parquet(folder / "preds" / "walk_forward_preds.parquet")
    assert set(preds["fold"]) == {"2011"}  # a past season: its own walk-forward fold, never production
    national = pd.read_parquet(folder / "postprocessed" / "national.parquet").iloc[0]
    assert national["geo_id"] == "NATIONAL" and 100 < national["prediction"] < 200
    from hindcast_assets.pipeline.result import ExperimentResult

    forecast = ExperimentResult.from_run_dir(str(hindcast_dir)).forecasts[(2011, "2011-08-01")]
    assert forecast.national["prediction"].iloc[0] == national["prediction"] and len(forecast.geo) == len(preds)
    csv = pd.read_csv(folder / FILES[-1])
    assert list(csv.columns[:5]) == ["season_year", "geo_id", "init_date", "forecast_date", "prediction"]
    assert set(csv["init_date"]) == {"2011-08-01"} and set(csv["forecast_date"]) <= made
    assert csv["geo_id"].iloc[-1] == "NATIONAL" and csv["trend"].notna().all()


def test_nothing_dated_on_or_after_the_init_date_reaches_the_forecast(tiny_config, tiny_input_dir, tmp_path):
    init = "2011-07-01"
    first = run_experiment(load_config(tiny_config), "fit-production", str(tmp_path / "a")).run_dir
    run_forecast(str(first), 2011, init)
    path = tiny_input_dir / "us_state_corn" / "indices.parquet"
    indices = pd.read_parquet(path)
    later = indices["date"] >= pd.Timestamp(init)
    indices.loc[later, "value"] += 9.0
    indices.to_parquet(path, index=False)
    second = run_experiment(load_config(tiny_config), "fit-production", str(tmp_path / "b")).run_dir
    run_forecast(str(second), 2011, init)
    folders = [rd.root / "forecast" / "2011" / init for rd in (first, second)]
    known = [read_indices(f / "indices.zarr")[0] for f in folders]
    assert known[0]["date"].max() == pd.Timestamp("2011-06-30") and known[0].equals(known[1])
    # (predictions may differ: the production model itself trains on 2011's whole season)
    assert (folders[0] / "features" / "pred.parquet").read_bytes() == (folders[1] / "features" / "pred.parquet").read_bytes()
    features = pd.read_parquet(folders[0] / "features" / "pred.parquet")
    assert features["tavg_jun"].notna().all() and features["tavg_jul"].isna().all()  # July not over yet


def test_a_production_only_run_dir_forecasts_without_intervals(tiny_config, tmp_path, capsys):
    rd = run_experiment(load_config(tiny_config), "fit-production", str(tmp_path / "runs")).run_dir
    # 2011 is a test season of the config, but this run_dir has no walk-forward fold for it
    assert main(["run", "forecast", "--run-dir", str(rd), "--season-year", "2011", "--init-date", "2011-09-01"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("national forecast 2011 as of 2011-09-01: ") and out[-1].endswith("2011/2011-09-01")
    national = pd.read_parquet(rd.root / "forecast" / "2011" / "2011-09-01" / "postprocessed" / "national.parquet")
    assert national["fold"].iloc[0] == "production"
    assert national.filter(like="lower_").isna().all(axis=None)  # no sidecars in a production-only run_dir


def test_forecast_errors_name_what_is_missing(tiny_config, tmp_path, capsys):
    rd = run_experiment(load_config(tiny_config), "fit-production", str(tmp_path / "runs")).run_dir
    cases = {("2011", "2011-13-01"): "init_date: '2011-13-01' is not a date",
             ("2011", "2010-08-01"): "init_date: 2010-08-01 is not in season 2011",
             ("1950", "1950-08-01"): "forecast: season 1950 is outside"}
    for (season, init), message in cases.items():
        assert main(["run", "forecast", "--run-dir", str(rd), "--season-year", season, "--init-date", init]) == 2
        assert message in capsys.readouterr().err
    for p in sorted((rd.root / "models").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    assert main(["run", "forecast", "--run-dir", str(rd), "--season-year", "2011", "--init-date", "2011-08-01"]) == 2
    # the manifest still records them: the first one missing is named (never a silent switch of fold)
    assert "models/corn_usa/production/model_card.json: missing (model name" in capsys.readouterr().err
    assert not (rd.root / "forecast").exists()


@pytest.mark.long_running
@pytest.mark.both_instances
def test_backfill_over_two_seasons_and_two_init_dates(hindcast_dir, instance_profile, capsys):
    from dagster import DagsterInstance

    before = len(DagsterInstance.get().get_runs())
    argv = ["backfill", "forecast", "--run-dir", str(hindcast_dir), "--season-years", "2010", "2011",
            "--init-dates", "07-01", "09-01"]
    sessions = _postgres_sessions() if instance_profile == "postgres" else 0
    assert main(argv) == 0
    if instance_profile == "postgres":  # the launcher holds its connections (one per query: 1,412 here)
        assert _postgres_sessions() - sessions < 40
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 5 and out[-1] == str(hindcast_dir) and out[0].startswith("national forecast 2010 as of 2010-07-01")
    for season in (2010, 2011):
        for md in ("07-01", "09-01"):
            folder = hindcast_dir.root / "forecast" / str(season) / f"{season}-{md}"
            assert (folder / "postprocessed" / "national.parquet").exists()
            preds = pd.read_parquet(folder / "preds" / "walk_forward_preds.parquet")
            assert set(preds["fold"]) == {str(season)}
    runs = DagsterInstance.get().get_runs()[: len(DagsterInstance.get().get_runs()) - before]
    assert len(runs) == 4 and all(r.is_success for r in runs)
    assert main(argv) == 0  # a second backfill of the same partitions rewrites nothing and succeeds


def _postgres_sessions() -> int:
    """Connections ever made to the PostgreSQL instance's database."""
    import os

    import psycopg2

    from hindcast_assets.instance import libpq_url

    url = libpq_url(os.environ["DAGSTER_PG_URL"])
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (url.rsplit("/", 1)[1],))
        return cursor.fetchone()[0]


# the instance's part (sensor cursor, runs, partitions) is the same for either season, and the
# season's (which fold forecasts) the same on either instance: each instance replays one season
@pytest.mark.parametrize("season, fold, instance_profile", [
    pytest.param(2011, "2011", "sqlite", id="sqlite-2011"),
    pytest.param(LIVE, "production", "postgres", marks=pytest.mark.scaleout, id=f"postgres-{LIVE}-production")],
                         indirect=["instance_profile"])
def test_replay_lets_the_sensor_make_each_forecast_as_its_data_arrives(season, fold, instance_profile, hindcast_dir,
                                                                       capsys):
    """A tested season replays on its own fold; the live season (no yields) on production."""
    assert main(["replay", "--run-dir", str(hindcast_dir), "--season-year", str(season)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str(hindcast_dir) and len(out) == 13
    assert out[3] == f"data through {season}-04-30: no new forecast"
    assert out[4].startswith(f"data through {season}-05-31: {season}-06-01: ")
    assert out[8].startswith(f"data through {season}-09-30: {season}-10-01: ") and out[9].endswith("no new forecast")
    made = sorted(p.name for p in (hindcast_dir.root / "forecast" / str(season)).iterdir())
    assert made == [f"{season}-{md}" for md in ("06-01", "07-01", "08-01", "09-01", "10-01")]
    preds = pd.read_parquet(hindcast_dir.root / "forecast" / str(season) / f"{season}-08-01" / "preds"
                                      / "walk_forward_preds.parquet")
    assert set(preds["fold"]) == {fold}


@pytest.mark.both_instances
def test_a_range_over_seasons_is_one_run_as_a_ui_backfill_makes_it(hindcast_dir):
    """Every season x init month-day is a valid partition, so the single-run ranges that a UI
    backfill of a rectangle becomes (one init month-day, consecutive seasons) all succeed."""
    from dagster import AssetKey, DagsterInstance

    from hindcast_assets.pipeline.store import read_config
    from hindcast_assets.definitions import build_definitions
    from hindcast_assets.defs.resources import RANGE_END, RANGE_START

    instance = DagsterInstance.get()
    instance.add_dynamic_partitions("corn_usa__init_date", ["07-01", "08-01"])
    job = build_definitions([read_config(hindcast_dir)]).resolve_job_def("corn_usa__forecast")
    result = job.execute_in_process(
        instance=instance, tags={RANGE_START: "08-01|2010", RANGE_END: "08-01|2011"},
        run_config={"resources": {"run_dir": {"config": {"run_dir": str(hindcast_dir)}}}})
    assert result.success
    for season in (2010, 2011):
        assert (hindcast_dir.root / "forecast" / str(season) / f"{season}-08-01" / "delivery"
                / f"Treefera_corn_usa_Forecast_{season}_{season}-08-01.csv").exists()
    done = instance.get_materialized_partitions(AssetKey(["corn_usa", "forecast_delivery"]))
    assert {str(k) for k in done} == {"08-01|2010", "08-01|2011"}


def test_a_forecast_launched_through_the_asset_job_is_one_finished_mlflow_run(hindcast_dir):
    """As the UI launches it: the implicit asset job, run_dir in run config, no job hook."""
    from dagster import AssetKey, DagsterInstance
    from mlflow.tracking import MlflowClient

    from hindcast_assets.definitions import build_definitions
    from hindcast_assets.pipeline.store import read_config

    instance = DagsterInstance.get()
    instance.add_dynamic_partitions("corn_usa__init_date", ["09-01"])
    defs = build_definitions([read_config(hindcast_dir)])
    keys = [k for k in defs.resolve_asset_graph().get_all_asset_keys() if k.path[-1].startswith("forecast_")]
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=keys, partition_key="09-01|2011",
        run_config={"resources": {"run_dir": {"config": {"run_dir": str(hindcast_dir)}}}})
    assert result.success and len(keys) == 6 and AssetKey(["corn_usa", "forecast_delivery"]) in keys
    client = MlflowClient()
    tracked = [r for e in client.search_experiments() for r in
               client.search_runs([e.experiment_id], f"tags.dagster_run_id = '{result.run_id}'")]
    assert [r.info.status for r in tracked] == ["FINISHED"]
    assert tracked[0].data.tags["run_dir"] == str(hindcast_dir)
    assert "national_prediction_2011-09-01" in tracked[0].data.metrics


def _drift_evaluations() -> dict[str, object]:
    """The forecast features' drift check evaluations on the instance, by partition key."""
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    key = AssetCheckKey(AssetKey(["corn_usa", "forecast_features"]), "forecast_drift")
    history = DagsterInstance.get().event_log_storage.get_asset_check_execution_history(key, limit=10)
    evaluations = [r.event.dagster_event.event_specific_data for r in history if r.event]
    return {e.partition: e for e in evaluations}


def test_shifted_features_raise_the_drift_check_and_unshifted_pass(small_config, input_dir, tmp_path):
    """Season 2024 arrives as a copy of 2011's weather and condition (seasons the production model
    trained on): the check passes. The same weather 8 degC hotter and with four times the rain is
    an ERROR, and the forecast is still made, with its drift report beside it."""
    rd = run_experiment(load_config(small_config), "fit-production", str(tmp_path / "runs")).run_dir
    folder = input_dir / "us_state_corn"
    indices, condition = (pd.read_parquet(folder / f) for f in ("indices.parquet", "crop_condition.parquet"))

    def as_2024(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["date"].dt.year == 2011].assign(date=lambda f: f["date"] + pd.DateOffset(years=13))

    def land(weather: pd.DataFrame) -> None:
        for frame, copy, name in ((indices, weather, "indices"), (condition, as_2024(condition), "crop_condition")):
            pd.concat([frame[frame["date"].dt.year != 2024], copy]).to_parquet(folder / f"{name}.parquet", index=False)

    copy = as_2024(indices).assign(date=lambda f: f["date"] + pd.offsets.MonthEnd(0))  # (2011 -> 2024: leap year)
    land(copy)
    run_forecast(str(rd), 2024, "2024-08-01")
    shifted = copy.assign(value=copy["value"].where(copy["variable"] == "prcp", copy["value"] + 8.0))
    shifted.loc[shifted["variable"] == "prcp", "value"] *= 4
    land(shifted)
    run_forecast(str(rd), 2024, "2024-09-01")

    checks = _drift_evaluations()
    calm, hot = checks["08-01|2024"], checks["09-01|2024"]
    # 2011's hot July, below 30 %; the condition is 5 features of one value each (ranked, not KS over geos)
    assert calm.passed and "3 of 17 features drifted (18%" in calm.description
    assert not hot.passed and hot.severity.value == "ERROR" and "16 of 21 features drifted" in hot.description
    reports = rd.root / "forecast" / "2024" / "2024-09-01" / "reports"
    summary = json.loads((reports / "drift.json").read_text())
    assert summary["n_drifted"] == 16 and summary["total"] == 21 and summary["not_known"] == ["tavg_sep", "tmax_sep",
                                                                                        "tmin_sep", "prcp_sep"]
    assert summary["report_path"] == str(reports / "drift.md") and "**ERROR**" in (reports / "drift.md").read_text()
    assert (reports / "drift.png").read_bytes()[:4] == b"\x89PNG"
    assert (reports.parent / "postprocessed" / "national.parquet").exists()


def test_a_forecasts_indices_store_is_verified_by_its_contents(hindcast_dir, tmp_path, capsys):
    """Values x10 inside `indices.zarr`, its own attributes untouched: the manifest holds the hash of
    the store's files, so every later read of it (show, the season table) refuses it."""
    import shutil

    import numpy as np
    import zarr

    run_forecast(str(hindcast_dir), 2011, "2011-07-01")
    copy = tmp_path / "run"
    shutil.copytree(str(hindcast_dir.root), copy)
    store = copy / "forecast" / "2011" / "2011-07-01" / "indices.zarr"
    values = zarr.open_group(str(store), mode="r+", zarr_format=2)["value"]
    values[:] = np.asarray(values[:]) * 10
    capsys.readouterr()
    assert main(["show", str(copy)]) == 2
    assert capsys.readouterr().err == (f"hindcast: error: {store}: sha256 differs from {copy}/manifest.json; this "
                                       "run_dir was changed after it was written\n")
