"""The Corn Belt condition index from each state's weekly ratings, on weeks checked by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from hindcast_assets.core.quickstats import CORN_BELT, RATINGS, corn_belt_condition

IOWA = (20, 50, 20, 10, 0)  # cci 20 + 37.5 + 10 + 2.5 = 70.0; good or excellent 70
OTHERS = (10, 40, 30, 15, 5)  # cci 10 + 30 + 15 + 3.75 + 0 = 58.75; good or excellent 50


def _week(week: str, shares: dict[str, tuple[int, ...]]) -> list[tuple]:
    return [(geo, pd.Timestamp(week), rating, share) for geo, five in shares.items()
            for rating, share in zip(RATINGS, five)]


def test_the_index_weights_the_states_by_production_and_keeps_only_weeks_all_eight_report():
    everyone = {geo: IOWA if geo == "US-19" else OTHERS for geo in CORN_BELT}
    short = {geo: OTHERS for geo in CORN_BELT if geo != "US-19"}  # Iowa did not report
    cut = everyone | {"US-17": (10, 40, 30, 10, 0)}  # Illinois' ratings sum to 90: not used, so 7 states
    rows = _week("2012-07-29", everyone) + _week("2012-08-05", short) + _week("2012-08-12", cut)
    index = corn_belt_condition(pd.DataFrame(rows, columns=["geo_id", "week_ending", "rating", "share"]))
    assert index["date"].unique().tolist() == [pd.Timestamp("2012-07-29")]
    value = index.set_index("variable")["value"]
    # Iowa weighs 0.17, the seven others 0.63 together, of 0.80
    assert value["cci"] == pytest.approx(round((0.17 * 70.0 + 0.63 * 58.75) / 0.80, 2))  # 61.14
    assert value["ge_pct"] == pytest.approx((0.17 * 70 + 0.63 * 50) / 0.80)  # 54.25
