"""Area-weighted aggregation against published totals (real bundled data) and by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.core.aggregate import aggregation_weights, national_from_geo, weighted_mean
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
    for season, published in {1983: 81.1, 1988: 84.6, 1993: 100.7, 2010: 152.8, 2011: 147.2}.items():
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
