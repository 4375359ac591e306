"""Partitions of one experiment, module-level functions of its config: folds, and forecasts as
season_year x init_date where an init_date key is the month-day in the season (`08-01`), so
every pair in the UI's grid is a forecast that can be made."""
from __future__ import annotations

from dagster import DynamicPartitionsDefinition, MultiPartitionKey, MultiPartitionsDefinition, \
    StaticPartitionsDefinition

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.season_dates import ForecastDate, MonthDay
from hindcast_assets.pipeline.table import Partitioning

SEASON, INIT = "season_year", "init_date"


def init_date_partitions_name(key: str) -> str:
    return f"{key}__init_date"


def fold_partitions(cfg: ExperimentConfig) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(cfg.folds)


def forecast_partitions(cfg: ExperimentConfig) -> MultiPartitionsDefinition:
    return MultiPartitionsDefinition({
        SEASON: StaticPartitionsDefinition([str(y) for y in cfg.forecast_season_years]),
        INIT: DynamicPartitionsDefinition(name=init_date_partitions_name(cfg.experiment_key))})


def partitions_def(cfg: ExperimentConfig, partitioning: Partitioning):
    return {Partitioning.NONE: None, Partitioning.FOLD: fold_partitions(cfg),
            Partitioning.FORECAST: forecast_partitions(cfg)}[partitioning]


def forecast_key(at: ForecastDate) -> MultiPartitionKey:
    return MultiPartitionKey({SEASON: str(at.season_year), INIT: str(at.init)})


def forecast_date(key) -> ForecastDate:
    """The forecast of a multi-partition key (an object, or the string 'MM-DD|season')."""
    dims = key.keys_by_dimension if hasattr(key, "keys_by_dimension") else dict(zip((INIT, SEASON), key.split("|")))
    return ForecastDate(int(dims[SEASON]), MonthDay.parse(dims[INIT]))


def stage_partition(partitioning: Partitioning, key):
    """What a stage function takes for a Dagster partition key: a fold name, a ForecastDate or None."""
    if partitioning is Partitioning.FORECAST:
        return forecast_date(key)
    return key if partitioning is Partitioning.FOLD else None
