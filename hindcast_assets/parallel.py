"""`hindcast run hindcast --workers N`: the hindcast fanned out over its folds as Dagster runs
on the instance (issue 13). Dagster-free: each run is launched by `runner.execute_phase`.

N runs make the setup and per-fold stages over contiguous fold chunks side by side (the setup
stages are cheap and write the same bytes in every chunk, so no run waits for a setup run), then
one run makes the fan-in stages over all folds (`pipeline/fanout.py` says which stage is where).
Every run is tagged with the run_dir and one lease id, so together they are one writer. The
executor decides where steps run: in the run's process (`in_process`) or on Celery workers
(`celery`). Each chunk run has a process of its own either way: in-process steps compute under
one GIL, and Dagster runs orchestrated from threads of one process deadlocked in the logging
module's lock (measured with the Celery executor on PostgreSQL). Artefacts are byte-identical to
the one-run hindcast's.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import load_input
from hindcast_assets.core.hindcast import fold_of
from hindcast_assets.core.lease import Lease
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.fanout import fan_out, fold_chunks
from hindcast_assets.pipeline.runlog import read_manifest
from hindcast_assets.pipeline.table import Stage, hindcast_stages
from hindcast_assets.pipeline.tracking import Tracker, mlflow_tracking_uri

PHASE_TAG = "hindcast/phase"  # folds <first>-<last>, or fan-in
POLL_S = 2.0


@dataclass(frozen=True)
class Phase:
    """One Dagster run of the fan-out: which stages, over which folds."""

    name: str
    stages: list[Stage]
    folds: list[str]


def chunk_stages(cfg: ExperimentConfig) -> list[Stage]:
    plan = fan_out(hindcast_stages(cfg))
    return plan.setup + plan.per_fold


def phases(cfg: ExperimentConfig, workers: int) -> tuple[list[Phase], Phase]:
    """The fold-chunk runs (balanced by training seasons) and the fan-in run."""
    yields = load_input(cfg, "yields")  # the folds' seasons; the workers load the rest
    weights = [len(fold_of(cfg, yields, f).train_seasons) for f in cfg.folds]
    chunks = [Phase(f"folds {c[0]}-{c[-1]}", chunk_stages(cfg), c) for c in fold_chunks(cfg.folds, weights, workers)]
    return chunks, Phase("fan-in", fan_out(hindcast_stages(cfg)).fan_in, cfg.folds)


def _chunk_process(rd: RunDir, source: str, phase: Phase, lease_id: str, executor_name: str) -> subprocess.Popen:
    """A process running one chunk's run; its errors go to our stderr (stdout is the CLI's)."""
    args = {"run_dir": str(rd), "source": source, "folds": phase.folds, "name": phase.name, "lease": lease_id,
            "executor": executor_name}
    return subprocess.Popen([sys.executable, "-m", __name__, json.dumps(args)], stdout=subprocess.DEVNULL)


def _wait(rd: RunDir, runs: dict[str, subprocess.Popen]) -> list[str]:
    """Wait for every chunk process, with progress on stderr; the failed ones."""
    last = ""
    while True:
        running = sum(p.poll() is None for p in runs.values())
        last = _progress(rd, running, last)
        if not running:
            return [f"{name} (exit {p.returncode}, its cause above)" for name, p in runs.items() if p.returncode]
        time.sleep(POLL_S)


def _progress(rd: RunDir, running: int, last: str) -> str:
    manifest = read_manifest(rd)
    done, planned = (len(manifest.completed), len(manifest.plan)) if manifest else (0, 0)
    line = f"{rd}: {done}/{planned} stage partitions complete; {running} fold-chunk runs running"
    if line != last:
        print(line, file=sys.stderr, flush=True)
    return line


def run_fanned_out(cfg: ExperimentConfig, source: str, rd: RunDir, workers: int, executor_name: str) -> str:
    """The hindcast into `rd` as N + 1 runs; the fan-in run's id. A failed chunk leaves the
    others to finish, then raises; `hindcast resume` completes the run_dir."""
    from hindcast_assets.runner import RunFailed, execute_phase

    chunks, fan_in = phases(cfg, workers)
    Tracker(mlflow_tracking_uri()).prepare(cfg.mlflow_experiment)
    lease_id = f"fanout-{uuid.uuid4().hex[:12]}"
    print(f"{rd}: {len(chunks)} fold-chunk runs ({', '.join(c.name for c in chunks)}), executor {executor_name}",
          file=sys.stderr, flush=True)
    with Lease(rd, lease_id):
        failed = _wait(rd, {c.name: _chunk_process(rd, source, c, lease_id, executor_name) for c in chunks})
        if failed:
            raise RunFailed(f"{rd}: fold-chunk runs failed: {'; '.join(failed)}; "
                            f"`hindcast resume {rd}` completes the run_dir")
        return execute_phase(cfg, source, rd, fan_in, lease_id, executor_name)


def _chunk_main(argv: list[str]) -> int:
    """`python -m hindcast_assets.parallel '<json>'`: one fold chunk's run (see `_chunk_process`)."""
    import warnings

    from hindcast_assets.runner import RunFailed, execute_phase

    warnings.filterwarnings("ignore")
    args = json.loads(argv[0])
    rd = RunDir(args["run_dir"])
    cfg = store.read_config(rd)
    phase = Phase(args["name"], chunk_stages(cfg), args["folds"])
    try:
        execute_phase(cfg, args["source"], rd, phase, args["lease"], args["executor"])
    except RunFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_chunk_main(sys.argv[1:]))
