"""Ensembles by hand: the blend is a mean, the stack a ridge fitted on earlier folds only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.config import EnsembleConfig
from hindcast_assets.core.ensembles import EnsembleModel, fit_ensemble, member_table, ridge_weights


def _preds(residuals: list[float], fold: str = "2005") -> pd.DataFrame:
    n = len(residuals)
    return pd.DataFrame({"fold": fold, "model": "m", "geo_id": [f"g{i}" for i in range(n)], "season_year": 2005,
                         "target": 100.0, "area": 1.0, "trend": 90.0, "pred_residual": residuals})


def test_blend_is_the_mean_of_members():
    table = member_table({"a": _preds([2.0, 4.0]), "b": _preds([6.0, 0.0])})
    model = fit_ensemble("blend", EnsembleConfig(method="blend_avg", members=["a", "b"]), table, 10)
    assert model.predict(table).tolist() == [4.0, 2.0]
    assert table["residual"].tolist() == [10.0, 10.0]


def test_ridge_weights_match_scikit_learn():
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    w, b = ridge_weights(x, y, 2.5)
    ref = Ridge(alpha=2.5).fit(x, y)
    assert w == pytest.approx(ref.coef_) and b == pytest.approx(ref.intercept_)


def test_stack_needs_min_folds_and_round_trips_as_json():
    spec = EnsembleConfig(method="stack_ridge", members=["a", "b"], min_folds=3)
    table = member_table({"a": _preds([1.0, 2.0, 3.0]), "b": _preds([0.0, 1.0, 5.0])})
    assert fit_ensemble("s", spec, table, n_earlier_folds=2).weights == [0.5, 0.5]  # too few: equal weights
    model = fit_ensemble("s", spec, table, n_earlier_folds=3)
    assert model.n_calibration_rows == 3 and model.weights != [0.5, 0.5]
    assert EnsembleModel.from_json(model.to_json()) == model


def test_members_must_predict_the_same_rows():
    with pytest.raises(ValueError, match="member 'b' predicted other rows"):
        member_table({"a": _preds([1.0, 2.0]), "b": _preds([1.0])})
