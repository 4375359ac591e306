"""The code location: every config in `configs/` (or `$HINDCAST_CONFIGS_DIR`) becomes its own
asset group with its own jobs, generated from the stage table; resources are shared.

Every job and UI backfill runs in-process (DESIGN.md §8: a process per step cost ~40 s per
forecast run); `HINDCAST_EXECUTOR=multiprocess` opts into Dagster's multiprocess executor."""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

from dagster import BetaWarning, Definitions, PreviewWarning, in_process_executor, multiprocess_executor

from hindcast_assets.config import ExperimentConfig, config_files, load_all_configs
from hindcast_assets.defs.assets import build_stage_assets, build_stage_checks
from hindcast_assets.defs.inputs import build_input_assets, build_input_checks
from hindcast_assets.defs.jobs import build_jobs
from hindcast_assets.defs.lifecycle import build_retrain_job, build_retrain_sensor
from hindcast_assets.defs.resources import MlflowTracking, RunDirResource
from hindcast_assets.defs.sensors import build_forecast_sensor
from hindcast_assets.paths import CONFIGS_DIR
from hindcast_assets.pipeline.table import forecast_stages

warnings.filterwarnings("ignore", category=BetaWarning)  # BackfillPolicy, observable sources: beta in 1.13
warnings.filterwarnings("ignore", category=PreviewWarning)  # partitioned asset checks: preview in 1.13

EXECUTORS = {"in_process": in_process_executor, "multiprocess": multiprocess_executor}


def executor():
    name = os.environ.get("HINDCAST_EXECUTOR", "in_process")
    if name not in EXECUTORS:
        raise ValueError(f"HINDCAST_EXECUTOR={name!r}: expected one of {sorted(EXECUTORS)}")
    return EXECUTORS[name]


def build_definitions(configs: Sequence[ExperimentConfig], sources: Sequence[str] | None = None) -> Definitions:
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
    return Definitions(assets=assets, asset_checks=checks, jobs=jobs, sensors=sensors, executor=executor(),
                       resources={"run_dir": RunDirResource(), "mlflow": MlflowTracking()})


def configs_dir() -> str:
    return os.environ.get("HINDCAST_CONFIGS_DIR") or str(CONFIGS_DIR)


def load_definitions(folder: str) -> Definitions:
    return build_definitions(load_all_configs(folder), [str(p) for p in config_files(folder)])


defs = load_definitions(configs_dir())
