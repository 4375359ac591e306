"""Where a hindcast's seconds go: the stage table run as the plain loop (`pipeline/loop.py`), with
every model fit, prediction and artefact read or write timed (wall and process CPU) and booked to
the stage that made it. Prints a markdown table (benchmarks/README.md quotes it).

    .venv/bin/python benchmarks/profile_hindcast.py configs/corn_usa.yaml [--runs-dir DIR]

The sum of fits and predictions is the floor a hindcast can reach: what is not a fit or a
prediction (features as of each init date, intervals' bookkeeping, I/O, run records) is what
there is to cut.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable

import pandas as pd

KINDS = ("fit", "predict", "read", "write")


class Books:
    """Seconds (wall, CPU) and calls per (stage, kind); `stage` is the one running now."""

    def __init__(self) -> None:
        self.stage = "-"
        self.wall: dict[tuple[str, str], float] = defaultdict(float)
        self.cpu: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.depth = 0  # a read inside a write (or a fit inside a fit) is booked once, outermost
        self.by_model: dict[tuple[str, str], float] = defaultdict(float)  # (model, fit|predict) -> wall

    def timed(self, kind: str, fn: Callable, model: str | None = None) -> Callable:
        def wrapper(*args, **kwargs):
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                key = (self.stage, kind)
                self.wall[key] += time.perf_counter() - wall
                self.cpu[key] += time.process_time() - cpu
                self.calls[key] += 1
                if model:
                    self.by_model[(model, kind)] += time.perf_counter() - wall
        return wrapper


def instrument(books: Books) -> None:
    """Wrap every plugin's fit and predict, the store's reads and writes, and the loop's stage calls."""
    from hindcast_assets import models
    from hindcast_assets.pipeline import loop, store

    plugins = models.registry()
    for name, plugin in list(plugins.items()):
        plugins[name] = dataclasses.replace(plugin, fit=books.timed("fit", plugin.fit, name),
                                            predict=books.timed("predict", plugin.predict, name))
    store.Artefact.read = books.timed("read", store.Artefact.read)
    store.Artefact.write = books.timed("write", store.Artefact.write)
    recorded = loop.run_recorded

    def run_recorded(view, stage, partition, ids):
        books.stage = stage.name
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return recorded(view, stage, partition, ids)
        finally:
            books.wall[(stage.name, "stage")] += time.perf_counter() - wall
            books.cpu[(stage.name, "stage")] += time.process_time() - cpu
            books.calls[(stage.name, "stage")] += 1

    loop.run_recorded = run_recorded


def table(books: Books, total_wall: float, total_cpu: float) -> pd.DataFrame:
    stages = list(dict.fromkeys(s for s, k in books.wall if k == "stage"))
    rows = []
    for s in stages:
        row = {"stage": s, "partitions": books.calls[(s, "stage")], "wall_s": books.wall[(s, "stage")],
               "cpu_s": books.cpu[(s, "stage")]}
        for k in KINDS:
            row[f"{k}_s"], row[f"{k}s"] = books.wall[(s, k)], books.calls[(s, k)]
        row["other_s"] = row["wall_s"] - sum(row[f"{k}_s"] for k in KINDS)
        rows.append(row)
    out = pd.DataFrame(rows)
    total = out.drop(columns="stage").sum().to_dict() | {"stage": "all stages"}
    outside = {"stage": "outside stages (inputs, lease, run_dir)", "wall_s": total_wall - total["wall_s"],
               "cpu_s": total_cpu - total["cpu_s"]}
    return pd.concat([out, pd.DataFrame([total, outside])], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--runs-dir", default=None)
    args = parser.parse_args()
    from hindcast_assets.config import load_config
    from hindcast_assets.pipeline.loop import plain_hindcast

    books = Books()
    instrument(books)
    cfg = load_config(args.config)
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="profile_")
    wall, cpu = time.perf_counter(), time.process_time()
    rd = plain_hindcast(cfg, runs_dir)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out = table(books, wall, cpu)
    print(f"{cfg.experiment_key}: {len(cfg.folds)} folds, {rd}; wall {wall:.1f} s, process CPU {cpu:.1f} s\n")
    print(out.to_markdown(index=False, floatfmt=".1f"))
    models = pd.Series(books.by_model).unstack(fill_value=0.0)
    print("\nby model (wall s)\n\n" + models.to_markdown(floatfmt=".1f"))
    floor = out.iloc[-2][["fit_s", "predict_s"]].sum()
    print(f"\nfits + predictions: {floor:.1f} s of {wall:.1f} s wall: the loop is {wall / floor:.2f}x its fits and "
          "predictions")


if __name__ == "__main__":
    main()
