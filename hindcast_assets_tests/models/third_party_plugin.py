"""A model as a third-party package would ship it (registered through the entry-point group).

It counts its fits, so a test can show base models are trained once per fold however many
ensembles use them.
"""
from __future__ import annotations

import json

import numpy as np

from hindcast_assets.models import ModelPlugin

FITS: list[int] = []


def _fit(features, target, params):
    FITS.append(len(features))
    return {"mean": float(np.mean(target)) * params["shrink"]}


PLUGIN = ModelPlugin(
    name="shrunk_mean",
    fit=_fit,
    predict=lambda est, features: np.full(len(features), est["mean"]),
    save=lambda est: json.dumps(est).encode(),
    load=lambda data: json.loads(data),
    file_name="model.json",
    default_params={"shrink": 0.5},
)
