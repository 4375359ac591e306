"""Trend only: predicts a zero detrended residual, so the forecast is the fitted trend.

The baseline every report compares against, and the model for experiments with no predictors.
"""
from __future__ import annotations

import json

import numpy as np

from hindcast_assets.models import ModelPlugin

PLUGIN = ModelPlugin(
    name="trend",
    fit=lambda features, target, params: {"kind": "trend"},
    predict=lambda estimator, features: np.zeros(len(features)),
    save=lambda estimator: json.dumps(estimator).encode(),
    load=lambda data: json.loads(data),
    file_name="model.json",
)
