"""The forecast refresh sensor: new data through an init date -> one partition and one run;
the same data again -> nothing; a new production model -> the season's forecasts again."""
from __future__ import annotations

import pandas as pd
import pytest
from dagster import DagsterInstance, SensorResult, SkipReason, build_sensor_context

from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import RunDir, set_current
from hindcast_assets.defs.sensors import build_forecast_sensor
from hindcast_assets.launch.hindcast import run_experiment
from hindcast_assets_tests.tiny import write_config


def _data_through(input_dir, last_day: str) -> None:
    path = input_dir / "us_state_corn" / "indices.parquet"
    indices = pd.read_parquet(path)
    indices[indices["date"] <= pd.Timestamp(last_day)].to_parquet(path, index=False)


def _tick(sensor, instance, cursor):
    return sensor(build_sensor_context(instance=instance, cursor=cursor))


@pytest.mark.both_instances
def test_sensor_requests_each_new_init_date_once(tiny_input_dir, tmp_path):
    """July 2011: final yields through 2010, weather arriving through June, then July."""
    cfg = load_config(write_config(tmp_path, hindcast={"first_test_year": 2008, "last_test_year": 2010}))
    yields = tiny_input_dir / "us_state_corn" / "yields.parquet"
    pd.read_parquet(yields).query("season_year <= 2010").to_parquet(yields, index=False)
    runs = str(tmp_path / "runs")
    set_current(runs, "corn_usa", run_experiment(cfg, "fit-production", runs).run_dir)
    sensor = build_forecast_sensor(cfg, runs_dir=runs)
    instance = DagsterInstance.ephemeral()

    full = pd.read_parquet(tiny_input_dir / "us_state_corn" / "indices.parquet")
    _data_through(tiny_input_dir, "2011-06-30")
    first = _tick(sensor, instance, None)
    assert isinstance(first, SensorResult)
    assert [r.partition_key.keys_by_dimension["init_date"] for r in first.run_requests] == ["06-01", "07-01"]
    full[full["date"] <= pd.Timestamp("2011-07-31")].to_parquet(tiny_input_dir / "us_state_corn" / "indices.parquet",
                                                                 index=False)
    second = _tick(sensor, instance, first.cursor)
    assert len(second.run_requests) == 1 and second.run_requests[0].partition_key.keys_by_dimension == {
        "season_year": "2011", "init_date": "08-01"}
    (added,) = second.dynamic_partitions_requests
    assert added.partition_keys == ["08-01"] and added.partitions_def_name == "corn_usa__init_date"
    assert isinstance(_tick(sensor, instance, second.cursor), SkipReason)  # the same data again: nothing

    newer = run_experiment(cfg, "hindcast", runs).run_dir  # a new production model, now current
    again = _tick(sensor, instance, second.cursor)
    assert sorted(r.partition_key.keys_by_dimension["init_date"] for r in again.run_requests) == [
        "06-01", "07-01", "08-01"]
    assert {r.tags["hindcast/run_dir/corn_usa"] for r in again.run_requests} == {str(newer)}
    assert {r.run_config["resources"]["run_dir"]["config"]["run_dir"] for r in again.run_requests} == {str(newer)}


def test_sensor_skips_without_a_current_run_dir_or_a_production_model(tiny_config, tiny_input_dir, tmp_path):
    cfg = load_config(tiny_config)
    runs = str(tmp_path / "runs")
    sensor = build_forecast_sensor(cfg, runs_dir=runs)
    instance = DagsterInstance.ephemeral()
    first = _tick(sensor, instance, None)
    assert isinstance(first, SkipReason) and "no current run_dir" in first.skip_message
    empty = RunDir.mint(runs, "corn_usa")
    set_current(runs, "corn_usa", empty)
    second = _tick(sensor, instance, None)
    assert isinstance(second, SkipReason) and "has no production model yet" in second.skip_message
