"""Bias correction and intervals per fold, fitted on earlier folds only; national aggregation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.config import config_from_dict
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core.bias import BiasCorrector
from hindcast_assets.core.conformal import conformal_quantile


def _cfg(**overrides):
    raw = {"experiment_key": "toy", "unit": "t/ha", "inputs": {"yields": "y.parquet"},
           "columns": {"target": "y", "area": "a"}, "model": {"name": "trend"},
           "hindcast": {"first_test_year": 2001, "last_test_year": 2006},
           "bias_correction": {"min_folds": 2, "shrinkage": 1.0}, "conformal": {"min_folds": 2, "levels": [0.5]}}
    return config_from_dict({**raw, **overrides}, "toy.yaml")


def _walk_forward(shift: dict[int, float] | None = None) -> dict[str, pd.DataFrame]:
    out = {}
    for season in range(2001, 2007):
        target = np.array([10.0, 20.0]) + (shift or {}).get(season, 0.0)
        prediction = np.array([9.0, 21.0 + season - 2001])
        out[str(season)] = pd.DataFrame({"fold": str(season), "geo_id": ["a", "b"], "season_year": season,
                                         "target": target, "prediction": prediction, "trend": prediction,
                                         "area": [1.0, 3.0]})
    return out


def test_bias_corrector_by_hand():
    # residuals before 2004: a: +1, +1, +1; b: -1, -2, -3; overall mean -0.5
    corrector = pp.fit_bias_corrector(_cfg(), _walk_forward(), "2004")
    assert corrector.calibration_folds == ("2001", "2002", "2003") and corrector.overall == -0.5
    # b_g = n/(n+k) * (mean_g - overall), n = 3, k = 1
    assert corrector.per_geo == pytest.approx({"a": 0.75 * 1.5, "b": 0.75 * -1.5})
    assert corrector.bias(pd.Series(["a", "b", "new"])).tolist() == pytest.approx([1.125, -1.125, 0.0])


def test_too_few_earlier_folds_or_disabled_corrects_nothing():
    assert not pp.fit_bias_corrector(_cfg(), _walk_forward(), "2002").enabled  # one earlier fold < 2
    off = _cfg(bias_correction={"enabled": False})
    assert pp.fit_bias_corrector(off, _walk_forward(), "2005").bias(pd.Series(["a"])).tolist() == [0.0]


def test_bias_of_fold_y_ignores_season_y_and_later():
    y = "2004"
    clean, shocked = _walk_forward(), _walk_forward({2004: 50.0, 2005: -50.0})
    assert pp.fit_bias_corrector(_cfg(), clean, y) == pp.fit_bias_corrector(_cfg(), shocked, y)
    assert pp.fit_bias_corrector(_cfg(), clean, "2005") != pp.fit_bias_corrector(_cfg(), shocked, "2005")
    assert pp.earlier_folds(_cfg(), "production") == ["2001", "2002", "2003", "2004", "2005", "2006"]


def test_intervals_use_each_folds_own_quantile():
    cfg = _cfg()
    walk_forward = _walk_forward()
    correctors = {f: BiasCorrector.fit(pd.DataFrame(), 1.0, 2, enabled=False) for f in walk_forward}
    geo = pp.corrected_geo_preds(walk_forward, correctors)
    yields = geo.rename(columns={"actual": "target"})[["geo_id", "season_year", "target", "area"]]
    national = pp.national_preds(cfg, geo, yields)
    # national prediction 2001: (9 * 1 + 21 * 3) / 4 = 18; actual (10 + 60) / 4 = 17.5
    first = national.set_index("season_year").loc[2001]
    assert (first["prediction"], first["actual"], first["geo_id"]) == (18.0, 17.5, "NATIONAL")
    sidecars = pp.conformal_sidecars(cfg, geo, national)
    assert set(sidecars) == {"absolute", "relative"}
    with_iv = pp.with_intervals(geo, sidecars, "geo").set_index(["season_year", "geo_id"])
    past = geo[geo["season_year"] < 2004]
    q = conformal_quantile(np.abs(past["actual"] - past["prediction"]), 0.5)
    row = with_iv.loc[(2004, "b")]
    assert (row["lower_absolute_50"], row["upper_absolute_50"]) == (row["prediction"] - q, row["prediction"] + q)
    assert np.isnan(with_iv.loc[(2002, "a"), "lower_absolute_50"])  # one earlier season < min_folds
