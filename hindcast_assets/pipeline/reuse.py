"""A fold fitted before is copied, not refitted (issue 30 part 2): a new season costs one fold.

A reusable stage partition (a fold's chain, the warm-up) is determined by what it reads: the
pipeline's code version, the config fields a fold reads, the input rows of the seasons it may
see, and the files its upstream partitions wrote. Their hash, its *determinants*, is recorded
in the manifest beside the partition. A new run_dir looks for the same determinants in the
complete run_dirs of the same experiment beside it; it copies the files of one it finds, each
checked against that run_dir's manifest, and records where they came from. A copy is the same
bytes as a refit (the fits are deterministic), so nothing downstream can tell the difference.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd

from hindcast_assets.core.data import ExperimentData
from hindcast_assets.core.rundir import RunDir, RunDirName, Written, content_hash
from hindcast_assets.pipeline.store import RunDirView
from hindcast_assets.pipeline.table import Partitioning, Stage, partition_id, stage_table
from hindcast_assets.pipeline.versions import pipeline_version

# Config fields no reusable stage reads: what a run_dir reports, where it delivers, how far its
# hindcast and forecasts go (a fold's own test season is its partition), and the input paths and
# where they are pulled from (their rows are hashed instead).
NOT_READ_BY_FOLDS = ("description", "reference_name", "yardstick_name", "hindcast.last_test_year",
                     "hindcast.fold_runs", "forecast.first_season_year", "forecast.last_season_year",
                     "delivery_prefix", "mlflow", "lifecycle", "inputs", "ingest")


def _without(resolved: dict, dotted: tuple[str, ...]) -> dict:
    out = json.loads(json.dumps(resolved))
    for key in dotted:
        *parents, last = key.split(".")
        node = out
        for p in parents:
            node = node.get(p, {})
        node.pop(last, None)
    return out


def rows_through(data: ExperimentData, last_season: int | None) -> str:
    """A hash of every input row of the seasons up to `last_season` (None: all): the yields and
    static features by season, the indices by their date's year (a season's features use no date
    after its year's end, core/features.py). Made from each season's digest, taken once per
    process: a fold reads a few more seasons than the one before it."""
    key = ("rows_through", last_season)
    if key not in data.derived:
        parts = {}
        for name, frame, year in (("yields", data.yields, "season_year"), ("indices", data.indices, "date"),
                                  ("static", data.static, "season_year")):
            if frame is None:
                continue
            digest = hashlib.sha256(json.dumps([[c, str(t)] for c, t in frame.dtypes.items()]).encode())
            for season, rows in _season_digests(data, name, frame, year).items():
                if last_season is None or season <= last_season:
                    digest.update(rows)
            parts[name] = digest.hexdigest()
        data.derived[key] = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    return data.derived[key]


def _season_digests(data: ExperimentData, name: str, frame: pd.DataFrame, year: str) -> dict[Any, bytes]:
    """Each season's sha256 of its rows' hashes (pandas' per-row hash, in the frame's order), by
    season; only these are kept (the rows' hashes of county-scale indices would be ~10 bytes a row)."""
    key = ("season_digests", name)
    if key not in data.derived:
        seasons = frame[year].dt.year if year == "date" else frame[year]
        rows = pd.Series(pd.util.hash_pandas_object(frame, index=False).to_numpy())
        data.derived[key] = {season: hashlib.sha256(part.to_numpy().tobytes()).digest()
                             for season, part in rows.groupby(seasons.to_numpy(), sort=True, dropna=False)}
    return data.derived[key]


def _upstream_partitions(view: RunDirView, stage: Stage, partition: Any) -> Iterator[str]:
    """The stage partitions `stage[partition]` reads: a whole-run stage once, a fold stage at the
    same fold, or at every fold up to it where it reads all (walk-forward: never a later fold)."""
    table = {s.name: s for s in stage_table(view.cfg)}
    folds = view.cfg.folds
    for up in stage.upstream:
        if table[up.stage].partitioning is Partitioning.NONE:
            yield partition_id(up.stage, None)
        elif up.all_partitions:
            yield from (partition_id(up.stage, f) for f in folds[:folds.index(partition) + 1])
        else:
            yield partition_id(up.stage, partition)


def determinants(view: RunDirView, stage: Stage, partition: Any, completed: dict, hashes: dict) -> str | None:
    """The hash of what `stage[partition]` is made from, or None where it cannot be known (the
    stage is not reusable, or an upstream partition is not complete here)."""
    if stage.reuse_horizon is None:
        return None
    upstream = {}
    for pid in _upstream_partitions(view, stage, partition):
        if pid not in completed:
            return None
        upstream[pid] = [[rel, hashes.get(rel)] for rel in completed[pid]["outputs"]]
    cfg = view.cfg
    what = {"stage": stage.name, "partition": partition, "code": pipeline_version(),
            "config": _without(cfg.resolved(), NOT_READ_BY_FOLDS),
            "rows": rows_through(view.data, stage.reuse_horizon(cfg, partition)), "upstream": upstream}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def siblings(rd: RunDir, key: str) -> list[RunDir]:
    """The other run_dirs of the experiment in the same folder, newest first."""
    parent = rd.root.parent
    names = [p.name for p in parent.iterdir() if p.name != rd.root.name] if parent.exists() else []
    return [RunDir(parent / n) for n in sorted(names, reverse=True)
            if (name := RunDirName.parse(n)) and name.experiment_key == key]


def copy_files(rd: RunDir, donor: RunDir, hashes: dict[str, str]) -> list[Written] | None:
    """The donor's files (run_dir-relative path -> the sha256 its manifest recorded) copied into
    `rd`, each read once and checked to be the recorded bytes before any is written (never half
    a partition); None, nothing written, if one is missing, a folder or changed."""
    try:
        files = {rel: (donor.root / rel).read_bytes() for rel in hashes}
    except OSError:  # missing, or a folder
        return None
    if any(content_hash(data) != hashes[rel] for rel, data in files.items()):
        return None
    return [rd.write_bytes(rd.root / rel, data) for rel, data in files.items()]
