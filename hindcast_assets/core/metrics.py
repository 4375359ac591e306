"""Skill metrics over actual and predicted arrays (NaN pairs dropped)."""
from __future__ import annotations

import numpy as np


def _pairs(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    a, p = np.asarray(actual, float), np.asarray(predicted, float)
    ok = ~(np.isnan(a) | np.isnan(p))
    return a[ok], p[ok]


def rmse(actual, predicted) -> float:
    a, p = _pairs(actual, predicted)
    return float(np.sqrt(np.mean((a - p) ** 2))) if a.size else float("nan")


def mae(actual, predicted) -> float:
    a, p = _pairs(actual, predicted)
    return float(np.mean(np.abs(a - p))) if a.size else float("nan")


def mape(actual, predicted) -> float:
    """Mean absolute percentage error, in percent."""
    a, p = _pairs(actual, predicted)
    return float(100 * np.mean(np.abs(a - p) / np.abs(a))) if a.size else float("nan")


def skill(actual, predicted) -> dict[str, float]:
    return {"rmse": rmse(actual, predicted), "mae": mae(actual, predicted), "mape": mape(actual, predicted),
            "n": int(_pairs(actual, predicted)[0].size)}


def nrmse(actual, predicted) -> float:
    """RMSE as a percentage of the mean actual."""
    a, p = _pairs(actual, predicted)
    return float(100 * rmse(a, p) / np.mean(a)) if a.size else float("nan")


def r2(actual, predicted) -> float:
    """1 - SSE / SST; undefined (NaN, not -inf) when the actuals do not vary."""
    a, p = _pairs(actual, predicted)
    total = np.sum((a - a.mean()) ** 2) if a.size >= 2 else 0.0
    return float(1 - np.sum((a - p) ** 2) / total) if total > 0 else float("nan")


def mean_bias(actual, predicted) -> float:
    """Mean of prediction - actual (positive = over-prediction)."""
    a, p = _pairs(actual, predicted)
    return float(np.mean(p - a)) if a.size else float("nan")


def full_skill(actual, predicted) -> dict[str, float]:
    a, p = _pairs(actual, predicted)  # once: from a pandas column each metric converted it again (a county
    # report's skill per geo spent seconds there)
    return {"rmse": rmse(a, p), "mae": mae(a, p), "mape": mape(a, p), "nrmse": nrmse(a, p), "r2": r2(a, p),
            "bias": mean_bias(a, p), "n": int(a.size)}
