"""`hindcast run hindcast|fit-production` and `hindcast resume`: one Dagster run covers every fold
partition (a partition range, DESIGN.md §8), or a fan-out runs fold chunks side by side
(`launch/fanout.py`). The run_dir is minted, its config, plan and inputs' hashes recorded before
the first run, so the UI can tell later which artefacts new data made stale."""
from __future__ import annotations

import os
from dataclasses import dataclass

from dagster import DagsterInstance

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.errors import PreflightError
from hindcast_assets.core.lease import Lease
from hindcast_assets.core.preflight import check_experiment
from hindcast_assets.core.rundir import RunDir, remove_orphan_temps
from hindcast_assets.defs.deployment import Executor
from hindcast_assets.defs.execute import close_dead_runs
from hindcast_assets.defs.experiment import completed_hindcast, materialised
from hindcast_assets.launch.fanout import run_fanned_out
from hindcast_assets.paths import config_file
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.registry import CHAMPION, ModelVersion
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.pipeline.run_dirs import JobKind, launch_lease, minted
from hindcast_assets.pipeline.runlog import read_manifest, require_inputs_unchanged, verify


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


@dataclass(frozen=True)
class Scale:
    """How a hindcast runs: `workers` fold chunks side by side (1: one in-process run), and
    where steps execute (in the run's process, or on Celery workers; see launch/fanout.py)."""

    workers: int = 1
    executor: Executor = Executor.IN_PROCESS

    def __post_init__(self):
        object.__setattr__(self, "executor", Executor(self.executor))  # its name, from a command line

    @property
    def fanned_out(self) -> bool:
        return self.workers > 1 or self.executor is not Executor.IN_PROCESS


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


def _materialise(cfg: ExperimentConfig, kind: JobKind, rd: RunDir, source: str, lease: Lease,
                 scale: Scale = Scale()) -> RunOutcome:
    """Job `kind` into `rd` as the writer holding `lease` (one run, unless `scale` fans a hindcast
    out); a completed hindcast is registered (and promoted if it is the experiment's first)."""
    if kind is JobKind.HINDCAST and scale.fanned_out:
        run_id = run_fanned_out(cfg, source, rd, scale.workers, scale.executor, lease.run_id)
        registered = completed_hindcast(cfg, rd)
    else:
        run_id, registered = materialised(cfg, kind, rd, source, lease)
    return RunOutcome(rd, run_id, ExperimentResult.from_run_dir(rd), registered)


def run_experiment(cfg: ExperimentConfig, what: JobKind | str, runs_dir: str, source: str | None = None,
                   scale: Scale = Scale(), reuse_folds: bool = True) -> RunOutcome:
    """Mint a run_dir and materialise `hindcast` or `fit-production` into it (one Dagster run,
    or a fan-out by `scale`); a completed hindcast is registered, and becomes champion and
    current if it is the first. `reuse_folds`: folds a complete run_dir beside it holds with the
    same determinants are copied (pipeline/reuse.py)."""
    kind = JobKind(what)
    with minted(cfg, kind, runs_dir, reuse_folds) as (rd, lease):
        return _materialise(cfg, kind, rd, source or config_file(cfg.experiment_key), lease, scale)


def resume(run_dir: str) -> RunOutcome:
    """Complete a run_dir whose run was killed or failed: close its dead runs, check every file
    against the manifest, and materialise only the stage partitions the manifest lacks."""
    close_dead_runs(DagsterInstance.get())  # whatever else is wrong with the run_dir, its killed run is ended
    rd = RunDir(run_dir)
    rd.refuse_any_link()
    cfg = store.read_config(rd)
    manifest = read_manifest(rd)
    if manifest is None or manifest.job not in {k.value for k in JobKind}:
        raise PreflightError(f"{rd.root / store.MANIFEST_FILE}: job: no launcher plan to resume (made by the UI, "
                             "or before run records); materialise what is missing from the UI")
    require_inputs_unchanged(rd, manifest)
    verify(rd, manifest)
    with launch_lease(rd) as lease:  # before the orphans go: a live writer's temporary files are not orphans
        remove_orphan_temps(rd)
        if not manifest.missing:
            return RunOutcome(rd, "", ExperimentResult.from_run_dir(rd))
        return _materialise(cfg, JobKind(manifest.job), rd, str(store.CONFIG.path(rd)), lease)
