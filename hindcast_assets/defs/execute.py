"""The bottom of the Dagster layer: how a run is executed on the persistent instance, for every
launcher above it (the CLI's, the fan-out's, the retraining op's). The instance with killed runs
closed and the inputs observed; the tags every run carries; an in-process run, or a
reconstructable job's run over an asset selection; the user's error behind a failed run; runs
closed when their launcher fails or is interrupted."""
from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, execute_job

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.errors import UserError
from hindcast_assets.core.lease import Lease, pid_alive
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.defs.inputs import observe_inputs
from hindcast_assets.defs.resources import HOST_TAG, LEASE_TAG, PID_TAG, run_dir_tag, worker_tags
from hindcast_assets.pipeline.tracking import Tracker, mlflow_tracking_uri

LAUNCH_TAG = "hindcast/launch"  # the runs of one launcher call: closed together if it fails or is interrupted
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
# A launcher holds its storages' connections, as Dagster's webserver does: on the PostgreSQL
# profile a storage otherwise opens a connection per query (a CLI backfill of four forecasts: 1,412
# connections, 3.7 ms each). No statement timeout; at most 4 connections beyond the one held, per storage.
HELD_CONNECTIONS = {"statement_timeout": 0, "pool_recycle": 3600, "max_overflow": 4}


class RunFailed(UserError, RuntimeError):
    """A Dagster run failed; the message carries the user's error behind it."""


def close_dead_runs(instance) -> list[str]:
    """Dagster runs left STARTED on this host by a process that was killed (kill -9 leaves no
    chance to end them; the run's resource tags it with its pid): reported failed, and their
    MLflow runs ended KILLED. Every CLI launch and resume does this first, so no killed run, from
    the CLI or the UI, stays open past the next launch."""
    open_runs = instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING],
                                             tags={HOST_TAG: socket.gethostname()}))
    dead = [r for r in open_runs if PID_TAG in r.tags and not pid_alive(int(r.tags[PID_TAG]))]
    for run in dead:
        instance.report_run_failed(run, message=f"run process {run.tags[PID_TAG]} ended without ending the "
                                                "run (killed); found by the next launch on this host")
    if dead:
        Tracker().end_runs_of([r.run_id for r in dead], "KILLED")
    return [r.run_id for r in dead]


@contextmanager
def runs_closed_on_failure(instance, tags: dict[str, str]) -> Iterator[dict[str, str]]:
    """Tags naming the runs launched in the block: if the block raises (a failed run, Ctrl-C),
    those runs are reported failed where they are still open, and their MLflow runs end FAILED
    (KILLED when interrupted), even where a step's teardown had ended one FINISHED."""
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


def launcher_instance() -> DagsterInstance:
    """The persistent instance, for a process that launches runs on it: its connections held."""
    instance = DagsterInstance.get()
    instance.optimize_for_webserver(**HELD_CONNECTIONS)
    return instance


def observed_instance(cfg: ExperimentConfig) -> DagsterInstance:
    """The persistent instance, killed runs closed and the inputs' content hashes recorded first."""
    instance = launcher_instance()
    close_dead_runs(instance)
    observe_inputs(instance, cfg)
    return instance


def run_tags(cfg: ExperimentConfig, rd: RunDir) -> dict[str, str]:
    """Every launched run's tags: the run_dir it writes, and the process running it."""
    return {run_dir_tag(cfg.experiment_key): str(rd), **worker_tags()}


def run_dir_config(rd: RunDir | str, tracking: bool = False, quiet: bool = True, indices: str | None = None) -> dict:
    """The run config of a run writing `rd` (`tracking`: with this process's MLflow store, for
    runs whose steps run in other processes; `quiet`: errors only on the console, for the
    launcher's runs, not the UI's; `indices`: a file read instead of the config's)."""
    resources = {"run_dir": {"config": {"run_dir": str(rd), **({"indices": indices} if indices else {})}}}
    if tracking:
        resources["mlflow"] = {"config": {"tracking_uri": mlflow_tracking_uri()}}
    return {**(QUIET if quiet else {}), "resources": resources}


def execute_in_process(instance, job, cfg: ExperimentConfig, rd: RunDir, lease: Lease, indices: str | None = None,
                       **kwargs):
    """One in-process Dagster run of `job` writing `rd` as the writer holding `lease` (reading
    `indices` instead of the config's where given); raises RunFailed with the cause."""
    tags = {**run_tags(cfg, rd), LEASE_TAG: lease.run_id, **kwargs.pop("tags", {})}
    with runs_closed_on_failure(instance, tags) as tags:
        result = job.execute_in_process(instance=instance, run_config=run_dir_config(rd, indices=indices), tags=tags,
                                        raise_on_error=False, **kwargs)
        if not result.success:
            raise RunFailed(f"dagster run {result.run_id} failed (run_dir {rd}): {first_cause(result)}")
    return result


def execute_selection(job, cfg: ExperimentConfig, rd: RunDir, lease_id: str, asset_keys: list,
                      tags: dict[str, str], what: str) -> str:
    """One run of the reconstructable `job` over `asset_keys` writing `rd` as the writer holding
    `lease_id`, its steps on the job's executor; its run id, or RunFailed naming `what` ran."""
    tags = {**run_tags(cfg, rd), LEASE_TAG: lease_id, **tags}
    with launcher_instance() as instance, runs_closed_on_failure(instance, tags) as tags:
        result = execute_job(job, instance, run_config=run_dir_config(rd, tracking=True), tags=tags,
                             asset_selection=asset_keys)
        if not result.success:
            raise RunFailed(f"dagster run {result.run_id} ({what}) failed (run_dir {rd}): {first_cause(result)}")
    return result.run_id


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


def first_cause(result) -> str:
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
