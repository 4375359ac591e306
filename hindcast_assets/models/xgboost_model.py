"""XGBoost on the detrended target; saved in XGBoost's own JSON format."""
from __future__ import annotations

import numpy as np
import pandas as pd

from hindcast_assets.models import ModelPlugin


def _fit(features: pd.DataFrame, target: pd.Series, params: dict):
    import xgboost as xgb

    params = dict(params)
    rounds = params.pop("num_boost_round")
    return xgb.train(params, xgb.DMatrix(features, label=target), num_boost_round=rounds)


def _predict(booster, features: pd.DataFrame) -> np.ndarray:
    import xgboost as xgb

    return booster.predict(xgb.DMatrix(features))


def _load(data: bytes):
    import xgboost as xgb

    booster = xgb.Booster()
    booster.load_model(bytearray(data))
    return booster


PLUGIN = ModelPlugin(
    name="xgboost",
    fit=_fit,
    predict=_predict,
    save=lambda booster: bytes(booster.save_raw(raw_format="json")),
    load=_load,
    file_name="model.json",
    search_space=lambda trial: {
        "max_depth": trial.suggest_int("max_depth", 2, 6),
        "eta": trial.suggest_float("eta", 0.01, 0.1, log=True),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
    },
    default_params={"objective": "reg:squarederror", "eta": 0.03, "num_boost_round": 300, "max_depth": 4,
                    "min_child_weight": 5, "subsample": 0.8, "colsample_bytree": 0.8, "lambda": 1.0,
                    "seed": 0, "nthread": 1},
)
