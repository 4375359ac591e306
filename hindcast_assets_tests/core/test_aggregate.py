"""Area-weighted aggregation against published totals (real bundled data) and by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.core.aggregate import NATIONAL, aggregation_weights, national_from_geo, national_rows, weighted_mean
from hindcast_assets.paths import BUNDLED_DATA_DIR

STATE, COUNTY = BUNDLED_DATA_DIR / "us_state_corn", BUNDLED_DATA_DIR / "us_county_corn"


def test_county_yields_with_acres_reproduce_the_state_totals():
    county = pd.read_parquet(COUNTY / "yields.parquet")
    states = weighted_mean(county, ["yield_bu_per_acre"], "harvested_acres", ["state_name", "season_year"])
    official = pd.read_parquet(COUNTY / "state_totals.parquet")
    both = states.merge(official, on=["state_name", "season_year"], validate="one_to_one")
    assert len(both) == 93
    diff = (both["yield_bu_per_acre"] - both["yield_area_weighted"]).abs()
    assert diff.mean() < 0.01 and diff.max() < 0.01  # the totals were built this way, to 2 decimals
    assert (both["harvested_acres"] - both["acres"]).abs().max() < 1.0


def test_state_yields_with_acres_reproduce_usda_national_yields():
    state = pd.read_parquet(STATE / "yields.parquet").rename(columns={"yield_bu_per_acre": "target",
                                                                      "harvested_acres": "area"})
    national = national_from_geo(state, ["target"], aggregation_weights(state, state, "actual"))
    usda = pd.read_parquet(STATE / "national_reference.parquet").set_index("season_year")["yield_bu_per_acre"]
    ours = national.set_index("season_year")["target"]
    # USDA's published national yields (us_state_corn/SOURCE.md); the 2012 drought, the 2020 derecho
    for season, published in {1983: 81.1, 1988: 84.6, 1993: 100.7, 2012: 123.1, 2020: 171.4, 2023: 177.3}.items():
        assert ours[season] == pytest.approx(published, abs=0.05)
    assert (ours - usda.reindex(ours.index)).abs().mean() < 0.01


def test_weights_renormalise_over_geos_with_a_value():
    frame = pd.DataFrame({"season_year": [1, 1, 1], "v": [10.0, np.nan, 40.0], "w": [1.0, 5.0, 2.0]})
    out = weighted_mean(frame, ["v"], "w", ["season_year"]).iloc[0]
    assert out["v"] == 30.0 and out["w"] == 8.0 and out["n_geos"] == 3  # (10*1 + 40*2) / 3


def test_previous_area_rule_takes_the_latest_earlier_season():
    yields = pd.DataFrame({"geo_id": ["a", "a", "a", "b"], "season_year": [2000, 2001, 2003, 2003],
                           "area": [5.0, 6.0, 99.0, 7.0]})
    preds = pd.DataFrame({"geo_id": ["a", "a", "b"], "season_year": [2003, 2001, 2003]})
    assert aggregation_weights(preds, yields, "previous").tolist()[:2] == [6.0, 5.0]  # 2001 for 2003, 2000 for 2001
    assert np.isnan(aggregation_weights(preds, yields, "previous").iloc[2])  # b has no earlier season
    assert aggregation_weights(preds, yields, "actual").tolist() == [99.0, 6.0, 7.0]


def _geo(**columns) -> pd.DataFrame:
    base = {"geo_id": ["A", "B", "A", "B"], "season_year": [2010, 2010, 2011, 2011], "fold": ["2010", "2010", "2011", "2011"]}
    return pd.DataFrame({**base, **columns})


YIELDS = pd.DataFrame({"geo_id": ["A", "B", "A", "B", "A", "B"], "season_year": [2009, 2009, 2010, 2010, 2011, 2011],
                       "target": [1.0] * 6, "area": [1.0, 3.0, 2.0, 2.0, 1.0, 1.0]})


def test_national_rows_weight_predictions_by_the_rule_and_actuals_by_the_season_own_area():
    geo = _geo(prediction=[100.0, 200.0, 110.0, 130.0], trend=[90.0, 90.0, 90.0, 90.0], actual=[10.0, 20.0, 30.0, np.nan])
    out = national_rows(geo, YIELDS, "previous")
    # previous areas: 2010 from 2009 (1, 3); 2011 from 2010 (2, 2)
    assert out["prediction"].tolist() == [pytest.approx((100 + 600) / 4), pytest.approx((110 + 130) / 2)]
    assert out["trend"].tolist() == [90.0, 90.0] and out["area"].tolist() == [4.0, 4.0]
    # actual with 2010's own areas (2, 2); 2011 lacks B's actual: no national actual
    assert out["actual"].iloc[0] == pytest.approx(15.0) and np.isnan(out["actual"].iloc[1])
    assert out["fold"].tolist() == ["2010", "2011"] and set(out["geo_id"]) == {NATIONAL}
    assert list(out.columns) == ["season_year", "prediction", "trend", "area", "n_geos", "actual", "fold", "geo_id"]


def test_national_rows_group_by_init_date_too():
    geo = pd.concat([_geo(prediction=[1.0, 3.0, 1.0, 3.0], init_md="06-01"),
                     _geo(prediction=[2.0, 4.0, 2.0, 4.0], init_md="07-01")], ignore_index=True)
    out = national_rows(geo, YIELDS, "actual", by=("init_md", "season_year"))
    assert out[["init_md", "season_year"]].values.tolist() == [["06-01", 2010], ["06-01", 2011], ["07-01", 2010],
                                                               ["07-01", 2011]]
    assert out["prediction"].tolist() == [2.0, 2.0, 3.0, 3.0]
