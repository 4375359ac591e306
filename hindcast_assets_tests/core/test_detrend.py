"""LinearTrend against values worked out by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.core.detrend import LinearTrend


def _yields(rows: list[tuple[str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["geo_id", "season_year", "target"])


def _trend(model: LinearTrend, geo: str, year: int) -> float:
    return float(model.trend(pd.Series([geo]), pd.Series([year]))[0])


# A: 10, 12, 14 -> slope 2, level 10 at 2000; B: 20, 24, 28 -> slope 4; D: 1, 10, 19 -> slope 9.
THREE_GEOS = [("A", 2000, 10.0), ("A", 2001, 12.0), ("A", 2002, 14.0),
              ("B", 2000, 20.0), ("B", 2001, 24.0), ("B", 2002, 28.0),
              ("D", 2000, 1.0), ("D", 2001, 10.0), ("D", 2002, 19.0)]


def test_straight_line_per_geo():
    model = LinearTrend.fit(_yields(THREE_GEOS), min_seasons=3)
    assert model.slopes["A"] == pytest.approx(2.0)
    assert model.intercepts["A"] == pytest.approx(10.0)  # the level at 2000 (the centre year)
    assert model.slopes["B"] == pytest.approx(4.0)
    assert model.intercepts["B"] == pytest.approx(20.0)
    assert _trend(model, "A", 2003) == pytest.approx(16.0)
    assert _trend(model, "B", 1999) == pytest.approx(16.0)
    assert model.n_seasons == {"A": 3, "B": 3, "D": 3}
    assert model.train_seasons == (2000, 2001, 2002)


def test_trend_is_vectorised_over_rows_in_order():
    model = LinearTrend.fit(_yields(THREE_GEOS), min_seasons=3)
    geos = pd.Series(["B", "A", "A"], index=[10, 20, 30])
    years = pd.Series([2003, 2003, 2005], index=[7, 8, 9])  # indexes need not align
    np.testing.assert_allclose(model.trend(geos, years), [32.0, 16.0, 20.0])


def test_start_year_excludes_earlier_seasons():
    rows = [("A", 1990, 100.0), ("A", 1995, -50.0), *THREE_GEOS]
    model = LinearTrend.fit(_yields(rows), start_year=2000, min_seasons=3)
    assert model.slopes["A"] == pytest.approx(2.0)
    assert model.intercepts["A"] == pytest.approx(10.0)
    assert model.n_seasons["A"] == 3
    assert model.start_year == 2000
    assert model.train_seasons == (2000, 2001, 2002)
    # without the filter the old seasons do pull the line
    assert LinearTrend.fit(_yields(rows), min_seasons=3).slopes["A"] != pytest.approx(2.0)


def test_missing_targets_are_ignored():
    rows = [*THREE_GEOS, ("A", 2003, np.nan)]
    model = LinearTrend.fit(_yields(rows), min_seasons=3)
    assert model.slopes["A"] == pytest.approx(2.0)
    assert model.n_seasons["A"] == 3


def test_short_geo_borrows_median_slope_and_keeps_its_own_level():
    # C has 2 seasons (< min_seasons 3): its own slope would be 10, it borrows median(2, 4, 9) = 4
    # (the mean would be 5).
    # Level: mean(target - 4 * (year - 2000)) = mean(50 - 4, 60 - 8) = mean(46, 52) = 49.
    rows = [*THREE_GEOS, ("C", 2001, 50.0), ("C", 2002, 60.0)]
    model = LinearTrend.fit(_yields(rows), min_seasons=3)
    assert model.pooled_slope == pytest.approx(4.0)
    assert model.slopes["C"] == pytest.approx(4.0)
    assert model.intercepts["C"] == pytest.approx(49.0)
    assert model.n_seasons["C"] == 2
    assert _trend(model, "C", 2003) == pytest.approx(61.0)
    # the others keep their own fit
    assert model.slopes["A"] == pytest.approx(2.0) and model.slopes["D"] == pytest.approx(9.0)


def test_all_geos_short_gives_flat_trend_at_own_mean():
    rows = [("A", 2000, 10.0), ("A", 2001, 14.0), ("B", 2001, 7.0)]
    model = LinearTrend.fit(_yields(rows), min_seasons=3)
    assert model.pooled_slope == 0.0
    assert model.intercepts == pytest.approx({"A": 12.0, "B": 7.0})
    assert _trend(model, "A", 2010) == pytest.approx(12.0)


def test_unknown_geo_raises_key_error():
    model = LinearTrend.fit(_yields(THREE_GEOS), min_seasons=3)
    with pytest.raises(KeyError, match="Z"):
        model.trend(pd.Series(["A", "Z"]), pd.Series([2003, 2003]))


def test_no_training_rows_is_an_error():
    with pytest.raises(ValueError, match="no training seasons"):
        LinearTrend.fit(_yields(THREE_GEOS), start_year=2010, min_seasons=3)
