"""scikit-learn's histogram gradient boosting (skops file)."""
from __future__ import annotations

from hindcast_assets.models import ModelPlugin
from hindcast_assets.models._sklearn import load_skops, save_skops

TRUSTED = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def _fit(features, target, params):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(**params).fit(features.to_numpy(float), target.to_numpy(float))


def _save(estimator) -> bytes:
    """The skops file, without the thread count the fit ran on: the bin mapper keeps it, though
    only fitting uses it (predict takes its own), and it would make the same model's file differ
    between a fit on one core and one on two (pipeline/cpu_share.py)."""
    estimator._bin_mapper.n_threads = None
    return save_skops(estimator)


PLUGIN = ModelPlugin(
    name="hist_gbm",
    fit=_fit,
    predict=lambda est, features: est.predict(features.to_numpy(float)),
    save=_save,
    load=lambda data: load_skops(data, TRUSTED),
    file_name="model.skops",
    search_space=lambda trial: {
        "max_leaf_nodes": trial.suggest_int("max_leaf_nodes", 4, 31),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.1, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 5, 50),
    },
    default_params={"learning_rate": 0.05, "max_iter": 200, "max_leaf_nodes": 15, "min_samples_leaf": 20,
                    "l2_regularization": 1.0, "random_state": 0},
)
