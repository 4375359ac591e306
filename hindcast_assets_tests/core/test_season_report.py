"""The season report's words and tables on frames small enough to check by hand."""
from __future__ import annotations

import pandas as pd
import pytest

from hindcast_assets.core.season_report import SeasonReport, headline, init_date_table, state_map, state_table


def _report(**changes) -> SeasonReport:
    geo = pd.DataFrame({"geo_id": ["US-19", "US-19", "US-17", "US-17"], "season_year": [2010, 2011, 2010, 2011],
                        "prediction": [160.0, 170.0, 150.0, 150.0], "trend": [165.0, 166.0, 160.0, 140.0],
                        "actual": [163.0, 166.0, 150.0, 156.0]})
    national = pd.DataFrame({"season_year": [2010, 2011], "prediction": [155.0, 160.0], "trend": [162.0, 153.0],
                             "actual": [157.0, 161.0]})
    skill = pd.DataFrame({"level": ["national vs reference"] * 2, "predictor": ["model", "trend"],
                          "rmse": [2.0, 8.0], "n": [2, 2]})
    coverage = pd.DataFrame({"scope": ["national", "geo"], "mode": ["absolute"] * 2, "level": [0.8, 0.8],
                             "coverage": [0.5, 1.0]})
    yardstick = pd.DataFrame({"init_md": ["08-01", "10-01"], "n_seasons": [2, 2], "first_season": [2010, 2010],
                              "last_season": [2011, 2011], "rmse": [4.0, 3.0], "rmse_yardstick": [5.0, 1.5]})
    by_init = pd.DataFrame({"init_md": ["08-01", "10-01"] * 2, "level": ["national"] * 4})
    skill_by_init = pd.DataFrame({"init_md": ["08-01", "08-01"], "level": ["geo", "national"], "n": [4, 2],
                                  "rmse": [9.0, 4.0], "rmse_trend": [9.5, 8.0]})
    fields = dict(title="t", run_name="r", unit="bu/acre", mode="absolute", levels=[0.8], national=national,
                  by_init=by_init, geo=geo, names={"US-19": "Iowa", "US-17": "Illinois"}, yardstick=None,
                  yardstick_name="USDA", reference=None, skill=skill, coverage=coverage, skill_by_init=skill_by_init,
                  against_yardstick=yardstick, facts={})
    return SeasonReport(**(fields | changes))


def test_the_headline_says_how_far_off_against_the_trend_and_the_yardstick():
    assert headline(_report()) == [
        "At the end of the season our national number missed the final by 2.0 bu/acre (RMSE over 2 seasons, "
        "2010-2011): 75% better than the trend's 8.0.",
        "On 1 Aug it missed by 4.0 against 5.0 for USDA (2 seasons, 2010-2011).",
        "On 1 Oct it missed by 3.0 against 1.5 for USDA (2 seasons, 2010-2011).",
        "The 80% national interval held the final in 50% of seasons."]


def test_states_are_named_and_ranked_by_their_error():
    table = state_table(_report())
    assert list(table["name"]) == ["Illinois", "Iowa"]  # Illinois: errors 0 and -6; Iowa: -3 and 4
    illinois = table.iloc[0]
    assert illinois["rmse"] == pytest.approx(18.0 ** 0.5)  # errors 0 and -6: (0 + 36) / 2
    assert illinois["rmse_trend"] == pytest.approx(178.0 ** 0.5)  # trend errors 10 and -16: (100 + 256) / 2
    assert illinois["bias"] == -3.0 and illinois["seasons"] == 2


def test_the_state_map_is_for_us_states_only():
    table = state_table(_report())
    assert state_map(table) is not None
    assert state_map(table.assign(geo_id=["BR-MT", "BR-PR"])) is None


def test_the_init_date_table_puts_the_yardstick_beside_ours():
    table = init_date_table(_report())
    assert table.to_dict("records") == [{"init date": "1 Aug", "n": 2, "rmse": 4.0, "rmse_trend": 8.0,
                                         "n_seasons": 2, "rmse_same_seasons": 4.0, "rmse_yardstick": 5.0}]
