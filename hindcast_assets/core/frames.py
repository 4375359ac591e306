"""The prediction frame: one builder for the hindcast, the ensembles and the forecasts, below all
of them (ensembles and predictions each need it, and predictions needs the ensembles)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

HINDCAST_COLUMNS = ("geo_id", "season_year", "target", "area", "trend")  # what a fold's rows carry over
FORECAST_COLUMNS = ("geo_id", "season_year", "init_date", "trend")


def prediction_frame(rows: pd.DataFrame, pred_residual, model: str, fold: str,
                     columns: Sequence[str] = HINDCAST_COLUMNS) -> pd.DataFrame:
    """`fold, model, <columns>, pred_residual, prediction` where prediction = trend + residual."""
    out = rows[list(columns)].copy()
    out["pred_residual"] = np.asarray(pred_residual, float)
    out["prediction"] = out["trend"] + out["pred_residual"]
    out.insert(0, "fold", fold)
    out.insert(1, "model", model)
    return out
