"""Refresh forecasts when predictor data through a new init date lands, or when the current
run_dir's production model changes. Idempotent: the cursor remembers what was requested. Each
tick also records the inputs' content hashes, so the UI shows what new data made stale. The runs
of one run_dir are queued one at a time (their `hindcast/writes` tag and dagster.yaml's run_queue
limit) and a failed one is retried, so no requested forecast is lost to the run_dir's lease."""
from __future__ import annotations

import json

from dagster import (AddDynamicPartitionsRequest, DagsterRunStatus, DefaultSensorStatus, RunRequest,
                     RunStatusSensorContext, SensorEvaluationContext, SensorResult, SkipReason, run_status_sensor,
                     sensor)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.forecast import available_init_dates
from hindcast_assets.core.parquet import read_parquet
from hindcast_assets.core.rundir import RunDir, content_hash, read_current
from hindcast_assets.defs.execute import run_dir_config
from hindcast_assets.defs.inputs import observe_inputs
from hindcast_assets.defs.jobs import forecast_job_name
from hindcast_assets.defs.partitions import forecast_key, init_date_partitions_name
from hindcast_assets.defs.resources import MAX_RETRIES_TAG, WRITES_TAG, run_dir_tag
from hindcast_assets.paths import default_runs_dir
from hindcast_assets.pipeline import store
from hindcast_assets.core.splits import PRODUCTION


SENSOR_RETRIES = 2


def latest_indices_date(url: str):
    return read_parquet(url, columns=["date"])["date"].max().date()


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
        run_config = run_dir_config(current, quiet=False)
        tags = {run_dir_tag(key): str(current), WRITES_TAG: str(current), MAX_RETRIES_TAG: str(SENSOR_RETRIES)}
        requests = [RunRequest(run_key=k, partition_key=forecast_key(wanted[k]), run_config=run_config, tags=tags)
                    for k in new]
        return SensorResult(run_requests=requests, cursor=json.dumps(sorted(done | set(wanted))),
                            dynamic_partitions_requests=[AddDynamicPartitionsRequest(
                                init_date_partitions_name(key), sorted({str(wanted[k].init) for k in new}))])

    return forecast_refresh


def build_mlflow_closers() -> list:
    """Running by default (the daemon of `dagster dev` evaluates them): a Dagster run that failed
    or was cancelled ends its MLflow runs FAILED or KILLED, even where a step's teardown had ended
    one FINISHED before the run as a whole failed. The CLI's launcher does the same for its runs;
    a killed process's runs are closed by the next launch (`runner.close_dead_runs`)."""
    def closer(status: DagsterRunStatus, mlflow_status: str):
        @run_status_sensor(run_status=status, name=f"mlflow_runs_of_{status.value.lower()}_runs",
                           default_status=DefaultSensorStatus.RUNNING,
                           description=f"End the MLflow runs of {status.value.lower()} Dagster runs {mlflow_status}.")
        def close(context: RunStatusSensorContext):
            from hindcast_assets.pipeline.tracking import Tracker

            Tracker().end_runs_of([context.dagster_run.run_id], mlflow_status)

        return close

    return [closer(DagsterRunStatus.FAILURE, "FAILED"), closer(DagsterRunStatus.CANCELED, "KILLED")]
