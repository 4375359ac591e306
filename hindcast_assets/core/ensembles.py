"""Ensembles composed of base models' fold predictions (of the detrended target).

`blend_avg`: the mean of the members. `stack_ridge`: a ridge meta-model on the members'
walk-forward predictions of earlier folds only (equal weights until `min_folds` earlier folds).
Saved as plain JSON (method, members, weights, intercept): no pickle, nothing to execute.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from hindcast_assets.config import EnsembleConfig
from hindcast_assets.core.frames import prediction_frame

ENSEMBLE_FILE = "model.json"


@dataclass(frozen=True)
class EnsembleModel:
    name: str
    method: str
    members: list[str]
    weights: list[float]
    intercept: float
    n_calibration_rows: int = 0

    def predict(self, member_residuals: pd.DataFrame) -> np.ndarray:
        """Combined detrended prediction from one column per member."""
        return member_residuals[self.members].to_numpy(float) @ np.asarray(self.weights) + self.intercept

    def to_json(self) -> str:
        return json.dumps({"ensemble": True, **asdict(self)}, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EnsembleModel:
        spec = json.loads(text)
        spec.pop("ensemble", None)
        return cls(**spec)


def ridge_weights(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge with an unpenalised intercept, closed form on centred data."""
    x_mean, y_mean = x.mean(axis=0), y.mean()
    xc, yc = x - x_mean, y - y_mean
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)
    return w, float(y_mean - x_mean @ w)


def fit_ensemble(name: str, spec: EnsembleConfig, earlier: pd.DataFrame, n_earlier_folds: int) -> EnsembleModel:
    """`earlier`: rows of earlier folds with one pred_residual column per member and `residual`
    (actual - trend). Ignored by blend_avg, and by stack_ridge below its min_folds."""
    equal = [1.0 / len(spec.members)] * len(spec.members)
    if spec.method == "blend_avg" or n_earlier_folds < spec.min_folds or earlier.empty:
        return EnsembleModel(name, spec.method, list(spec.members), equal, 0.0, 0)
    w, b = ridge_weights(earlier[spec.members].to_numpy(float), earlier["residual"].to_numpy(float), spec.alpha)
    return EnsembleModel(name, spec.method, list(spec.members), [float(v) for v in w], b, len(earlier))


def member_table(preds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Members' prediction frames side by side: keys, target, trend and one pred_residual column each."""
    names = list(preds)
    first = preds[names[0]]
    table = first[["fold", "geo_id", "season_year", "target", "area", "trend"]].reset_index(drop=True)
    for name in names:
        frame = preds[name]
        if not frame[["geo_id", "season_year"]].reset_index(drop=True).equals(table[["geo_id", "season_year"]]):
            raise ValueError(f"member {name!r} predicted other rows than {names[0]!r}")
        table[name] = frame["pred_residual"].to_numpy(float)
    return table.assign(residual=table["target"] - table["trend"])


def ensemble_predictions(model: EnsembleModel, members: pd.DataFrame) -> pd.DataFrame:
    """The prediction frame of an ensemble, in the same columns as a base model's."""
    return prediction_frame(members, model.predict(members), model.name, members["fold"].iloc[0])
