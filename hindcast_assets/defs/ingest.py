"""The ingest in the UI (docs/guide/ingest.md): for the sources an experiment's config names
(`ingest.indices`; `ingest.yields`, `ingest.yardstick`, `ingest.regional`), an asset each in its
inputs' group (`<key>/ingest_weather`, `<key>/ingest_nass`) that pulls them (`pipeline/ingest.py`,
as `hindcast ingest` does), records the inputs' new data versions and checks the weather's and the
condition's freshness; a job `<key>__ingest` and a schedule, stopped until a user starts it. A bad
pull fails the run with its one line and leaves the last good input current."""
from __future__ import annotations

import datetime as dt

import pandas as pd
from dagster import (AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey, DefaultScheduleStatus,
                     Definitions, MaterializeResult, MetadataValue, ScheduleDefinition, asset,
                     define_asset_job)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import quickstats
from hindcast_assets.core.freshness import Cadence, complete_through, needed, staleness
from hindcast_assets.core.parquet import read_parquet
from hindcast_assets.defs.groups import Group, group_name
from hindcast_assets.defs.inputs import observe_inputs
from hindcast_assets.defs.resources import experiment_tags
from hindcast_assets.pipeline.ingest import Pull, ingest_nass, ingest_noaa

WEATHER_FRESH, CONDITION_FRESH = "weather_fresh", "condition_fresh"
CONDITION = Cadence("crop condition", quickstats.WEEKLY_LAG_DAYS, slack_days=6)  # weekly, dated at the Sunday


def ingest_job_name(key: str) -> str:
    return f"{key}__ingest"


def weather_cadence(cfg: ExperimentConfig) -> Cadence:
    return Cadence("weather", cfg.ingest.publication_lag_days)


def freshness_check(cfg: ExperimentConfig, name: str, cadence: Cadence, series: pd.DataFrame,
                    today: dt.date) -> AssetCheckResult:
    """WARN when a series (long `date, variable, value`) ends before the newest forecast due
    today needs it."""
    newest = complete_through(series)
    problem = staleness(cadence, newest, needed(cadence, cfg.forecast.init_dates, today))
    return AssetCheckResult(check_name=name, passed=problem is None, severity=AssetCheckSeverity.WARN,
                            description=problem or f"the {cadence.name} reaches {newest.isoformat()}",
                            metadata={"newest": newest.isoformat()})


def _long(cfg: ExperimentConfig, path) -> pd.DataFrame:
    """An input of dated values under the canonical column names."""
    c = cfg.columns
    return read_parquet(path).rename(columns={c.date: "date", c.variable: "variable", c.value: "value"})


def _pull_metadata(pull: Pull) -> dict:
    return {**{f"path_{name}": MetadataValue.path(str(path)) for name, path in pull.inputs.items()},
            "fetched": ", ".join(pull.fetched) or "none",
            "vintages": MetadataValue.json(pull.vintages)}


def _weather_asset(cfg: ExperimentConfig):
    key = AssetKey([cfg.experiment_key, "ingest_weather"])

    @asset(key=key, group_name=group_name(cfg, Group.INPUTS), kinds={"python"},
           check_specs=[AssetCheckSpec(WEATHER_FRESH, asset=key, description="Weather through the month the "
                                                                              "newest forecast due today needs")],
           description=f"Pulls NOAA nClimDiv statewide monthly weather (every vintage kept) and rebuilds "
                       f"inputs.indices ({cfg.inputs.indices}).")
    def ingest_weather(context) -> MaterializeResult:
        pull = ingest_noaa(cfg)
        observe_inputs(context.instance, cfg)  # the inputs' data versions: the rebuilt file's content hash
        check = freshness_check(cfg, WEATHER_FRESH, weather_cadence(cfg), _long(cfg, pull.inputs["indices"]),
                                dt.date.today())
        return MaterializeResult(metadata=_pull_metadata(pull), check_results=[check])

    return ingest_weather


def _nass_asset(cfg: ExperimentConfig):
    key = AssetKey([cfg.experiment_key, "ingest_nass"])
    checks = [AssetCheckSpec(CONDITION_FRESH, asset=key, description="Crop condition through the week the newest "
                                                                      "forecast due today needs")] \
        if cfg.ingest.regional else []

    @asset(key=key, group_name=group_name(cfg, Group.INPUTS), check_specs=checks,
           kinds={"python"}, description="Pulls from NASS Quick Stats what ingest names (state corn yields and "
                                         "acres, USDA's national forecasts, the weekly condition; every vintage "
                                         "kept; key in $NASS_API_KEY) and rebuilds those inputs; new final yields "
                                         "reach the retrain sensor.")
    def ingest_nass_asset(context) -> MaterializeResult:
        pull = ingest_nass(cfg)
        observe_inputs(context.instance, cfg)
        fresh = [freshness_check(cfg, CONDITION_FRESH, CONDITION, _long(cfg, pull.inputs["regional"]),
                                 dt.date.today())] if checks else []
        return MaterializeResult(metadata=_pull_metadata(pull), check_results=fresh)

    return ingest_nass_asset


def build_ingest(cfg: ExperimentConfig) -> Definitions:
    """The experiment's ingest assets, job and schedule; nothing when its config names no source."""
    nass = cfg.ingest.yields or cfg.ingest.yardstick or cfg.ingest.regional
    assets = [make(cfg) for source, make in ((cfg.ingest.indices, _weather_asset), (nass, _nass_asset))
              if source is not None]
    if not assets:
        return Definitions()
    job = define_asset_job(ingest_job_name(cfg.experiment_key), assets, tags=experiment_tags(cfg.experiment_key),
                           description=f"{cfg.experiment_key}: pull the configured sources and rebuild their inputs.")
    schedule = ScheduleDefinition(name=f"{cfg.experiment_key}__ingest_schedule", job=job,
                                  cron_schedule=cfg.ingest.schedule, default_status=DefaultScheduleStatus.STOPPED,
                                  description=f"{cfg.experiment_key}: the monthly pull (ingest.schedule)")
    return Definitions(assets=assets, jobs=[job], schedules=[schedule])
