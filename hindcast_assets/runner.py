"""The CLI's launcher: run an experiment's job through Dagster on the persistent instance.

One Dagster run covers every fold partition (a partition range), per DESIGN.md §8. The launcher
mints the run_dir, passes it as run config and as a run tag, and records the inputs' content
hashes first, so the UI can tell later which artefacts new data made stale.
"""
from __future__ import annotations

from dataclasses import dataclass

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import load_experiment_data, load_input
from hindcast_assets.core.geos import included_geos
from hindcast_assets.core.hindcast import fold_of
from hindcast_assets.core.rundir import RunDir, set_current
from hindcast_assets.core.season_dates import ForecastDate
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.result import ExperimentResult

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
    load_input(cfg, "references")
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


def _job(cfg: ExperimentConfig, job_name: str, source: str):
    """The job on the persistent instance, the inputs' content hashes recorded first."""
    from dagster import DagsterInstance

    from hindcast_assets.definitions import build_definitions
    from hindcast_assets.defs.inputs import observe_inputs

    instance = DagsterInstance.get()
    observe_inputs(instance, cfg)
    return instance, build_definitions([cfg], [source]).resolve_job_def(job_name)


def _execute(instance, job, cfg: ExperimentConfig, rd: RunDir, **kwargs):
    """One in-process Dagster run of `job` writing `rd`; raises RunFailed with the cause."""
    from hindcast_assets.defs.resources import run_dir_tag

    run_config = {**QUIET, "resources": {"run_dir": {"config": {"run_dir": str(rd)}}}}
    tags = {run_dir_tag(cfg.experiment_key): str(rd), **kwargs.pop("tags", {})}
    result = job.execute_in_process(instance=instance, run_config=run_config, tags=tags, raise_on_error=False,
                                    **kwargs)
    if not result.success:
        failures = [e.message for e in result.all_events if e.is_step_failure]
        raise RunFailed(f"dagster run {result.run_id} failed (run_dir {rd}): {failures[:1]}")
    return result


def run_experiment(cfg: ExperimentConfig, what: str, runs_dir: str, source: str | None = None) -> RunOutcome:
    """Mint a run_dir and materialise `hindcast` or `fit-production` into it in one Dagster run;
    a completed hindcast becomes the experiment's current run_dir."""
    from hindcast_assets.defs.jobs import fit_production_job_name, hindcast_job_name

    key, source = cfg.experiment_key, source or f"configs/{cfg.experiment_key}.yaml"
    rd = RunDir.mint(runs_dir, key)
    if what == "fit-production":
        result = _execute(*_job(cfg, fit_production_job_name(key), source), cfg, rd, partition_key=PRODUCTION)
    else:
        result = _execute(*_job(cfg, hindcast_job_name(key), source), cfg, rd,
                          tags={RANGE_START: cfg.folds[0], RANGE_END: cfg.folds[-1]})
        set_current(runs_dir, key, rd)
    return RunOutcome(rd, result.run_id, ExperimentResult.from_run_dir(rd))


def run_forecast(run_dir: str, season_year: int, init_date: str) -> RunDir:
    """Materialise the forecast of (season_year, init_date) into an existing run_dir."""
    return run_forecasts(run_dir, [ForecastDate.parse(init_date, season_year)])


def run_forecasts(run_dir: str, dates: list[ForecastDate]) -> RunDir:
    """Forecasts into an existing run_dir, validated first (nothing runs on a bad season or a
    missing model), then one in-process Dagster run each: a multi-partition range would also span
    other seasons' init dates, so each forecast is its own small run (~1 s here), in one process."""
    from hindcast_assets.defs.jobs import forecast_job_name
    from hindcast_assets.defs.partitions import forecast_key, init_date_partitions_name

    rd = RunDir(run_dir)
    cfg = store.read_config(rd)
    key = cfg.experiment_key
    for at in dates:
        if at.season_year not in cfg.forecast_season_years:
            raise PreflightError(f"{store.CONFIG.path(rd)}: forecast: season {at.season_year} is outside "
                                 f"{cfg.forecast_season_years[0]}-{cfg.forecast_season_years[-1]}")
        store.read_fold_models(rd, key, store.forecast_fold(rd, key, cfg, at.season_year))  # one clear error
    instance, job = _job(cfg, forecast_job_name(key), str(store.CONFIG.path(rd)))
    instance.add_dynamic_partitions(init_date_partitions_name(key), sorted({str(d.init) for d in dates}))
    for at in dates:
        _execute(instance, job, cfg, rd, partition_key=forecast_key(at))
    return rd
