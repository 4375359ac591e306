"""Refresh forecasts when predictor data through a new init date lands, or when the current
run_dir's production model changes. Idempotent: the cursor remembers what was requested."""
import json

import pandas as pd
from dagster import (AddDynamicPartitionsRequest, DefaultSensorStatus, RunRequest,
                     SensorEvaluationContext, SensorResult, SkipReason, sensor)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import artefacts as art
from hindcast_assets.core.forecast import available_init_dates
from hindcast_assets.core.rundir import RunDir, content_hash
from hindcast_assets.defs.forecast.assets import init_date_partitions_name, partition_key
from hindcast_assets.defs.hindcast.jobs import forecast_job_name
from hindcast_assets.defs.resources import read_current
from hindcast_assets.paths import default_runs_dir


def latest_indices_date(url: str):
    return pd.read_parquet(url, columns=["date"])["date"].max().date()


def production_version(rd: RunDir, key: str) -> str | None:
    card = rd.model_dir(key, "production") / art.MODEL_CARD
    return content_hash(card.read_bytes())[:16] if card.exists() else None


def build_forecast_sensor(cfg: ExperimentConfig, runs_dir: str | None = None):
    key = cfg.experiment_key

    @sensor(name=f"{key}__forecast_refresh", job_name=forecast_job_name(key), minimum_interval_seconds=60,
            default_status=DefaultSensorStatus.STOPPED,
            description=f"{key}: add init_date partitions as indices data arrives and run their forecasts; "
                        "re-run them when the current run_dir's production model changes.")
    def forecast_refresh(context: SensorEvaluationContext):
        current = read_current(runs_dir or default_runs_dir(), key)
        if not current or cfg.inputs.indices is None:
            return SkipReason(f"{key}: no current run_dir or no indices to watch")
        version = production_version(RunDir(current), key)
        if version is None:
            return SkipReason(f"{key}: {current} has no production model yet")
        latest = latest_indices_date(cfg.inputs.indices)
        inits = available_init_dates(latest, cfg.forecast.init_dates, cfg.forecast_season_years)
        done = set(json.loads(context.cursor or "[]"))
        wanted = {f"{current}|{version}|{init}" for init in inits}
        new = sorted(wanted - done)
        if not new:
            return SkipReason(f"{key}: nothing new (data through {latest})")
        new_inits = [k.rsplit("|", 1)[1] for k in new]
        requests = [RunRequest(run_key=k, partition_key=partition_key(latest.year, init), tags={"run_dir": current})
                    for k, init in zip(new, new_inits)]
        return SensorResult(run_requests=requests, cursor=json.dumps(sorted(done | wanted)),
                            dynamic_partitions_requests=[AddDynamicPartitionsRequest(
                                init_date_partitions_name(key), sorted({init[5:] for init in new_inits}))])

    return forecast_refresh
