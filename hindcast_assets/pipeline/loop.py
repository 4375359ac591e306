"""The stage table run as a plain loop, with no orchestrator: what the benchmark times Dagster
against, and proof that the stages need nothing but a run_dir. It keeps the same run records
(events, metrics, manifest) as a Dagster run."""
from __future__ import annotations

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.lease import Lease
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.pipeline.records import StageRecord
from hindcast_assets.pipeline.runlog import RunIds, open_run_dir, records_batched, run_recorded
from hindcast_assets.pipeline.store import RunDirView
from hindcast_assets.pipeline.table import Stage, hindcast_stages, stage_partitions
from hindcast_assets.pipeline.workers import run_in_turn


def run_stages(view: RunDirView, stages: list[Stage], ids: RunIds | None = None) -> list[StageRecord]:
    """Every stage over all its partitions, in table (dependency) order."""
    cfg, ids = view.launched_with or view.cfg, ids or RunIds.plain()
    records = []
    for stage in stages:
        with records_batched(view.run_dir):
            records += run_in_turn(stage_partitions(stage, cfg.folds), lambda p: run_recorded(view, stage, p, ids))
    return records


def plain_hindcast(cfg: ExperimentConfig, runs_dir: str, reuse_folds: bool = True) -> RunDir:
    """A fresh run_dir holding the full hindcast: the same stages and writes as the Dagster job
    (folds a complete run_dir beside it holds alike copied, unless `reuse_folds` is False)."""
    rd, ids = RunDir.mint(runs_dir, cfg.experiment_key), RunIds.plain()
    stages = hindcast_stages(cfg)
    with Lease(rd, ids.run_id):
        open_run_dir(rd, cfg, "hindcast", stages, cfg.folds, reuse_folds)
        run_stages(RunDirView(rd, launched_with=cfg), stages, ids)
    return rd
