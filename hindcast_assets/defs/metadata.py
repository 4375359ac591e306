"""Materialisation metadata: every artefact names its run_dir, path, rows and content hash; a
run over many partitions carries one table line per partition (Dagster attaches the same
metadata to each partition of a range run); tables and plots a stage shows are drawn inline."""
from __future__ import annotations

import base64
from collections.abc import Sequence

import pandas as pd
from dagster import MetadataValue

from hindcast_assets.core.report import md_table
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.pipeline.records import StageRecord
from hindcast_assets.pipeline.store import MANIFEST_FILE


def partition_table(records: Sequence[StageRecord]) -> pd.DataFrame:
    """One row per partition: rows, each metric, a note and the short hashes of what it wrote."""
    return pd.DataFrame([{"partition": r.partition, "rows": r.rows, **r.metrics, "note": r.note,
                          "sha256": ", ".join(w.sha256[:12] for w in r.written)} for r in records])


def plot_markdown(name: str, png: bytes) -> MetadataValue:
    """A PNG drawn in the UI's metadata panel: markdown with the image inline (a data: URL), so it
    shows wherever the event log is read, with no file server."""
    return MetadataValue.md(f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})")


def stage_metadata(run_dir: RunDir, records: Sequence[StageRecord]) -> dict:
    written = [w for r in records for w in r.written]
    meta = {"run_dir": MetadataValue.path(str(run_dir)), "rows": sum(r.rows for r in records),
            "manifest": MetadataValue.path(str(run_dir.root / MANIFEST_FILE))}
    if len(written) == 1:
        meta |= {"path": MetadataValue.path(written[0].path), "sha256": written[0].sha256}
    elif len(records) == 1:
        meta["files"] = MetadataValue.json({w.path: w.sha256 for w in written})
    if records and records[0].partition is not None:
        meta |= {"partitions": MetadataValue.md(md_table(partition_table(records), 3)), "n_partitions": len(records)}
    for record in records:
        meta |= {name: MetadataValue.md(md_table(table)) for name, table in record.tables.items()}
        tail = f"_{record.partition}" if len(records) > 1 else ""  # each partition's plot of a range run
        meta |= {f"plot_{name}{tail}": plot_markdown(name, png) for name, png in record.plots.items()}
    events = [e for r in records for e in r.events]
    return meta | ({"training_events": MetadataValue.json(events)} if events else {})
