"""`hindcast replay`: make a past season's monthly data arrive one month at a time and let the
forecast sensor decide what to run, printing each national forecast as it is made.

The sensor watches a replay copy of the indices table (holding only what has "arrived") and
points at the given run_dir as the experiment's current one; the forecasts themselves read the
run_dir's inputs truncated at the init date, exactly as in production.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd


@dataclass
class Arrival:
    data_through: dt.date
    forecasts: list[tuple[str, pd.Series]]  # (forecast date, national row) made at this arrival


def replay(run_dir: str, season_year: int) -> Iterator[Arrival]:
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from hindcast_assets.core.rundir import RunDir, set_current
    from hindcast_assets.defs.partitions import forecast_date
    from hindcast_assets.defs.sensors import build_forecast_sensor
    from hindcast_assets.pipeline import store
    from hindcast_assets.runner import PreflightError, run_forecasts

    rd = RunDir(run_dir)
    cfg = store.read_config(rd)
    if cfg.inputs.indices is None:
        raise PreflightError(f"{store.CONFIG.path(rd)}: inputs.indices: nothing arrives in season to replay")
    full = pd.read_parquet(cfg.inputs.indices)
    with tempfile.TemporaryDirectory(prefix="hindcast_replay_") as scratch:
        arrived = f"{scratch}/indices.parquet"
        replay_cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"indices": arrived})})
        set_current(f"{scratch}/runs", cfg.experiment_key, rd)
        sensor = build_forecast_sensor(replay_cfg, runs_dir=f"{scratch}/runs")
        instance, cursor = DagsterInstance.get(), None
        for month in range(1, 13):
            through = (pd.Timestamp(season_year, month, 1) + pd.offsets.MonthEnd(0)).date()
            full[full["date"] <= pd.Timestamp(through)].to_parquet(arrived, index=False)
            result = sensor(build_sensor_context(instance=instance, cursor=cursor))
            made = []
            if isinstance(result, SensorResult):
                cursor = result.cursor
                dates = [forecast_date(r.partition_key) for r in result.run_requests]
                run_forecasts(run_dir, dates)
                made = [(str(at), store.FORECAST_NATIONAL.read(rd, **store.forecast_fields(at)).iloc[0])
                        for at in dates]
            yield Arrival(through, made)
