"""The code location: every config in `configs/` (or `$HINDCAST_CONFIGS_DIR`) becomes its own
asset group with its own jobs; resources are shared."""
from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

from dagster import BetaWarning, Definitions

from hindcast_assets.config import ExperimentConfig, load_all_configs
from hindcast_assets.defs.hindcast.assets import build_hindcast_assets
from hindcast_assets.defs.forecast.assets import build_forecast_assets
from hindcast_assets.defs.forecast.sensors import build_forecast_sensor
from hindcast_assets.defs.hindcast.jobs import build_forecast_job, build_hindcast_jobs
from hindcast_assets.defs.resources import MlflowTracking, RunDirResource
from hindcast_assets.paths import CONFIGS_DIR


warnings.filterwarnings("ignore", category=BetaWarning)  # BackfillPolicy is beta in 1.13


def build_definitions(configs: Sequence[ExperimentConfig]) -> Definitions:
    assets, jobs, sensors = [], [], []
    for cfg in configs:
        experiment_assets = build_hindcast_assets(cfg)
        assets += experiment_assets
        jobs += build_hindcast_jobs(cfg.experiment_key, experiment_assets)
        if cfg.features.static:  # whole-season features are never known in season: no forecasts
            continue
        forecast_assets = build_forecast_assets(cfg, experiment_assets)
        assets += forecast_assets
        jobs.append(build_forecast_job(cfg.experiment_key, forecast_assets))
        if cfg.inputs.indices:
            sensors.append(build_forecast_sensor(cfg))
    return Definitions(assets=assets, jobs=jobs, sensors=sensors,
                       resources={"run_dir": RunDirResource(), "mlflow": MlflowTracking()})


def configs_dir() -> str:
    return os.environ.get("HINDCAST_CONFIGS_DIR") or str(CONFIGS_DIR)


defs = build_definitions(load_all_configs(configs_dir()))
