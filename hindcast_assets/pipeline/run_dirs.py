"""A run_dir from its minting to its registration, for every launcher (the CLI's, the retraining
flow's): minted under the launcher's lease with its config and manifest written first, so a kill
at any later point leaves something `hindcast resume` can finish; and, once a hindcast is
complete, registered (and champion when its experiment has none)."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.lease import Lease
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.lifecycle import promote_if_first, register
from hindcast_assets.pipeline.registry import ModelVersion, Registry
from hindcast_assets.pipeline.runlog import open_run_dir
from hindcast_assets.pipeline.table import Stage, fit_production_stages, hindcast_stages


class JobKind(StrEnum):
    """What a launcher materialises into a run_dir (the manifest's `job`)."""

    HINDCAST = "hindcast"
    FIT_PRODUCTION = "fit-production"

    @property
    def stages(self) -> Callable[[ExperimentConfig], list[Stage]]:
        return hindcast_stages if self is JobKind.HINDCAST else fit_production_stages

    def partitions(self, cfg: ExperimentConfig) -> list[str]:
        return cfg.folds if self is JobKind.HINDCAST else [PRODUCTION]


def launch_lease(rd: RunDir) -> Lease:
    """The run_dir's lease, taken by a launcher before any run starts, so that of two launches on
    one run_dir the second gets one line (RunDirLeased) and starts nothing; the runs it launches
    carry its id and join it. Taken by `with`."""
    return Lease(rd, f"launch-{uuid.uuid4().hex[:12]}")


@contextmanager
def minted(cfg: ExperimentConfig, kind: JobKind, runs_dir: str, reuse_folds: bool = True) -> Iterator[tuple[RunDir, Lease]]:
    """A new run_dir of `cfg` in `runs_dir` under its launch lease, its config and manifest
    written (`reuse_folds`: folds a complete run_dir beside it holds alike are copied)."""
    rd = RunDir.mint(runs_dir, cfg.experiment_key)
    with launch_lease(rd) as lease:
        store.CONFIG.write(rd, cfg)  # first, so a run_dir killed at any later point can be resumed
        open_run_dir(rd, cfg, kind.value, kind.stages(cfg), kind.partitions(cfg), reuse_folds)
        yield rd, lease


def registered_after_hindcast(rd: RunDir) -> ModelVersion:
    """A completed hindcast's registry version; promoted when the experiment has no champion."""
    return promote_if_first(rd) or register(rd, Registry())
