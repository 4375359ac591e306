"""The code location: every config in `configs/` (or `$HINDCAST_CONFIGS_DIR`) becomes its own
asset group with its own jobs, generated from the stage table; resources are shared.

Every job and UI backfill runs in-process (DESIGN.md §8: a process per step cost ~40 s per
forecast run); `HINDCAST_EXECUTOR=multiprocess` opts into Dagster's multiprocess executor and
`HINDCAST_EXECUTOR=celery` sends every step to Celery workers (`defs/celery.py`, `make workers`),
`HINDCAST_EXECUTOR=k8s` runs each step as a Kubernetes Job (`deploy/k8s`)."""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import yaml
from dagster import (BetaWarning, Definitions, PreviewWarning, build_reconstructable_job, in_process_executor,
                     multiprocess_executor)

from hindcast_assets.config import ExperimentConfig, config_files, config_from_dict, load_all_configs
from hindcast_assets.defs.assets import build_stage_assets, build_stage_checks
from hindcast_assets.defs.inputs import build_input_assets, build_input_checks
from hindcast_assets.defs.jobs import build_jobs
from hindcast_assets.defs.lifecycle import build_retrain_job, build_retrain_sensor
from hindcast_assets.defs.resources import MlflowTracking, RunDirResource
from hindcast_assets.defs.sensors import build_forecast_sensor, build_mlflow_closers
from hindcast_assets.paths import CONFIGS_DIR
from hindcast_assets.pipeline.table import forecast_stages

warnings.filterwarnings("ignore", category=BetaWarning)  # BackfillPolicy, observable sources: beta in 1.13
warnings.filterwarnings("ignore", category=PreviewWarning)  # partitioned asset checks: preview in 1.13

EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")


def executor(name: str | None = None):
    """The executor `name` (default `$HINDCAST_EXECUTOR`, else in_process)."""
    name = name or os.environ.get("HINDCAST_EXECUTOR") or "in_process"
    if name not in EXECUTORS:
        raise ValueError(f"HINDCAST_EXECUTOR={name!r}: expected one of {', '.join(EXECUTORS)}")
    if name == "celery":
        from hindcast_assets.defs.celery import celery_steps  # dagster-celery only where it is used

        return celery_steps()
    if name == "k8s":  # a pod per step, on a cluster (deploy/k8s)
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return in_process_executor if name == "in_process" else multiprocess_executor


def build_definitions(configs: Sequence[ExperimentConfig], sources: Sequence[str] | None = None,
                      executor_name: str | None = None) -> Definitions:
    """`sources`: each config's file, named in errors (default `configs/<key>.yaml`)."""
    assets, checks, jobs, sensors = [], [], [], []
    for i, cfg in enumerate(configs):
        source = sources[i] if sources else f"configs/{cfg.experiment_key}.yaml"
        assets += [build_input_assets(cfg), *build_stage_assets(cfg, source)]
        checks += [*build_input_checks(cfg), *build_stage_checks(cfg, source)]
        jobs += [*build_jobs(cfg), build_retrain_job(cfg, source)]
        sensors.append(build_retrain_sensor(cfg))
        if forecast_stages(cfg) and cfg.inputs.indices:
            sensors.append(build_forecast_sensor(cfg))
    return Definitions(assets=assets, asset_checks=checks, jobs=jobs, sensors=[*sensors, *build_mlflow_closers()],
                       executor=executor(executor_name),
                       resources={"run_dir": RunDirResource(), "mlflow": MlflowTracking()})


def job_for(config_yaml: str, source: str, job_name: str, executor_name: str):
    """One experiment's job from its resolved config: what a Celery worker or a run process
    rebuilds (by module, function and these string arguments) to run its steps."""
    cfg = config_from_dict(yaml.safe_load(config_yaml), source)
    return build_definitions([cfg], [source], executor_name).resolve_job_def(job_name)


def reconstructable_job(cfg: ExperimentConfig, source: str, job_name: str, executor_name: str):
    """`job_for` as a job other processes can rebuild (the multiprocess and celery executors need one)."""
    resolved = yaml.safe_dump(cfg.resolved(), sort_keys=False)
    return build_reconstructable_job(__name__, job_for.__name__, (resolved, source, job_name, executor_name))


def configs_dir() -> str:
    return os.environ.get("HINDCAST_CONFIGS_DIR") or str(CONFIGS_DIR)


def load_definitions(folder: str) -> Definitions:
    return build_definitions(load_all_configs(folder), [str(p) for p in config_files(folder)])


defs = load_definitions(configs_dir())
