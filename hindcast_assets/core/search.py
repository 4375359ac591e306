"""Bounded hyperparameter search inside a fold's training seasons (Optuna, seeded TPE).

Time-ordered: the last seasons of the training window validate the earlier ones, so the test
season is never seen. A fixed number of trials and a fixed seed keep a fold's result
reproducible (a run_dir refuses an artefact that changes on re-materialisation).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from hindcast_assets.core.metrics import rmse
from hindcast_assets.models import get_plugin, train_one


def inner_split(train: pd.DataFrame, validation_seasons: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(earlier seasons, last `validation_seasons` seasons) of the training rows."""
    seasons = sorted(train["season_year"].unique())
    if len(seasons) <= validation_seasons:
        raise ValueError(f"{len(seasons)} training seasons cannot hold {validation_seasons} validation seasons")
    cut = seasons[-validation_seasons]
    return train[train["season_year"] < cut], train[train["season_year"] >= cut]


def search_params(name: str, params: dict[str, Any], inputs: pd.DataFrame, features: list[str],
                  trials: int, validation_seasons: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Best params for model `name` on `inputs` (rows with features and `residual`), and a summary."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plugin = get_plugin(name)
    fit_rows, valid_rows = inner_split(inputs, validation_seasons)
    space: Callable[[Any], dict[str, Any]] = plugin.search_space

    def objective(trial) -> float:
        model = train_one(name, fit_rows[features], fit_rows["residual"], {**params, **space(trial)})
        return rmse(valid_rows["residual"], model.predict(valid_rows))

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=trials)
    summary = {"best_params": study.best_params, "best_validation_rmse": study.best_value, "trials": trials,
               "validation_seasons": sorted(int(s) for s in valid_rows["season_year"].unique())}
    return {**params, **study.best_params}, summary
