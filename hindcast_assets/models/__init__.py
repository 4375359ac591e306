"""Model plugins: one module per model, found by scanning this package and the
`hindcast_assets.models` entry-point group; `train_one` is the only way to train one.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Any

import numpy as np
import pandas as pd

ENTRY_POINT_GROUP = "hindcast_assets.models"


@dataclass(frozen=True)
class ModelPlugin:
    """What a model provides. `fit` gets features and the detrended target; `save` returns the
    bytes of `file_name` (a native format where the library has one) and `load` reads them back."""

    name: str
    fit: Callable[[pd.DataFrame, pd.Series, dict[str, Any]], Any]
    predict: Callable[[Any, pd.DataFrame], np.ndarray]
    save: Callable[[Any], bytes]
    load: Callable[[bytes], Any]
    file_name: str
    default_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainedModel:
    plugin: ModelPlugin
    estimator: Any
    features: list[str]
    params: dict[str, Any]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted detrended target for rows holding the model's features."""
        return np.asarray(self.plugin.predict(self.estimator, frame[self.features]), float)


@cache
def registry() -> dict[str, ModelPlugin]:
    plugins: dict[str, ModelPlugin] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        plugin = getattr(module, "PLUGIN", None)
        if isinstance(plugin, ModelPlugin):
            plugins[plugin.name] = plugin
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        plugin = ep.load()
        plugins[plugin.name] = plugin
    return plugins


def get_plugin(name: str) -> ModelPlugin:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(registry()))})") from None


def train_one(name: str, features: pd.DataFrame, target: pd.Series, params: dict[str, Any]) -> TrainedModel:
    """Fit model `name` on feature columns and the detrended target."""
    plugin = get_plugin(name)
    merged = {**plugin.default_params, **params}
    return TrainedModel(plugin, plugin.fit(features, target, merged), list(features.columns), merged)


def load_model(name: str, data: bytes, features: list[str], params: dict[str, Any]) -> TrainedModel:
    plugin = get_plugin(name)
    return TrainedModel(plugin, plugin.load(data), features, params)
