"""Jobs of one experiment: `<key>__hindcast` (every hindcast asset, all folds) and
`<key>__fit_production` (the production partition of the model chain, nothing else)."""
from __future__ import annotations

from dagster import AssetsDefinition, AssetSelection, define_asset_job
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from hindcast_assets.defs.hindcast.assets import production_chain
from hindcast_assets.defs.resources import mlflow_failure_hook


def hindcast_job_name(key: str) -> str:
    return f"{key}__hindcast"


def fit_production_job_name(key: str) -> str:
    return f"{key}__fit_production"


def forecast_job_name(key: str) -> str:
    return f"{key}__forecast"


def build_forecast_job(key: str, assets: list[AssetsDefinition]) -> UnresolvedAssetJobDefinition:
    return define_asset_job(forecast_job_name(key), AssetSelection.assets(*assets), hooks={mlflow_failure_hook},
                            description=f"{key}: in-season forecasts per (season_year, init_date) partition.")


def build_hindcast_jobs(key: str, assets: list[AssetsDefinition]) -> list[UnresolvedAssetJobDefinition]:
    hooks = {mlflow_failure_hook}
    return [
        define_asset_job(hindcast_job_name(key), AssetSelection.assets(*assets), hooks=hooks,
                         description=f"{key}: the full walk-forward hindcast, every fold and production."),
        define_asset_job(fit_production_job_name(key), AssetSelection.assets(*production_chain(assets)),
                         hooks=hooks, description=f"{key}: the production model only (run it on partition "
                                                  "`production`)."),
    ]
