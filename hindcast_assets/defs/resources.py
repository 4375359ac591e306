"""Resources shared by every experiment: which run_dir a run writes, and MLflow tracking."""
from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.lease import Lease
from hindcast_assets.core.rundir import RunDir, current_pointer, read_current
from hindcast_assets.paths import default_runs_dir
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.store import RunDirView
from hindcast_assets.pipeline.table import shape_difference
from hindcast_assets.pipeline.tracking import Tracker, flatten, run_name


def run_dir_tag(experiment_key: str) -> str:
    """The run tag naming the run_dir a run writes for an experiment (set by every launcher)."""
    return f"hindcast/run_dir/{experiment_key}"


PID_TAG, HOST_TAG = "hindcast/pid", "hindcast/host"  # the process running the run, to tell a killed one
EXPERIMENT_TAG = "hindcast/experiment"  # on every job's runs: the PostgreSQL profile limits runs per experiment
LEASE_TAG = "hindcast/lease"  # runs that write one run_dir together (a fan-out's chunks) share this lease id
BACKFILL_TAG = "dagster/backfill"  # the runs of one UI backfill (multi_run chunks) share the backfill's lease
# Queued runs carrying one value of this tag run one at a time (dagster.yaml's run_queue): the
# sensor's forecasts of one run_dir, which would otherwise meet on its lease and fail.
WRITES_TAG = "hindcast/writes"
MAX_RETRIES_TAG = "dagster/max_retries"  # a failed sensor run is retried (dagster.yaml's run_retries)
PARTITION_TAG = "dagster/partition"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def partitions_label(tags) -> str:
    """The partitions a run makes, from its tags: one key, `first…last` of a range, else ''."""
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG]
    return f"{tags[RANGE_START]}…{tags[RANGE_END]}" if tags.get(RANGE_START) else ""


def lease_id(run) -> str:
    """Who writes: the fan-out or backfill a run belongs to, else the run itself."""
    return run.tags.get(LEASE_TAG) or run.tags.get(BACKFILL_TAG) or run.run_id


def experiment_tags(experiment_key: str) -> dict[str, str]:
    return {EXPERIMENT_TAG: experiment_key}


def worker_tags() -> dict[str, str]:
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


class RunDirError(RuntimeError):
    """No run_dir to write, or one that does not describe this experiment's graph."""


class RunDirResource(ConfigurableResource):
    """Where a run writes, resolved once per run and experiment: the launchpad's `run_dir`, else
    the run's `hindcast/run_dir/<key>` tag (launchers and the sensor set it), else the
    experiment's current run_dir. The choice is recorded as that tag, and the run holds the
    run_dir's lease until it ends (a second writer gets one clear error). Never minted here."""

    run_dir: str = Field("", description="run_dir to write to; empty = the run's tag, else the experiment's "
                                         "current run_dir")
    runs_dir: str = Field("", description="folder of run_dirs and current pointers; empty = ${INPUT_DATA_DIR}/runs")
    indices: str = Field("", description="an indices file the stages read instead of the run_dir config's (a "
                                         "replay of a vintage as published); empty = the config's")
    _resolved: dict[str, RunDir] = PrivateAttr(default_factory=dict)
    _context: Any = PrivateAttr(default=None)
    _leases: list = PrivateAttr(default_factory=list)
    _leased: set = PrivateAttr(default_factory=set)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._resolved, self._context, self._leases, self._leased = {}, context, [], set()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        for lease in self._leases:
            lease.release()

    def _runs_dir(self) -> str:
        return self.runs_dir or default_runs_dir()

    def _find(self, key: str) -> RunDir:
        if self.run_dir:
            return RunDir(self.run_dir)
        run = self._context.dagster_run if self._context else None
        if run is not None and run.tags.get(run_dir_tag(key)):
            return RunDir(run.tags[run_dir_tag(key)])
        current = read_current(self._runs_dir(), key)
        if current is None:
            raise RunDirError(
                f"{key}: no run_dir to write: none set in the launchpad (resources.run_dir.config.run_dir), no "
                f"run tag {run_dir_tag(key)}, and no current run_dir ({current_pointer(self._runs_dir(), key)}). "
                f"Make one with `hindcast run hindcast --config configs/{key}.yaml` (it becomes current), "
                "then launch again.")
        return current

    def locate(self, key: str) -> RunDir:
        """The run_dir this run writes for experiment `key` (not yet leased)."""
        if key not in self._resolved:
            self._resolved[key] = self._find(key)
        return self._resolved[key]

    def run_dir_for(self, key: str) -> RunDir:
        """The run_dir, leased to this run (once per experiment) and recorded as its tag."""
        rd, ctx = self.locate(key), self._context
        if key not in self._leased and ctx is not None and ctx.dagster_run is not None and ctx.instance is not None:
            self._leases.append(Lease(rd, lease_id(ctx.dagster_run)).acquire())  # one writer
            self._leased.add(key)
            ctx.instance.add_run_tags(ctx.run_id, {run_dir_tag(key): str(rd), **worker_tags()})
        return rd

    def view_for(self, cfg: ExperimentConfig, source: str) -> RunDirView:
        """The run_dir opened for `cfg`'s stages; refused if its config shapes another graph."""
        rd = self.run_dir_for(cfg.experiment_key)
        theirs = store.CONFIG.read_optional(rd)  # one GET on an object store, no HEAD first
        if theirs is not None:
            diff = shape_difference(cfg, theirs)
            if diff:
                key, ours, held = diff
                raise RunDirError(
                    f"{source} and {store.CONFIG.path(rd)} differ in {key} ({ours!r} vs {held!r}), which shapes the "
                    f"asset graph: run `hindcast run hindcast --config {source}` for a run_dir of this config, or "
                    "restore the config the run_dir was made with")
        return RunDirView(rd, launched_with=cfg, indices=self.indices or None)


class MlflowTracking(ConfigurableResource):
    """One MLflow run per Dagster run and experiment, ended FINISHED at teardown, or FAILED as
    soon as a stage fails (no job hook needed, so asset backfills and sensor runs are covered).

    Ours rather than dagster-mlflow's `mlflow_tracking`: that resource fixes one experiment per
    resource (a code location here hosts several), keeps a process-global active run (several
    runs in one process merge), and ends its run only through the `end_mlflow_on_run_finished`
    job hook, which an asset backfill (`__ASSET_JOB`) never runs (README, MLflow).
    """

    tracking_uri: str = Field("", description="MLflow tracking URI; empty = $MLFLOW_TRACKING_URI or the project's "
                                              "sqlite store")
    _tracker: Any = PrivateAttr(default=None)
    _opened: set = PrivateAttr(default_factory=set)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._opened = set()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        for run_id in self._opened:
            self.tracker().end(run_id, "FINISHED")

    def tracker(self) -> Tracker:
        if self._tracker is None:
            self._tracker = Tracker(self.tracking_uri)
        return self._tracker

    @contextmanager
    def run(self, dagster_run, cfg: ExperimentConfig, rd: RunDir) -> Iterator[str]:
        """The MLflow run id of this Dagster run in the experiment, named for what the run makes;
        FAILED if the block raises (opened before the run_dir's lease is taken, so a run that
        fails on it has its MLflow run too)."""
        job = dagster_run.job_name.removeprefix(f"{cfg.experiment_key}__")
        name = run_name(cfg.experiment_key, job, partitions_label(dagster_run.tags), store.run_stamp(rd))
        tags = {"run_dir": str(rd), "experiment_key": cfg.experiment_key, "dagster_job": dagster_run.job_name}
        run_id = self.tracker().run_for(dagster_run.run_id, cfg.mlflow_experiment, name, tags, flatten(cfg.resolved()))
        self._opened.add(run_id)
        try:
            yield run_id
        except BaseException:
            self.tracker().end(run_id, "FAILED")
            raise
