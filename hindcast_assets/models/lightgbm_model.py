"""LightGBM on the detrended target; saved in LightGBM's own text format.

lightgbm is imported inside the hooks: loading the code location should not pay for it.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from hindcast_assets.models import ModelPlugin


def _fit(features: pd.DataFrame, target: pd.Series, params: dict):
    import lightgbm as lgb

    params = dict(params)
    rounds = params.pop("num_boost_round")
    return lgb.train(params, lgb.Dataset(features, label=target), num_boost_round=rounds)


def _predict(booster, features: pd.DataFrame) -> np.ndarray:
    return booster.predict(features)


def _load(data: bytes):
    import lightgbm as lgb

    return lgb.Booster(model_str=data.decode())


PLUGIN = ModelPlugin(
    name="lightgbm",
    fit=_fit,
    predict=_predict,
    save=lambda booster: booster.model_to_string().encode(),
    load=_load,
    file_name="model.txt",
    search_space=lambda trial: {
        "num_leaves": trial.suggest_int("num_leaves", 4, 31),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 50),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.5, 1.0),
    },
    default_params={
        "objective": "regression", "learning_rate": 0.03, "num_boost_round": 300, "num_leaves": 15,
        "min_data_in_leaf": 20, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
        "lambda_l2": 1.0, "seed": 0, "deterministic": True, "force_row_wise": True,
        "num_threads": 1, "verbosity": -1,
    },
)
