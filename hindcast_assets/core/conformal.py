"""Split-conformal intervals from walk-forward residuals.

Scores: `absolute` |y - ŷ| (interval ŷ ± q) and `relative` |y - ŷ| / ŷ (interval ŷ (1 ± q)).
The level-α quantile of n scores is the ceil((n + 1) α)-th smallest (finite-sample correction);
when that rank exceeds n there are too few residuals and no interval is given.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

MODES = ("absolute", "relative")


def scores(actual, predicted, mode: str) -> np.ndarray:
    a, p = np.asarray(actual, float), np.asarray(predicted, float)
    if mode == "absolute":
        return np.abs(a - p)
    if mode == "relative":
        return np.abs(a - p) / np.abs(p)
    raise ValueError(f"unknown conformal mode {mode!r} (known: {', '.join(MODES)})")


def conformal_quantile(values, level: float) -> float:
    """The ceil((n+1)·level)-th smallest score, NaN if that rank exceeds n."""
    v = np.sort(np.asarray(values, float)[~np.isnan(np.asarray(values, float))])
    rank = math.ceil((len(v) + 1) * level - 1e-9)
    return float(v[rank - 1]) if 1 <= rank <= len(v) else float("nan")


def interval(predicted, quantile, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) of each prediction; `quantile` a scalar or one per prediction."""
    p = np.asarray(predicted, float)
    half = quantile * (np.abs(p) if mode == "relative" else 1.0)
    return p - half, p + half


def calibrate(residuals: pd.DataFrame, targets: list[tuple[str, int | None]], mode: str, levels, scope: str,
              min_folds: int, warmup: pd.DataFrame | None = None) -> pd.DataFrame:
    """Sidecar rows for each (fold name, test season) in `targets`: the quantile from rows of
    `residuals` (`season_year, actual, prediction`) of seasons strictly before the test season
    (all seasons for production). Fewer than `min_folds` earlier seasons: the `warmup` rows (seasons
    before the first test season, `core/warmup.py`) stand in beside them; still fewer: no quantile."""
    pools = {}
    for fold, season in targets:
        past = residuals if season is None else residuals[residuals["season_year"] < season]
        if warmup is not None and len(warmup) and past["season_year"].nunique() < min_folds:
            past = pd.concat([warmup, past], ignore_index=True)
        pools[fold] = past
    return calibrate_on(pools, mode, levels, scope, min_folds)


def calibrate_on(pools: dict[str, pd.DataFrame], mode: str, levels, scope: str, min_seasons: int = 1) -> pd.DataFrame:
    """Sidecar rows for each fold from its own pool of residual rows (`season_year, actual,
    prediction`); fewer than `min_seasons` seasons in a pool: no quantile."""
    rows = []
    for fold, past in pools.items():
        seasons = sorted(past["season_year"].unique())
        s = scores(past["actual"], past["prediction"], mode)
        for level in levels:
            q = conformal_quantile(s, level) if len(seasons) >= min_seasons else float("nan")
            rows.append({"mode": mode, "scope": scope, "level": float(level), "calibrated_for": fold,
                         "quantile": q, "n_residuals": int(np.isfinite(s).sum()), "n_seasons": len(seasons),
                         "first_season": int(seasons[0]) if seasons else None,
                         "last_season": int(seasons[-1]) if seasons else None})
    return pd.DataFrame(rows)
