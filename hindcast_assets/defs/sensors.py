"""Refresh forecasts when predictor data through a new init date lands, or when the current
run_dir's production model changes. Idempotent: the cursor remembers what was requested. Each
tick also records the inputs' content hashes, so the UI shows what new data made stale."""
from __future__ import annotations

import json

import pandas as pd
from dagster import (AddDynamicPartitionsRequest, DefaultSensorStatus, RunRequest, SensorEvaluationContext,
                     SensorResult, SkipReason, sensor)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.forecast import available_init_dates
from hindcast_assets.core.rundir import RunDir, content_hash, read_current
from hindcast_assets.defs.inputs import observe_inputs
from hindcast_assets.defs.jobs import forecast_job_name
from hindcast_assets.defs.partitions import forecast_key, init_date_partitions_name
from hindcast_assets.defs.resources import run_dir_tag
from hindcast_assets.paths import default_runs_dir
from hindcast_assets.pipeline import store
from hindcast_assets.core.splits import PRODUCTION


def latest_indices_date(url: str):
    return pd.read_parquet(url, columns=["date"])["date"].max().date()


def production_version(rd: RunDir, key: str) -> str | None:
    card = store.MODEL_CARD.path(rd, key=key, fold=PRODUCTION, member="")
    return content_hash(card.read_bytes())[:16] if card.exists() else None


def stopped_sensor(name: str, job_name: str, every_s: int, description: str):
    """A sensor that a user turns on (in the UI or with `dagster sensor start`): stopped by default."""
    return sensor(name=name, job_name=job_name, minimum_interval_seconds=every_s,
                  default_status=DefaultSensorStatus.STOPPED, description=description)


def build_forecast_sensor(cfg: ExperimentConfig, runs_dir: str | None = None):
    key = cfg.experiment_key

    @stopped_sensor(f"{key}__forecast_refresh", forecast_job_name(key), 60,
                    f"{key}: add init_date partitions as indices data arrives and run their forecasts; "
                    "re-run them when the current run_dir's production model changes.")
    def forecast_refresh(context: SensorEvaluationContext):
        observe_inputs(context.instance, cfg)
        current = read_current(runs_dir or default_runs_dir(), key)
        if current is None:
            return SkipReason(f"{key}: no current run_dir (run `hindcast run hindcast` to make one)")
        version = production_version(current, key)
        if version is None:
            return SkipReason(f"{key}: {current} has no production model yet")
        latest = latest_indices_date(cfg.inputs.indices)
        dates = available_init_dates(latest, cfg.forecast.init_dates, cfg.forecast_season_years)
        done = set(json.loads(context.cursor or "[]"))
        wanted = {f"{current}|{version}|{at}": at for at in dates}
        new = sorted(set(wanted) - done)
        if not new:
            return SkipReason(f"{key}: nothing new (data through {latest})")
        run_config = {"resources": {"run_dir": {"config": {"run_dir": str(current)}}}}
        requests = [RunRequest(run_key=k, partition_key=forecast_key(wanted[k]), run_config=run_config,
                               tags={run_dir_tag(key): str(current)}) for k in new]
        return SensorResult(run_requests=requests, cursor=json.dumps(sorted(done | set(wanted))),
                            dynamic_partitions_requests=[AddDynamicPartitionsRequest(
                                init_date_partitions_name(key), sorted({str(wanted[k].init) for k in new}))])

    return forecast_refresh
