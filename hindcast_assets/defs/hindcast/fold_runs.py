"""Running a step over every fold partition of a run, and tracking what it measured."""
import json
import logging
from collections.abc import Callable

from dagster import AssetExecutionContext

from hindcast_assets.core import artefacts as art
from hindcast_assets.defs.metadata import FoldRecord
from hindcast_assets.defs.resources import MlflowTracking

progress_log = logging.getLogger("hindcast_assets.progress")
events_log = logging.getLogger("hindcast_assets.events")

FoldStep = Callable[[art.RunDirView, str], FoldRecord]


def track(context: AssetExecutionContext, mlflow: MlflowTracking, view: art.RunDirView, **logged) -> None:
    tags = {"run_dir": str(view.run_dir), "experiment_key": view.key, "dagster_job": context.job_name}
    run_id = mlflow.run_id(context.run_id, view.cfg.mlflow_experiment, tags)
    mlflow.log(run_id, **logged)


def run_folds(context: AssetExecutionContext, view: art.RunDirView, name: str, step: FoldStep) -> list[FoldRecord]:
    """Run `step` for every fold partition of this run, reporting which fold and how many are left."""
    keys = context.partition_keys
    records = []
    for i, fold in enumerate(keys, start=1):
        message = f"{view.key}/{name}: fold {fold} ({i}/{len(keys)}, {len(keys) - i} left)"
        progress_log.info(message)
        record = step(view, fold)
        # One run-log entry per fold, its structured events as JSON lines below the progress
        # line: every entry is a write to the event log (~10 ms on sqlite), and one per event
        # made the run log the largest Dagster cost of a hindcast (benchmarks/README.md).
        context.log.info("\n".join([message, *(json.dumps(e, sort_keys=True) for e in record.events)]))
        records.append(record)
    return records


def fold_metrics_for_mlflow(records: list[FoldRecord]) -> dict[str, float]:
    return {f"{m}_{r.fold}": v for r in records for m, v in r.metrics.items()}


def emit(event: dict) -> dict:
    """A structured event as one JSON line in the run's log (and the Python log)."""
    line = json.dumps(event, sort_keys=True)
    events_log.info(line)
    return event
