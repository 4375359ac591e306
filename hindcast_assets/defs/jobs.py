"""Jobs of one experiment, from the stage table: `<key>__hindcast` (every hindcast stage, all
folds), `<key>__fit_production` (the production partition of the model chain) and
`<key>__forecast` (per season_year x init_date). Each runs its inputs' blocking checks first."""
from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.defs.assets import stage_key
from hindcast_assets.defs.inputs import input_key
from hindcast_assets.defs.resources import experiment_tags
from hindcast_assets.pipeline.table import (Stage, asset_stages, fit_production_stages, forecast_stages,
                                            hindcast_stages)


def hindcast_job_name(key: str) -> str:
    return f"{key}__hindcast"


def fit_production_job_name(key: str) -> str:
    return f"{key}__fit_production"


def forecast_job_name(key: str) -> str:
    return f"{key}__forecast"


def _selection(cfg: ExperimentConfig, stages: list[Stage]) -> AssetSelection:
    """The stages' assets with their checks (check stages among them), and the checks of the inputs they read."""
    reads = sorted({name for s in stages for name in s.inputs})
    assets = [stage_key(cfg, s.name) for s in asset_stages(stages)]
    return (AssetSelection.assets(*assets) | AssetSelection.checks_for_assets(*assets)
            | AssetSelection.checks_for_assets(*(input_key(cfg, name) for name in reads)))


def build_jobs(cfg: ExperimentConfig) -> list:
    key = cfg.experiment_key
    tags = experiment_tags(key)
    jobs = [define_asset_job(hindcast_job_name(key), _selection(cfg, hindcast_stages(cfg)), tags=tags,
                             description=f"{key}: the full walk-forward hindcast, every fold and production."),
            define_asset_job(fit_production_job_name(key), _selection(cfg, fit_production_stages(cfg)), tags=tags,
                             description=f"{key}: the production model only (run it on partition `production`).")]
    if forecast_stages(cfg):
        jobs.append(define_asset_job(forecast_job_name(key), _selection(cfg, forecast_stages(cfg)), tags=tags,
                                     description=f"{key}: in-season forecasts per (season_year, init_date)."))
    return jobs
