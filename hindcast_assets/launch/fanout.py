"""`hindcast run hindcast --workers N`: the hindcast fanned out over its folds as Dagster runs
on the instance (issue 13), each run executed by `defs/execute.execute_selection`.

N runs make the setup and per-fold stages over contiguous fold chunks side by side (the setup
stages are cheap and write the same bytes in every chunk, so no run waits for a setup run; the
early stages, which no fold reads, run once, in the first chunk, weighed like folds), then
the fan-in runs in waves (`pipeline/fanout.py` says which stage is where): its head, then its
independent lanes side by side. Every run is tagged with the run_dir and one lease id, so
together they are one writer. The executor decides where steps run: in the run's process
(`in_process`) or on Celery workers (`celery`).

The runs are orchestrated by a pool of N processes, forked by a fork server that imported
this module once (spawned where there is no fork server), so a run starts with its imports done.
Processes, not threads: in-process steps compute under one GIL, and Dagster runs orchestrated
from threads of one process deadlocked in the logging module's lock. Not forked from the
launcher: a process that has trained LightGBM (OpenMP) or opened the MLflow store hangs or dies
in a forked child, and a library caller may have done both. Artefacts are byte-identical to the
one-run hindcast's.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.defs.assets import stage_key
from hindcast_assets.defs.deployment import Executor
from hindcast_assets.defs.execute import RunFailed, execute_selection, observed_instance
from hindcast_assets.defs.experiment import reconstructable_job
from hindcast_assets.defs.jobs import hindcast_job_name
from hindcast_assets.defs.resources import RANGE_END, RANGE_START
from hindcast_assets.pipeline.fanout import Phase, phases
from hindcast_assets.pipeline.runlog import read_manifest
from hindcast_assets.pipeline.tracking import Tracker

PHASE_TAG = "hindcast/phase"  # folds <first>-<last>, fan-in, or the fan-in lane's first stage
POLL_S = 0.5
T = TypeVar("T")


def _as_launched(environ: dict[str, str], cwd: str) -> None:
    """A pool process gets the launcher's environment and directory as they are now (the fork
    server keeps its own from when it started: an earlier DAGSTER_HOME, say), and sends its
    stdout nowhere: the CLI's stdout is the launcher's (its last line is the run_dir)."""
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


# What every run imports, loaded once by the fork server rather than by each pool process: MLflow
# tracks every run (~0.9 s to import; importing it opens nothing, so a fork after it is safe)
PRELOAD = [__name__, "mlflow.tracking"]


def _pool(workers: int) -> ProcessPoolExecutor:
    """`workers` processes, started now (a process starts per task submitted while none is idle)."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
    else:  # Windows
        context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, context, initializer=_as_launched, initargs=(dict(os.environ), os.getcwd()))
    for _ in range(workers):
        pool.submit(os.getpid)
    return pool


def _wait(rd: RunDir, futures: dict[str, Future], running: str) -> None:
    """Wait for a wave's runs, with progress on stderr; RunFailed naming the failed ones."""
    last = ""
    while True:
        done, pending = wait(futures.values(), timeout=POLL_S, return_when=FIRST_EXCEPTION)
        last = _progress(rd, f"{len(pending)} of {len(futures)} {running} running", last)
        failed = [f"{name}: {future.exception()}" for name, future in futures.items()
                  if future.done() and future.exception()]
        if failed and not pending or failed and len(futures) == 1:
            raise RunFailed(f"{rd}: runs failed: {'; '.join(failed)}; `hindcast resume {rd}` completes the run_dir")
        if not pending:
            return


def _progress(rd: RunDir, running: str, last: str) -> str:
    manifest = read_manifest(rd)
    done, planned = (len(manifest.completed), len(manifest.plan)) if manifest else (0, 0)
    line = f"{rd}: {done}/{planned} stage partitions complete; {running}"
    if line != last:
        print(line, file=sys.stderr, flush=True)
    return line


def execute_phase(cfg: ExperimentConfig, source: str, rd: RunDir, phase: Phase, lease_id: str,
                  executor: Executor) -> str:
    """One Dagster run of a fan-out `phase` on the instance, its steps on `executor`; its run id,
    or RunFailed with the cause."""
    job = reconstructable_job(cfg, source, hindcast_job_name(cfg.experiment_key), executor)
    tags = {PHASE_TAG: phase.name, RANGE_START: phase.folds[0], RANGE_END: phase.folds[-1]}
    return execute_selection(job, cfg, rd, lease_id, [stage_key(cfg, name) for name in phase.stages], tags,
                             phase.name)


def run_fanned_out(cfg: ExperimentConfig, source: str, rd: RunDir, workers: int, executor: Executor,
                   lease_id: str) -> str:
    """The hindcast into `rd` as waves of runs, one writer with the launcher holding `lease_id`;
    the last run's id. A failed run leaves the others of its wave to finish, then raises;
    `hindcast resume` completes the run_dir."""
    with _pool_started_while(lambda: _prepared(cfg, rd, workers, executor), workers) as (pool, waves):
        for wave, running in zip(waves, ["fold-chunk runs"] + ["fan-in runs"] * (len(waves) - 1)):
            futures = {p.name: pool.submit(execute_phase, cfg, source, rd, p, lease_id, executor) for p in wave}
            _wait(rd, futures, running)
        return futures[wave[-1].name].result()


def _prepared(cfg: ExperimentConfig, rd: RunDir, workers: int, executor: Executor) -> list[list[Phase]]:
    """The launcher's part before the first run: the instance observed, the waves planned, the
    MLflow experiment made (two runs creating it at once would race)."""
    observed_instance(cfg).dispose()
    waves = phases(cfg, workers)
    print(f"{rd}: {len(waves[0])} fold-chunk runs ({', '.join(c.name for c in waves[0])}), then "
          f"{' + '.join(str(len(w)) for w in waves[1:])} fan-in runs, executor {executor.value}",
          file=sys.stderr, flush=True)
    Tracker().prepare(cfg.mlflow_experiment)
    return waves


@contextmanager
def _pool_started_while(prepare: Callable[[], T], workers: int) -> Iterator[tuple[ProcessPoolExecutor, T]]:
    """The pool and what `prepare` returns, the pool's processes started in a thread meanwhile:
    its fork server's imports (~3 s) overlap the launcher's preparation rather than follow it."""
    with ThreadPoolExecutor(1) as starter:
        starting = starter.submit(_pool, workers)
        try:
            prepared = prepare()
        except BaseException:
            starting.result().shutdown(cancel_futures=True)
            raise
        pool = starting.result()
    with pool:
        yield pool, prepared
