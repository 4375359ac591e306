"""Materialisation metadata: every artefact names its run_dir, path, rows and content hash."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dagster import MetadataValue

from hindcast_assets.core.rundir import RunDir, Written


@dataclass
class FoldRecord:
    fold: str
    written: Sequence[Written]
    rows: int
    metrics: dict[str, float] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)


@dataclass
class StepRecord:
    """What a whole-run (unpartitioned) step wrote: files, rows, scalar metadata, tables for the
    UI (markdown) and metrics for MLflow."""

    written: Sequence[Written]
    rows: int
    extra: dict[str, float] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def step_metadata(run_dir: RunDir, record: StepRecord) -> dict:
    return artefact_metadata(run_dir, record.written, record.rows, **record.extra) | {
        name: MetadataValue.md(table) for name, table in record.tables.items()}


def artefact_metadata(run_dir: RunDir, written: Sequence[Written], rows: int, **extra) -> dict:
    meta = {"run_dir": MetadataValue.path(str(run_dir)), "rows": rows}
    meta |= {"path": MetadataValue.path(written[0].path), "sha256": written[0].sha256} if len(written) == 1 else {}
    meta |= {"files": MetadataValue.json({w.path: w.sha256 for w in written})} if len(written) > 1 else {}
    return meta | extra


def fold_metadata(run_dir: RunDir, records: Sequence[FoldRecord]) -> dict:
    """One run may cover many fold partitions and Dagster attaches the same metadata to each,
    so a range run carries a table with one line per fold (a single fold also gets its path)."""
    written = [w for r in records for w in r.written]
    meta = artefact_metadata(run_dir, written if len(records) == 1 else [], sum(r.rows for r in records))
    metric_names = sorted({m for r in records for m in r.metrics})
    head = "| fold | rows | " + " | ".join(metric_names) + " | sha256 |"
    lines = [head, "|" + "---|" * (3 + len(metric_names))]
    for r in records:
        values = " | ".join(f"{r.metrics[m]:.3f}" if m in r.metrics else "" for m in metric_names)
        hashes = ", ".join(w.sha256[:12] for w in r.written)
        lines.append(f"| {r.fold} | {r.rows} | {values} | {hashes} |")
    events = [e for r in records for e in r.events]
    return meta | {"folds": MetadataValue.md("\n".join(lines)), "n_folds": len(records)} | (
        {"training_events": MetadataValue.json(events)} if events else {})
