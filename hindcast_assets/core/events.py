"""Uniform training events, the same fields for every model (observability without branching)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def training_event(kind: str, *, experiment: str, fold: str, model: str, n_rows: int, n_features: int,
                   seconds: float | None = None, metrics: dict[str, float] | None = None) -> dict[str, Any]:
    event = {"event": kind, "experiment": experiment, "fold": fold, "model": model, "n_rows": n_rows,
             "n_features": n_features}
    if kind == "training_complete":
        event |= {"seconds": round(float(seconds or 0.0), 4), "metrics": metrics or {}}
    return event


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start
