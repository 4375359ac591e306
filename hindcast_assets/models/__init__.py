"""Model plugins: one module per model, found by scanning this package and the
`hindcast_assets.models` entry-point group; `train_one` is the only way to train one.
"""
from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections import OrderedDict
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
    search_space: Callable[[Any], dict[str, Any]] | None = None  # optuna trial -> params (optional)


@dataclass(frozen=True)
class TrainedModel:
    plugin: ModelPlugin
    estimator: Any
    features: list[str]
    params: dict[str, Any]
    alias: str | None = None  # the config's name for it where that is not the plugin's (ModelSpec)

    @property
    def name(self) -> str:
        return self.alias or self.plugin.name

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Predicted detrended target for rows holding the model's features."""
        return np.asarray(self.plugin.predict(self.estimator, frame[self.features]), float)


class PluginError(TypeError):
    """A model plugin that does not provide what every model must."""


HOOKS = ("fit", "predict", "save", "load")


def _checked(plugin: Any, origin: str) -> ModelPlugin:
    if not isinstance(plugin, ModelPlugin):
        raise PluginError(f"{origin}: PLUGIN must be a ModelPlugin, got {type(plugin).__name__}")
    missing = [h for h in HOOKS if not callable(getattr(plugin, h, None))]
    if missing or not plugin.file_name.startswith("model."):
        raise PluginError(f"{origin}: model {plugin.name!r} lacks hooks {missing} or a model.* file_name")
    return plugin


@cache
def registry() -> dict[str, ModelPlugin]:
    """Models by name: every module of this package with a `PLUGIN`, then the entry points."""
    plugins: dict[str, ModelPlugin] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "PLUGIN"):
            plugin = _checked(module.PLUGIN, module.__name__)
            plugins[plugin.name] = plugin
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        plugin = _checked(ep.load(), f"entry point {ep.name} ({ep.value})")
        plugins[plugin.name] = plugin
    return plugins


def get_plugin(name: str) -> ModelPlugin:
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r} (known: {', '.join(sorted(registry()))})") from None


def train_one(name: str, features: pd.DataFrame, target: pd.Series, params: dict[str, Any],
              alias: str | None = None) -> TrainedModel:
    """Fit model `name` on feature columns and the detrended target (`alias`: the config's name
    for it, where that is not the plugin's)."""
    plugin = get_plugin(name)
    merged = {**plugin.default_params, **params}
    return TrainedModel(plugin, plugin.fit(features, target, merged), list(features.columns), merged,
                        alias if alias != name else None)


_DECODED: OrderedDict[tuple[str, bytes], Any] = OrderedDict()  # (plugin, sha256 of the file) -> estimator
_KEEP_DECODED = 256  # a corn_usa hindcast's models: 35 folds x 5


def load_model(name: str, data: bytes, features: list[str], params: dict[str, Any],
               alias: str | None = None) -> TrainedModel:
    """The model a file holds. The same bytes are decoded once per process: a fold's models are
    read by its predictions, then again by the calibration by init date, and decoding a
    scikit-learn file (skops) costs about a tenth of a second. Estimators are only predicted
    with, never changed, so the one object serves every reader."""
    plugin = get_plugin(name)
    key = (name, hashlib.sha256(data).digest())
    if key in _DECODED:
        _DECODED.move_to_end(key)
    else:
        _DECODED[key] = plugin.load(data)
        while len(_DECODED) > _KEEP_DECODED:
            _DECODED.popitem(last=False)
    return TrainedModel(plugin, _DECODED[key], features, params, alias if alias != name else None)
