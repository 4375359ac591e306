"""Peak RSS stage by stage: one hindcast of the synthetic county data (`synthetic.py`) as one
in-process Dagster run (what `hindcast run hindcast` runs) or the plain loop, with the kernel's
peak reset (`/proc/self/clear_refs`) before each stage partition and read after it. Prints a
markdown table (benchmarks/README.md quotes it): RSS before the stage's first partition, its
partitions' highest peak, and RSS after its last. Linux only; minutes and GBs at 10,000 geos.

    .venv/bin/python benchmarks/stage_memory.py 10000 [--folds 20] [--plain] [--inputs DIR]

The run's own peak is the table's highest: `/usr/bin/time` cannot tell it, since each reset
resets the kernel's figure too.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from bench import fresh_state, status_mb
from synthetic import synthetic_config, write_synthetic


@dataclass
class StageMemory:
    partitions: int
    before_mb: float
    peak_mb: float = 0.0
    after_mb: float = 0.0


def measured(stages: dict[str, StageMemory]):
    """`runlog._made_or_reused` (every stage partition of the loop and of Dagster runs goes
    through it) wrapped to book each partition's peak to its stage."""
    from hindcast_assets.pipeline import runlog

    made = runlog._made_or_reused

    def wrapped(view, stage, partition, pid):
        before = status_mb("VmRSS:")
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # the peak (VmHWM) from here
        try:
            return made(view, stage, partition, pid)
        finally:
            booked = stages.setdefault(stage.name, StageMemory(0, before))
            booked.partitions += 1
            booked.peak_mb = max(booked.peak_mb, status_mb("VmHWM:"))
            booked.after_mb = status_mb("VmRSS:")

    runlog._made_or_reused = wrapped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("geos", type=int)
    parser.add_argument("--folds", type=int, default=20)
    parser.add_argument("--plain", action="store_true", help="the plain loop, not a Dagster run")
    parser.add_argument("--inputs", help="a folder for the synthetic inputs, kept (made if missing)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(args.inputs or Path(scratch) / "inputs")
        if not (inputs / "indices.parquet").exists():
            write_synthetic(inputs, args.geos, 40)
        config = Path(scratch) / "synthetic.yaml"
        config.write_text(yaml.safe_dump(synthetic_config(str(inputs), args.folds), sort_keys=False))
        os.environ.update(fresh_state(Path(scratch)))  # bench.py's jobs' own state
        stages: dict[str, StageMemory] = {}
        measured(stages)
        from hindcast_assets.config import load_config

        start = time.perf_counter()
        if args.plain:
            from hindcast_assets.pipeline.loop import plain_hindcast

            plain_hindcast(load_config(config), f"{scratch}/runs", reuse_folds=False)
        else:
            from hindcast_assets.launch.hindcast import run_experiment

            run_experiment(load_config(config), "hindcast", f"{scratch}/runs", reuse_folds=False)
        seconds = time.perf_counter() - start
    print(f"{args.geos} geos x {args.folds} folds, {'plain loop' if args.plain else 'Dagster'}: {seconds:.0f} s\n")
    print("| stage | partitions | RSS before (MB) | peak during | RSS after |\n|---|---|---|---|---|")
    for name, s in stages.items():
        print(f"| {name} | {s.partitions} | {s.before_mb:,.0f} | {s.peak_mb:,.0f} | {s.after_mb:,.0f} |")
    print(f"\nthe run's peak: {max(s.peak_mb for s in stages.values()):,.0f} MB")


if __name__ == "__main__":
    main()
