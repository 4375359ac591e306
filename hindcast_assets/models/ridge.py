"""Ridge regression on standardised features: the linear reference model (skops file)."""
from __future__ import annotations

from hindcast_assets.models import ModelPlugin
from hindcast_assets.models._sklearn import load_skops, save_skops


def _fit(features, target, params):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), Ridge(**params)).fit(features.to_numpy(float), target.to_numpy(float))


PLUGIN = ModelPlugin(
    name="ridge",
    fit=_fit,
    predict=lambda est, features: est.predict(features.to_numpy(float)),
    save=save_skops,
    load=load_skops,
    file_name="model.skops",
    default_params={"alpha": 10.0},
    search_space=lambda trial: {"alpha": trial.suggest_float("alpha", 0.1, 1000.0, log=True)},
)
