"""The CLI's launcher: run an experiment's job through Dagster on the persistent instance.

One Dagster run covers every fold partition (a partition range), per DESIGN.md §8. The launcher
mints the run_dir, passes it as run config and as a run tag, and records the inputs' content
hashes first, so the UI can tell later which artefacts new data made stale.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import load_input
from hindcast_assets.core.preflight import check_experiment
from hindcast_assets.core.forecast import require_season_data
from hindcast_assets.core.lease import Lease, pid_alive
from hindcast_assets.core.rundir import RunDir, remove_orphan_temps, set_current
from hindcast_assets.core.season_dates import ForecastDate
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.lifecycle import RetrainingResult, promote_if_first, register
from hindcast_assets.pipeline.registry import CHAMPION, ModelVersion, Registry
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.pipeline.runlog import (forecast_needs, incomplete_for, open_run_dir, read_manifest,
                                             require_inputs_unchanged, verify)
from hindcast_assets.pipeline.table import fit_production_stages, hindcast_stages

if TYPE_CHECKING:
    from hindcast_assets.parallel import Phase

LAUNCH_TAG = "hindcast/launch"  # the runs of one launcher call: closed together if it fails or is interrupted
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


class PreflightError(ValueError):
    """The experiment cannot run honestly; raised before anything is written."""


class RunFailed(RuntimeError):
    pass


def preflight(cfg: ExperimentConfig, source: str) -> None:
    """Inputs exist and are well formed, and the rules between them and the config hold
    (core/preflight.py); raises before any run_dir exists. (That no feature is known only after
    its as-of day is checked when the config loads.)"""
    check_experiment(cfg, source)


def check_runs_dir(runs_dir: str) -> None:
    """The folder run_dirs are minted in exists or can be made, and takes files: checked before
    any run, so an OS error is one line, not a traceback after the inputs were read."""
    from upath import UPath

    folder = UPath(runs_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe.{os.getpid()}.tmp"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PreflightError(f"{runs_dir}: --runs-dir: cannot create run_dirs there "
                             f"({exc.strerror or type(exc).__name__})") from None


@dataclass
class RunOutcome:
    run_dir: RunDir
    dagster_run_id: str
    result: ExperimentResult
    registered: ModelVersion | None = None  # a completed hindcast's registry version

    def summary(self) -> str:
        return "\n".join([self.result.summary(), *([self.registry_line()] if self.registered else [])])

    def registry_line(self) -> str:
        v = self.registered
        if CHAMPION in v.aliases:
            return f"champion: version {v.version} of registered model {v.name} ({v.reason})"
        return (f"registered as version {v.version} of {v.name}, not promoted: the experiment has a champion; "
                f"`hindcast retrain` compares them, `hindcast promote {self.run_dir} --reason ...` signs it off")


def close_dead_runs(instance) -> list[str]:
    """Dagster runs left STARTED on this host by a process that was killed (kill -9 leaves no
    chance to end them; the run's resource tags it with its pid): reported failed, and their
    MLflow runs ended KILLED. Every CLI launch and resume does this first, so no killed run, from
    the CLI or the UI, stays open past the next launch."""
    from dagster import DagsterRunStatus, RunsFilter

    from hindcast_assets.defs.resources import HOST_TAG, PID_TAG

    open_runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING],
                                             tags={HOST_TAG: socket.gethostname()}))
    dead = [r for r in open_runs if PID_TAG in r.tags and not pid_alive(int(r.tags[PID_TAG]))]
    for run in dead:
        instance.report_run_failed(run, message=f"run process {run.tags[PID_TAG]} ended without ending the "
                                                "run (killed); found by the next launch on this host")
    if dead:
        from hindcast_assets.pipeline.tracking import Tracker

        Tracker().end_runs_of([r.run_id for r in dead], "KILLED")
    return [r.run_id for r in dead]


@contextmanager
def runs_closed_on_failure(instance, tags: dict[str, str]) -> Iterator[dict[str, str]]:
    """Tags naming the runs launched in the block: if the block raises (a failed run, Ctrl-C),
    those runs are reported failed where they are still open, and their MLflow runs end FAILED
    (KILLED when interrupted), even where a step's teardown had ended one FINISHED."""
    from dagster import DagsterRunStatus, RunsFilter

    from hindcast_assets.pipeline.tracking import Tracker

    launch = {LAUNCH_TAG: uuid.uuid4().hex, **tags}
    try:
        yield launch
    except BaseException as exc:
        runs = instance.get_runs(RunsFilter(tags={LAUNCH_TAG: launch[LAUNCH_TAG]}))
        for run in runs:
            if run.status in (DagsterRunStatus.STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.NOT_STARTED):
                instance.report_run_failed(run, message=f"interrupted in the launcher ({type(exc).__name__})")
        Tracker().end_runs_of([r.run_id for r in runs], "FAILED" if isinstance(exc, RunFailed) else "KILLED")
        raise


def _instance(cfg: ExperimentConfig):
    """The persistent instance, killed runs closed and the inputs' content hashes recorded first."""
    from dagster import DagsterInstance

    from hindcast_assets.defs.inputs import observe_inputs

    instance = DagsterInstance.get()
    close_dead_runs(instance)
    observe_inputs(instance, cfg)
    return instance


def _job(cfg: ExperimentConfig, job_name: str, source: str):
    """The job on the persistent instance (see `_instance`)."""
    from hindcast_assets.definitions import build_definitions

    return _instance(cfg), build_definitions([cfg], [source]).resolve_job_def(job_name)


def run_tags(cfg: ExperimentConfig, rd: RunDir) -> dict[str, str]:
    """Every launched run's tags: the run_dir it writes, and the process running it."""
    from hindcast_assets.defs.resources import run_dir_tag, worker_tags

    return {run_dir_tag(cfg.experiment_key): str(rd), **worker_tags()}


def _execute(instance, job, cfg: ExperimentConfig, rd: RunDir, lease: Lease, **kwargs):
    """One in-process Dagster run of `job` writing `rd` as the writer holding `lease`; raises
    RunFailed with the cause."""
    from hindcast_assets.defs.resources import LEASE_TAG

    run_config = {**QUIET, "resources": {"run_dir": {"config": {"run_dir": str(rd)}}}}
    tags = {**run_tags(cfg, rd), LEASE_TAG: lease.run_id, **kwargs.pop("tags", {})}
    with runs_closed_on_failure(instance, tags) as tags:
        result = job.execute_in_process(instance=instance, run_config=run_config, tags=tags, raise_on_error=False,
                                        **kwargs)
        if not result.success:
            raise RunFailed(f"dagster run {result.run_id} failed (run_dir {rd}): {_first_cause(result)}")
    return result


def launch_lease(rd: RunDir) -> Lease:
    """The run_dir's lease, taken by the launcher before any Dagster run starts, so that of two
    launches on one run_dir the second gets one line (RunDirLeased) and starts nothing; the runs
    it launches carry its id and join it. Taken by `with`."""
    return Lease(rd, f"launch-{uuid.uuid4().hex[:12]}")


def add_partitions(instance, partitions_name: str, keys: list[str]) -> None:
    """Add dynamic partition keys, safe against another process adding them at the same moment.
    Dagster's SQLite storage reads which keys exist and then inserts the rest, so of two forecasts
    of one new init date started at once, the later insert can meet the unique index (its
    PostgreSQL storage upserts). Then the winner's keys exist, and a second add inserts only what
    is still missing."""
    from sqlalchemy.exc import IntegrityError

    try:
        instance.add_dynamic_partitions(partitions_name, keys)
    except IntegrityError:
        instance.add_dynamic_partitions(partitions_name, keys)


JOBS = {"hindcast": hindcast_stages, "fit-production": fit_production_stages}


@dataclass(frozen=True)
class Scale:
    """How a hindcast runs: `workers` fold chunks side by side (1: one in-process run), and
    where steps execute (`in_process`, or `celery` workers; see parallel.py)."""

    workers: int = 1
    executor: str = "in_process"

    @property
    def fanned_out(self) -> bool:
        return self.workers > 1 or self.executor != "in_process"


def _materialise(cfg: ExperimentConfig, what: str, rd: RunDir, source: str, lease: Lease,
                 scale: Scale = Scale()) -> RunOutcome:
    """Dagster runs of job `what` into `rd` as the writer holding `lease` (one run, unless
    `scale` fans a hindcast out); a completed hindcast is registered (and promoted if it is the
    experiment's first)."""
    from hindcast_assets.defs.jobs import fit_production_job_name, hindcast_job_name
    from hindcast_assets.defs.resources import RANGE_END, RANGE_START

    key = cfg.experiment_key
    if what == "fit-production":
        result = _execute(*_job(cfg, fit_production_job_name(key), source), cfg, rd, lease, partition_key=PRODUCTION)
        return RunOutcome(rd, result.run_id, ExperimentResult.from_run_dir(rd))
    if scale.fanned_out:
        from hindcast_assets.parallel import run_fanned_out

        _instance(cfg)
        run_id = run_fanned_out(cfg, source, rd, scale.workers, scale.executor, lease.run_id)
    else:
        run_id = _execute(*_job(cfg, hindcast_job_name(key), source), cfg, rd, lease,
                          tags={RANGE_START: cfg.folds[0], RANGE_END: cfg.folds[-1]}).run_id
    _offer_init_dates(cfg)
    return RunOutcome(rd, run_id, ExperimentResult.from_run_dir(rd), registered_after_hindcast(rd))


def _offer_init_dates(cfg: ExperimentConfig) -> None:
    """The configured init dates as forecast partitions once a hindcast is made, so the UI's
    forecast grid offers every season x init date (the sensor adds them only as data arrives)."""
    from dagster import DagsterInstance

    from hindcast_assets.defs.partitions import init_date_partitions_name
    from hindcast_assets.pipeline.table import forecast_stages

    if forecast_stages(cfg) and cfg.inputs.indices:
        add_partitions(DagsterInstance.get(), init_date_partitions_name(cfg.experiment_key),
                       list(cfg.forecast.init_dates))


def execute_phase(cfg: ExperimentConfig, source: str, rd: RunDir, phase: Phase, lease_id: str, executor_name: str):
    """One Dagster run of a fan-out `phase` (parallel.py) on the instance, its steps on the
    executor `executor_name`; raises RunFailed with the cause."""
    from dagster import DagsterInstance, execute_job

    from hindcast_assets.defs.assets import stage_key
    from hindcast_assets.defs.jobs import hindcast_job_name
    from hindcast_assets.definitions import reconstructable_job
    from hindcast_assets.defs.resources import LEASE_TAG, RANGE_END, RANGE_START
    from hindcast_assets.parallel import PHASE_TAG
    from hindcast_assets.pipeline.tracking import mlflow_tracking_uri

    keys = [stage_key(cfg, name) for name in phase.stages]
    tags = {**run_tags(cfg, rd), LEASE_TAG: lease_id, PHASE_TAG: phase.name,
            RANGE_START: phase.folds[0], RANGE_END: phase.folds[-1]}
    run_config = {**QUIET, "resources": {"run_dir": {"config": {"run_dir": str(rd)}},
                                         "mlflow": {"config": {"tracking_uri": mlflow_tracking_uri()}}}}
    job = reconstructable_job(cfg, source, hindcast_job_name(cfg.experiment_key), executor_name)
    with DagsterInstance.get() as instance, runs_closed_on_failure(instance, tags) as tags:
        result = execute_job(job, instance, run_config=run_config, tags=tags, asset_selection=keys)
        if not result.success:
            raise RunFailed(f"dagster run {result.run_id} ({phase.name}) failed (run_dir {rd}): "
                            f"{_first_cause(result)}")
    return result.run_id


def registered_after_hindcast(rd: RunDir) -> ModelVersion:
    """A completed hindcast's registry version; promoted when the experiment has no champion."""
    return promote_if_first(rd) or register(rd, Registry())


def _first_cause(result) -> str:
    """The user's error behind the first failed step (Dagster wraps it), and the steps skipped
    because they depend on it."""
    events = result.all_events
    skipped = [e.step_key for e in events if e.event_type_value == "STEP_SKIPPED"]
    also = f"; skipped, as they depend on it: {', '.join(skipped)}" if skipped else ""
    for event in events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            return f"step {event.step_key}: {error.message.strip()}{also}"
    failure = next((e for e in events if e.event_type_value == "RUN_FAILURE"), None)
    return (failure.message if failure else "unknown failure") + also


def run_experiment(cfg: ExperimentConfig, what: str, runs_dir: str, source: str | None = None,
                   scale: Scale = Scale(), reuse_folds: bool = True) -> RunOutcome:
    """Mint a run_dir and materialise `hindcast` or `fit-production` into it (one Dagster run,
    or a fan-out by `scale`); a completed hindcast is registered, and becomes champion and
    current if it is the first. `reuse_folds`: folds a complete run_dir beside it holds with the
    same determinants are copied (pipeline/reuse.py)."""
    rd = RunDir.mint(runs_dir, cfg.experiment_key)
    with launch_lease(rd) as lease:
        store.CONFIG.write(rd, cfg)  # first, so a run_dir killed at any later point can be resumed
        open_run_dir(rd, cfg, what, JOBS[what](cfg), [PRODUCTION] if what == "fit-production" else cfg.folds,
                     reuse_folds)
        return _materialise(cfg, what, rd, source or f"configs/{cfg.experiment_key}.yaml", lease, scale)


def resume(run_dir: str) -> RunOutcome:
    """Complete a run_dir whose run was killed or failed: close its dead runs, check every file
    against the manifest, and materialise only the stage partitions the manifest lacks."""
    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    close_dead_runs(instance)  # whatever else is wrong with the run_dir, its killed run is ended
    rd = RunDir(run_dir)
    rd.refuse_any_link()
    cfg = store.read_config(rd)
    manifest = read_manifest(rd)
    if manifest is None or manifest.job not in JOBS:
        raise PreflightError(f"{rd.root / store.MANIFEST_FILE}: job: no launcher plan to resume (made by the UI, "
                             "or before run records); materialise what is missing from the UI")
    require_inputs_unchanged(rd, manifest)
    verify(rd, manifest)
    with launch_lease(rd) as lease:  # before the orphans go: a live writer's temporary files are not orphans
        remove_orphan_temps(rd)
        if not manifest.missing:
            return RunOutcome(rd, "", ExperimentResult.from_run_dir(rd))
        return _materialise(cfg, manifest.job, rd, str(store.CONFIG.path(rd)), lease)


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
    rd.refuse_any_link()
    cfg = store.read_config(rd)
    key, manifest = cfg.experiment_key, read_manifest(rd)
    indices = load_input(cfg, "indices") if cfg.inputs.indices else None
    geos = store.INCLUDED_GEOS.read(rd) if indices is not None else []
    for at in dates:
        if at.season_year not in cfg.forecast_season_years:
            raise PreflightError(f"{store.CONFIG.path(rd)}: forecast: season {at.season_year} is outside "
                                 f"{cfg.forecast_season_years[0]}-{cfg.forecast_season_years[-1]}")
        fold = store.forecast_fold(rd, key, cfg, at.season_year)
        missing = incomplete_for(manifest, forecast_needs(cfg, fold))
        if missing:
            raise PreflightError(f"{rd.root / store.MANIFEST_FILE}: completed: the forecast of {at} needs "
                                 f"{', '.join(missing)}, which the run never finished; run `hindcast resume {rd}`")
        store.read_fold_models(rd, key, fold)  # one clear error
        if indices is not None:
            require_season_data(indices, cfg.inputs.indices, geos, at)
    with launch_lease(rd) as lease:
        instance, job = _job(cfg, forecast_job_name(key), str(store.CONFIG.path(rd)))
        add_partitions(instance, init_date_partitions_name(key), sorted({str(d.init) for d in dates}))
        for at in dates:
            _execute(instance, job, cfg, rd, lease, partition_key=forecast_key(at))
    return rd


@dataclass
class Arrival:
    data_through: dt.date
    forecasts: list[tuple[str, pd.Series]]  # (forecast date, national row) made at this arrival


def replay(run_dir: str, season_year: int) -> Iterator[Arrival]:
    """`hindcast replay`: a past season's monthly data arrive one month at a time and the forecast
    sensor decides what to run. The sensor watches a replay copy of the indices table (holding
    only what has "arrived") and points at `run_dir` as the experiment's current one; the
    forecasts read the run_dir's inputs truncated at the init date, exactly as in production."""
    from dagster import DagsterInstance, SensorResult, build_sensor_context

    from hindcast_assets.defs.partitions import forecast_date
    from hindcast_assets.defs.sensors import build_forecast_sensor

    rd = RunDir(run_dir)
    cfg = store.read_config(rd)
    if cfg.inputs.indices is None:
        raise PreflightError(f"{store.CONFIG.path(rd)}: inputs.indices: nothing arrives in season to replay")
    full = pd.read_parquet(cfg.inputs.indices)
    with tempfile.TemporaryDirectory(prefix="hindcast_replay_") as scratch:
        arrived = f"{scratch}/indices.parquet"
        replay_cfg = cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"indices": arrived})})
        set_current(f"{scratch}/runs", cfg.experiment_key, rd)
        sensor = build_forecast_sensor(replay_cfg, runs_dir=f"{scratch}/runs")
        instance, cursor = DagsterInstance.get(), None
        for month in range(1, 13):
            through = (pd.Timestamp(season_year, month, 1) + pd.offsets.MonthEnd(0)).date()
            full[full["date"] <= pd.Timestamp(through)].to_parquet(arrived, index=False)
            result = sensor(build_sensor_context(instance=instance, cursor=cursor))
            made = []
            if isinstance(result, SensorResult):
                cursor = result.cursor
                dates = [forecast_date(r.partition_key) for r in result.run_requests]
                run_forecasts(run_dir, dates)
                nationals = {str(at): store.FORECAST_NATIONAL.read(rd, **store.forecast_fields(at)) for at in dates}
                made = [(at, rows.iloc[0]) for at, rows in nationals.items() if not rows.empty]
            yield Arrival(through, made)


def retrain(cfg: ExperimentConfig, source: str, runs_dir: str, force: bool) -> RetrainingResult:
    """`hindcast retrain`: the experiment's retrain job, one in-process Dagster run (the
    challenger's hindcast is a run of its own, launched from inside it). An unusable champion
    is reported first, before any run exists."""
    import json

    from hindcast_assets.pipeline.lifecycle import load_champion

    from hindcast_assets.core.drift import DriftSummary
    from hindcast_assets.defs.lifecycle import retrain_job_name
    from hindcast_assets.defs.resources import worker_tags

    load_champion(cfg.experiment_key)
    instance, job = _job(cfg, retrain_job_name(cfg.experiment_key), source)
    op = job.graph.node_names()[0]
    run_config = {**QUIET, "ops": {op: {"config": {"force": force, "runs_dir": runs_dir}}}}
    result = job.execute_in_process(instance=instance, run_config=run_config, tags=worker_tags(), raise_on_error=False)
    if not result.success:
        raise RunFailed(f"dagster run {result.run_id} failed: {_first_cause(result)}")
    out = json.loads(result.output_for_node(op))
    drift = out.pop("drift_summary")
    return RetrainingResult(**out, drift_summary=DriftSummary.from_dict(drift) if drift else None)


@dataclass
class SeasonLanding:
    season: int  # whose final yields landed
    result: RetrainingResult | None  # None: the sensor asked for nothing (or the first champion)
    champion: ModelVersion

    def line(self) -> str:
        """One line for the replay's log: the season, the decision, the champion and its skill."""
        c = self.champion
        champion = (f"champion v{c.version} (trained through {c.trained_through}, hindcast state RMSE "
                    f"{c.skill().get('geo.rmse', float('nan')):.2f})")
        if self.result is None:
            return f"{self.season}: {champion}: {c.reason}"
        r = self.result
        verdict = "promoted" if r.promoted else "retrained, kept the champion" if r.retrained else "not retrained"
        return f"{self.season} lands: {verdict}; {champion}; {r.reason}"


def replay_config(cfg: ExperimentConfig, folder: str, through: int) -> ExperimentConfig:
    """The experiment under its own key (`<key>_replay`, its own registered model and runs),
    reading a copy of its yields that holds seasons up to `through` only."""
    key = f"{cfg.experiment_key}_replay"
    inputs = cfg.inputs.model_copy(update={"yields": f"{folder}/yields.parquet"})
    hindcast = cfg.hindcast.model_copy(update={"last_test_year": through})
    return cfg.model_copy(update={"experiment_key": key, "inputs": inputs, "hindcast": hindcast,
                                  "mlflow": cfg.mlflow.model_copy(update={"experiment": key})})


def _land(frame: pd.DataFrame, path: str) -> None:
    """Replace the replay's yields copy atomically (write aside, then rename; a local folder)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    frame.to_parquet(f"{path}.tmp", index=False)
    os.replace(f"{path}.tmp", path)


def replay_seasons(cfg: ExperimentConfig, source: str, first: int, last: int, folder: str) -> Iterator[SeasonLanding]:
    """`hindcast replay-seasons`: the champion is a hindcast on yields through `first`; then the
    final yields of each later season land, one at a time, and the retrain sensor decides whether
    the retraining flow runs. The replay has its own registered model, reset at the start."""
    from dagster import DagsterInstance, RunRequest, build_sensor_context

    from hindcast_assets.defs.lifecycle import build_retrain_sensor

    yields = pd.read_parquet(cfg.inputs.yields)
    season = cfg.columns.season_year
    replay = replay_config(cfg, folder, first)
    registry = Registry()
    if registry.client.search_registered_models(f"name = '{replay.experiment_key}'"):
        registry.client.delete_registered_model(replay.experiment_key)
    runs_dir = f"{folder}/runs"
    _land(yields[yields[season] <= first], f"{folder}/yields.parquet")
    start = run_experiment(replay, "hindcast", runs_dir, source)
    yield SeasonLanding(first, None, start.registered)
    sensor, cursor = build_retrain_sensor(replay), None
    for landed in range(first + 1, last + 1):
        _land(yields[yields[season] <= landed], f"{folder}/yields.parquet")
        context = build_sensor_context(instance=DagsterInstance.get(), cursor=cursor)
        request = sensor(context)
        cursor = context.cursor
        result = retrain(replay, source, runs_dir, force=False) if isinstance(request, RunRequest) else None
        yield SeasonLanding(landed, result, registry.alias(replay.experiment_key, CHAMPION))
