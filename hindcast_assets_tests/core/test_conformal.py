"""Conformal quantiles by hand, and calibration that never looks at the season it serves."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.core.conformal import calibrate, conformal_quantile, interval, scores


def test_quantile_uses_the_n_plus_one_rank():
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0]  # n = 9
    assert conformal_quantile(values, 0.8) == 8.0  # ceil(10 * 0.8) = 8th smallest
    assert conformal_quantile(values, 0.9) == 9.0  # ceil(10 * 0.9) = 9th smallest
    assert conformal_quantile(values, 0.5) == 5.0  # ceil(10 * 0.5) = 5th
    assert math.isnan(conformal_quantile(values[:8], 0.9))  # ceil(9 * 0.9) = 9 > n = 8: no interval
    assert conformal_quantile(values[:8] + [np.nan], 0.5) == 5.0  # NaN scores are dropped: n = 8, rank 5


def test_scores_and_intervals_per_mode():
    assert scores([110.0], [100.0], "absolute").tolist() == [10.0]
    assert scores([90.0], [100.0], "relative").tolist() == [0.1]
    lo, hi = interval([100.0], 10.0, "absolute")
    assert (lo[0], hi[0]) == (90.0, 110.0)
    lo, hi = interval([200.0], 0.1, "relative")
    assert (lo[0], hi[0]) == pytest.approx((180.0, 220.0))
    with pytest.raises(ValueError, match="unknown conformal mode 'squared'"):
        scores([1.0], [1.0], "squared")


def _residuals(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seasons = np.repeat(np.arange(2000, 2012), 4)
    prediction = rng.normal(150, 10, len(seasons))
    return pd.DataFrame({"season_year": seasons, "prediction": prediction,
                         "actual": prediction + rng.normal(0, 8, len(seasons))})


TARGETS = [(str(y), y) for y in range(2003, 2012)] + [("production", None)]


def test_each_fold_is_calibrated_on_earlier_seasons_only():
    table = calibrate(_residuals(), TARGETS, "absolute", [0.8], "geo", min_folds=3)
    row = table.set_index("calibrated_for").loc["2005"]
    past = _residuals()[_residuals()["season_year"] < 2005]
    assert row["n_residuals"] == len(past) == 20 and row["last_season"] == 2004
    assert row["quantile"] == conformal_quantile(np.abs(past["actual"] - past["prediction"]), 0.8)
    assert table.set_index("calibrated_for").loc["production", "n_residuals"] == 48
    assert math.isnan(calibrate(_residuals(), [("2002", 2002)], "absolute", [0.8], "geo", 3)["quantile"].iloc[0])


def test_the_warmup_stands_in_only_for_folds_with_too_few_earlier_seasons():
    """Test seasons from 2003, min_folds 3: folds 2003-2005 have 0-2 earlier seasons, so the
    warm-up seasons (2000-2002 here) join their pools; from 2006 the pool is as without it."""
    rows = _residuals()
    warm, tests = rows[rows["season_year"] < 2003], rows[rows["season_year"] >= 2003]
    without = calibrate(tests, TARGETS, "absolute", [0.8], "geo", 3).set_index("calibrated_for")
    table = calibrate(tests, TARGETS, "absolute", [0.8], "geo", 3, warmup=warm).set_index("calibrated_for")
    assert without.loc[["2003", "2004", "2005"], "quantile"].isna().all()
    assert table.loc["2003", "n_residuals"] == 12 and table.loc["2005", "n_residuals"] == 20
    assert table.loc["2005", ["first_season", "last_season"]].tolist() == [2000, 2004]
    pooled = rows[rows["season_year"] < 2005]
    assert table.loc["2005", "quantile"] == conformal_quantile(np.abs(pooled["actual"] - pooled["prediction"]), 0.8)
    pd.testing.assert_frame_equal(table.loc["2006":], without.loc["2006":], check_dtype=False)  # no warm-up


def test_perturbing_season_y_changes_nothing_for_folds_up_to_y():
    y = 2007
    clean = calibrate(_residuals(), TARGETS, "relative", [0.8, 0.9], "geo", min_folds=3)
    shocked = _residuals()
    shocked.loc[shocked["season_year"] == y, "actual"] += 500.0
    perturbed = calibrate(shocked, TARGETS, "relative", [0.8, 0.9], "geo", min_folds=3)
    upto = clean["calibrated_for"].isin([str(s) for s in range(2003, y + 1)])
    pd.testing.assert_frame_equal(clean[upto], perturbed[upto])
    later = clean["calibrated_for"].isin([str(s) for s in range(y + 1, 2012)] + ["production"])
    assert (perturbed.loc[later, "quantile"] > clean.loc[later, "quantile"]).all()
