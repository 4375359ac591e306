"""Which run_dirs `hindcast prune` may delete (the RunDir seed's open question on retention).

Per experiment, the run_dirs beyond the newest `keep`, or older than `older_than_days`, are
candidates; never the experiment's current run_dir, a run_dir the caller protects (the CLI: every
run_dir a registry alias such as `champion` or `challenger` points at), or a run_dir a live run
holds the lease of.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from upath import UPath

from hindcast_assets.core.lease import holder, is_live
from hindcast_assets.core.rundir import RunDir, RunDirName, read_current, remove_tree


@dataclass(frozen=True)
class PruneDecision:
    run_dir: str
    delete: bool
    reason: str


def prune_plan(runs_dir: str, keep: int | None, older_than_days: float | None, now: dt.datetime | None = None,
               protected: dict[str, str] | None = None) -> list[PruneDecision]:
    """A decision for every run_dir under `runs_dir`, newest first per experiment; `protected`
    maps run_dirs that must stay to what they are (`champion (registry version 3) of corn_usa`)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    root = UPath(runs_dir)
    by_key: dict[str, list[tuple[dt.datetime, RunDir]]] = {}
    for path in (root.iterdir() if root.exists() else []):
        name = RunDirName.parse(path.name)
        if path.is_dir() and name:
            by_key.setdefault(name.experiment_key, []).append((name.minted, RunDir(path)))
    decisions = []
    for key, dirs in sorted(by_key.items()):
        current = read_current(runs_dir, key)
        kept = {**(protected or {}), **({str(current): f"current run_dir of {key}"} if current else {})}
        for rank, (made, rd) in enumerate(sorted(dirs, key=lambda d: d[0], reverse=True)):
            age = (now - made).total_seconds() / 86400
            lease = holder(rd)
            if str(rd) in kept:
                decisions.append(PruneDecision(str(rd), False, f"kept: the {kept[str(rd)]}"))
            elif lease is not None and is_live(lease):
                decisions.append(PruneDecision(str(rd), False, f"kept: leased by {lease.describe()}"))
            elif keep is not None and rank >= keep:
                decisions.append(PruneDecision(str(rd), True, f"beyond the newest {keep} of {key}"))
            elif older_than_days is not None and age > older_than_days:
                decisions.append(PruneDecision(str(rd), True, f"{age:.0f} days old (> {older_than_days:g})"))
            else:
                decisions.append(PruneDecision(str(rd), False, "kept"))
    return decisions


def delete_run_dir(path: str) -> None:
    remove_tree(UPath(path))
