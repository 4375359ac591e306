"""The stage table run as a plain loop, with no orchestrator: what the benchmark times Dagster
against, and proof that the stages need nothing but a run_dir."""
from __future__ import annotations

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.pipeline.records import StageRecord
from hindcast_assets.pipeline.store import RunDirView
from hindcast_assets.pipeline.table import Partitioning, Stage, hindcast_stages


def partitions(stage: Stage, cfg: ExperimentConfig) -> list:
    return cfg.folds if stage.partitioning is Partitioning.FOLD else [None]


def run_stages(view: RunDirView, stages: list[Stage]) -> list[StageRecord]:
    """Every stage over all its partitions, in table (dependency) order."""
    cfg = view.launched_with or view.cfg
    return [stage.run(view, p) for stage in stages for p in partitions(stage, cfg)]


def plain_hindcast(cfg: ExperimentConfig, runs_dir: str) -> RunDir:
    """A fresh run_dir holding the full hindcast: the same stages and writes as the Dagster job."""
    rd = RunDir.mint(runs_dir, cfg.experiment_key)
    run_stages(RunDirView(rd, launched_with=cfg), hindcast_stages(cfg))
    return rd
