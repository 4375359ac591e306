"""Run an experiment's job through Dagster on the persistent instance, as the CLI does.

One Dagster run covers every fold partition (a partition range), per DESIGN.md §8.
"""
from __future__ import annotations

from dataclasses import dataclass

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import load_experiment_data
from hindcast_assets.core.geos import included_geos
from hindcast_assets.core.hindcast import fold_of
from hindcast_assets.core.result import ExperimentResult
from hindcast_assets.core.rundir import RunDir

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class PreflightError(ValueError):
    """The experiment cannot run honestly; raised before anything is written."""


class RunFailed(RuntimeError):
    pass


def preflight(cfg: ExperimentConfig, source: str) -> None:
    """Inputs exist and are well formed (see core.data), geos pass the rule and the first fold
    has seasons to train on; raises before any run_dir exists. (That no feature is known only
    after its as-of day is checked when the config loads.)"""
    data = load_experiment_data(cfg)
    if not included_geos(data.yields, cfg.geos, cfg.hindcast.first_test_year):
        raise PreflightError(f"{cfg.inputs.yields}: geos: no geo passes the inclusion rule before "
                             f"{cfg.hindcast.first_test_year}")
    first = fold_of(cfg, data.yields, str(cfg.hindcast.first_test_year))
    if len(first.train_seasons) < 2:
        raise PreflightError(f"{source}: hindcast.first_test_year: fold {first.name} has "
                             f"{len(first.train_seasons)} training seasons; a trend needs at least 2")


@dataclass
class RunOutcome:
    run_dir: RunDir
    dagster_run_id: str
    result: ExperimentResult

    def summary(self) -> str:
        return self.result.summary()


def run_experiment(cfg: ExperimentConfig, what: str, runs_dir: str) -> RunOutcome:
    """Mint a run_dir and materialise `hindcast` or `fit-production` into it in one Dagster run."""
    from dagster import DagsterInstance

    from hindcast_assets.defs.hindcast.jobs import fit_production_job_name, hindcast_job_name
    from hindcast_assets.defs.resources import set_current
    from hindcast_assets.definitions import build_definitions

    key = cfg.experiment_key
    production = what == "fit-production"
    job = build_definitions([cfg]).resolve_job_def(
        fit_production_job_name(key) if production else hindcast_job_name(key))
    rd = RunDir.mint(runs_dir, key)
    run_config = {**QUIET, "resources": {"run_dir": {"config": {"run_dir": str(rd)}}}}
    tags = {"run_dir": str(rd)}
    if production:
        result = job.execute_in_process(instance=DagsterInstance.get(), run_config=run_config, tags=tags,
                                        partition_key="production", raise_on_error=False)
    else:
        tags |= {RANGE_START: cfg.folds[0], RANGE_END: cfg.folds[-1]}
        result = job.execute_in_process(instance=DagsterInstance.get(), run_config=run_config, tags=tags,
                                        raise_on_error=False)
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_step_failure]
        raise RunFailed(f"dagster run {result.run_id} failed (run_dir {rd}): {failures[:1]}")
    if not production:
        set_current(runs_dir, key, rd)
    return RunOutcome(rd, result.run_id, ExperimentResult.from_run_dir(rd))


def run_forecast(run_dir: str, season_year: int, init_date: str) -> RunDir:
    """Materialise the forecast of (season_year, init_date) into an existing run_dir."""
    return run_forecasts(run_dir, [(season_year, init_date)])


def run_forecasts(run_dir: str, partitions: list[tuple[int, str]]) -> RunDir:
    """Forecasts of several (season_year, init_date) into an existing run_dir, validated first
    (nothing runs on a bad date, season or missing model), then one in-process Dagster run each:
    a multi-partition range would also span other seasons' init dates, so each forecast is its
    own small run (~1 s here), all in one process."""
    from dagster import DagsterInstance

    from hindcast_assets.core.artefacts import forecast_fold, read_config, read_fold_models
    from hindcast_assets.core.forecast import parse_init_date
    from hindcast_assets.definitions import build_definitions
    from hindcast_assets.defs.forecast.assets import init_date_partitions_name, partition_key
    from hindcast_assets.defs.hindcast.jobs import forecast_job_name

    rd = RunDir(run_dir)
    cfg = read_config(rd)
    key = cfg.experiment_key
    for season_year, init_date in partitions:
        parse_init_date(init_date, season_year)
        if season_year not in cfg.forecast_season_years:
            raise PreflightError(f"{rd.config_path}: forecast: season {season_year} is outside "
                                 f"{cfg.forecast_season_years[0]}-{cfg.forecast_season_years[-1]}")
        read_fold_models(rd, key, forecast_fold(rd, key, cfg, season_year))  # a missing model: one clear error
    instance = DagsterInstance.get()
    instance.add_dynamic_partitions(init_date_partitions_name(key), sorted({i[5:] for _, i in partitions}))
    job = build_definitions([cfg]).resolve_job_def(forecast_job_name(key))
    run_config = {**QUIET, "resources": {"run_dir": {"config": {"run_dir": str(rd)}}}}
    for season_year, init_date in partitions:
        result = job.execute_in_process(instance=instance, partition_key=partition_key(season_year, init_date),
                                        raise_on_error=False,
                                        run_config=run_config, tags={"run_dir": str(rd)})
        if not result.success:
            failures = [e.message for e in result.all_events if e.is_step_failure]
            raise RunFailed(f"dagster run {result.run_id} failed (run_dir {rd}): {failures[:1]}")
    return rd
