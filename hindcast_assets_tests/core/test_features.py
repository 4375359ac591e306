"""Season features as known at a date: nothing dated on or after the as-of day can enter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.core.features import (
    apply_fill_values,
    fit_fill_values,
    monthly_feature_names,
    monthly_features_as_of,
    with_anomalies,
)
from hindcast_assets.core.season_dates import MonthDay
from hindcast_assets.paths import BUNDLED_DATA_DIR

VARIABLES = ["tavg", "tmax", "tmin", "prcp"]
MONTHS = [5, 6, 7, 8, 9]
SEASONS = list(range(2000, 2012))


@pytest.fixture(scope="module")
def indices() -> pd.DataFrame:
    df = pd.read_parquet(BUNDLED_DATA_DIR / "us_state_corn" / "indices.parquet")
    return df[df["date"].dt.year >= 1999].reset_index(drop=True)


def _synthetic(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["geo_id", "date", "variable", "value"])
    return df.assign(date=pd.to_datetime(df["date"]))


def test_feature_names():
    assert monthly_feature_names(["tavg", "prcp"], [5, 6]) == ["tavg_may", "tavg_jun", "prcp_may", "prcp_jun"]
    assert monthly_feature_names(["tmax"], [1, 12]) == ["tmax_jan", "tmax_dec"]


def test_month_day_in_season():
    assert MonthDay.parse("07-01").in_season(2005) == pd.Timestamp("2005-07-01").date()


def test_value_dated_31_july_is_known_on_1_august_not_on_31_july():
    idx = _synthetic([("A", "2005-06-30", "tavg", 20.0), ("A", "2005-07-31", "tavg", 25.0)])
    known = monthly_features_as_of(idx, [2005], "08-01", ["tavg"], [6, 7])
    assert known.loc[0, "tavg_jun"] == 20.0
    assert known.loc[0, "tavg_jul"] == 25.0
    not_yet = monthly_features_as_of(idx, [2005], "07-31", ["tavg"], [6, 7])
    assert not_yet.loc[0, "tavg_jun"] == 20.0
    assert np.isnan(not_yet.loc[0, "tavg_jul"])


def test_other_variables_months_and_seasons_are_left_out():
    idx = _synthetic([("A", "2005-06-30", "tavg", 20.0), ("A", "2005-06-30", "prcp", 99.0),
                      ("A", "2005-04-30", "tavg", 11.0), ("A", "2004-06-30", "tavg", 19.0)])
    out = monthly_features_as_of(idx, [2005], "10-01", ["tavg"], [6])
    assert list(out.columns) == ["geo_id", "season_year", "tavg_jun"]
    assert out.to_dict("records") == [{"geo_id": "A", "season_year": 2005, "tavg_jun": 20.0}]


def test_a_weekly_series_gives_each_month_its_latest_rating_known():
    """Several values in a month (weekly ratings, listed out of date order): the month's value is
    its latest rating dated before the as-of day; a month with none known yet is NaN."""
    idx = _synthetic([("A", "2005-07-24", "cci", 64.0), ("A", "2005-07-03", "cci", 60.0),
                      ("A", "2005-06-26", "cci", 58.0), ("A", "2005-07-10", "cci", 62.0),
                      ("A", "2005-06-12", "cci", 55.0), ("B", "2005-07-31", "cci", 70.0)])
    mid = monthly_features_as_of(idx, [2005], "07-15", ["cci"], [6, 7])
    assert mid.to_dict("records") == [{"geo_id": "A", "season_year": 2005, "cci_jun": 58.0, "cci_jul": 62.0}]
    end = monthly_features_as_of(idx, [2005], "08-01", ["cci"], [6, 7]).set_index("geo_id")
    assert end.loc["A", "cci_jul"] == 64.0 and end.loc["B", "cci_jul"] == 70.0 and np.isnan(end.loc["B", "cci_jun"])


def test_real_data_columns_and_rows(indices):
    out = monthly_features_as_of(indices, SEASONS, "10-01", VARIABLES, MONTHS)
    assert list(out.columns) == ["geo_id", "season_year", *monthly_feature_names(VARIABLES, MONTHS)]
    assert "tavg_may" in out.columns and "prcp_sep" in out.columns
    assert sorted(out["season_year"].unique()) == SEASONS
    assert not out.duplicated(["geo_id", "season_year"]).any()
    assert out[monthly_feature_names(VARIABLES, MONTHS)].notna().all().all()  # all months ended by 1 Oct
    # spot-check one value against the raw series
    row = out[(out["geo_id"] == "US-19") & (out["season_year"] == 2010)].iloc[0]
    raw = indices[(indices["geo_id"] == "US-19") & (indices["variable"] == "tavg")
                  & (indices["date"] == pd.Timestamp("2010-07-31"))]["value"].item()
    assert row["tavg_jul"] == raw


def test_months_not_yet_ended_are_nan(indices):
    out = monthly_features_as_of(indices, SEASONS, "07-01", VARIABLES, MONTHS)
    for v in VARIABLES:
        assert out[[f"{v}_may", f"{v}_jun"]].notna().all().all()
        assert out[[f"{v}_jul", f"{v}_aug", f"{v}_sep"]].isna().all().all()


def test_perturbing_values_dated_on_or_after_as_of_leaves_features_unchanged(indices):
    base = monthly_features_as_of(indices, SEASONS, "07-01", VARIABLES, MONTHS)
    cutoff = indices["date"].dt.year.map(lambda y: pd.Timestamp(MonthDay.parse("07-01").in_season(y)))
    later = indices["date"] >= cutoff
    assert later.any() and (~later).any()
    rng = np.random.default_rng(0)
    perturbed = indices.copy()
    perturbed.loc[later, "value"] = rng.normal(1e6, 1e5, later.sum())
    pd.testing.assert_frame_equal(monthly_features_as_of(perturbed, SEASONS, "07-01", VARIABLES, MONTHS), base)
    # and the check has teeth: perturbing a value dated before the cutoff does change the features
    earlier = perturbed.copy()
    earlier.loc[(~later) & (earlier["date"] == pd.Timestamp("2005-06-30")), "value"] += 1.0
    assert not monthly_features_as_of(earlier, SEASONS, "07-01", VARIABLES, MONTHS).equals(base)


def _fill_table(fill: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(g, f): v for g, f, v in fill[["geo_id", "feature", "fill_value"]].itertuples(index=False)}


def test_fill_values_are_geo_climatology_with_an_overall_median():
    train = pd.DataFrame({"geo_id": ["g", "g", "h", "h"], "a": [1.0, 2.0, np.nan, 10.0],
                          "b": [np.nan] * 4, "c": [4.0, 1.0, 3.0, 100.0], "other": [7.0] * 4})
    fill = fit_fill_values(train, ["a", "b", "c"])
    assert list(fill.columns) == ["geo_id", "feature", "fill_value"]
    assert _fill_table(fill) == {
        ("*", "a"): 2.0, ("*", "b"): 0.0, ("*", "c"): 3.5,  # median(1,2,10)=2; all-NaN -> 0; median(1,3,4,100)=3.5
        ("g", "a"): 1.5, ("g", "c"): 2.5, ("h", "a"): 10.0, ("h", "c"): 51.5,  # per-geo means; no all-NaN rows
    }


def test_apply_fill_values_uses_the_geo_then_the_overall_value_and_only_listed_features():
    fill = pd.DataFrame({"geo_id": ["*", "*", "g"], "feature": ["a", "b", "a"], "fill_value": [2.0, 0.0, 9.0]})
    frame = pd.DataFrame({"geo_id": ["g", "h", "g"], "a": [np.nan, np.nan, 5.0], "b": [np.nan, np.nan, np.nan],
                          "c": [np.nan, 1.0, 1.0]})
    out = apply_fill_values(frame, fill)
    assert out["a"].tolist() == [9.0, 2.0, 5.0]
    assert out["b"].tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(out["c"].iloc[0]) and out["c"].iloc[1] == 1.0
    assert frame["a"].isna().iloc[0]  # the input is not modified in place


def test_anomalies_are_departures_from_the_geo_climatology():
    fill = pd.DataFrame({"geo_id": ["*", "g"], "feature": ["a", "a"], "fill_value": [2.0, 9.0]})
    frame = pd.DataFrame({"geo_id": ["g", "h"], "a": [10.0, 5.0]})
    assert with_anomalies(frame, fill, ["a"])["a_anom"].tolist() == [1.0, 3.0]


def test_derived_features_by_hand():
    """July 2001, tmax 32, tmin 20 (31 days): single-sine degree days over the mean day."""
    from hindcast_assets.core.agronomy import degree_days_above

    rows = _synthetic([("G", "2001-07-31", "tmax", 32.0), ("G", "2001-07-31", "tmin", 20.0),
                       ("G", "2001-07-31", "prcp", 100.0)])
    got = monthly_features_as_of(rows, [2001], "10-01", [], [7], ["gdd", "edd", "vpd", "water_balance"]).iloc[0]
    theta = np.arcsin((29 - 26) / 6)  # mean 26, amplitude 6, base 29
    edd = ((26 - 29) * (np.pi / 2 - theta) + 6 * np.cos(theta)) / np.pi
    theta30 = np.arcsin((30 - 26) / 6)
    above30 = ((26 - 30) * (np.pi / 2 - theta30) + 6 * np.cos(theta30)) / np.pi
    assert got["edd_jul"] == pytest.approx(31 * edd)
    assert got["gdd_jul"] == pytest.approx(31 * (16.0 - above30))  # 26 - 10, less the part above the cap
    es = lambda t: 0.6108 * np.exp(17.27 * t / (t + 237.3))  # noqa: E731
    assert got["vpd_jul"] == pytest.approx(es(32) - es(20))
    assert got["water_balance_jul"] < 100.0 - 31 * 4  # July's Hargreaves ET0 at 40N is over 4 mm/day
    assert degree_days_above(np.array([25.0]), np.array([15.0]), 29)[0] == 0.0


def test_derived_features_whose_sources_are_not_known_yet_are_missing_not_an_error():
    """At an init date before a source month has ended (or any month), nothing derived is known."""
    rows = _synthetic([("G", "2001-06-30", "tavg", 20.0), ("G", "2001-07-31", "tmax", 32.0),
                       ("G", "2001-07-31", "tmin", 20.0)])
    got = monthly_features_as_of(rows, [2001], "07-15", ["tavg"], [6, 7], ["gdd", "vpd"])
    assert got["tavg_jun"].tolist() == [20.0] and got.filter(regex="_jul$|^gdd|^vpd").isna().all(axis=None)
    nothing = monthly_features_as_of(rows, [2001], "06-15", ["tavg"], [6, 7], ["gdd"])
    assert nothing.empty and list(nothing.columns) == ["geo_id", "season_year", "tavg_jun", "tavg_jul", "gdd_jun",
                                                       "gdd_jul"]


def test_preseason_total_spans_the_year_before_and_is_known_only_when_complete():
    from hindcast_assets.core.features import preseason_totals_as_of

    months = ["2000-10-31", "2000-11-30", "2000-12-31", "2001-01-31", "2001-02-28", "2001-03-31", "2001-04-30"]
    rows = _synthetic([("G", d, "prcp", 10.0 * (i + 1)) for i, d in enumerate(months)]
                      + [("G", "2000-09-30", "prcp", 999.0), ("G", "2001-05-31", "prcp", 999.0)])
    assert preseason_totals_as_of(rows, [2001], "06-01", ["prcp"])["prcp_oct_apr"].iloc[0] == 280.0
    assert preseason_totals_as_of(rows, [2001], "04-15", ["prcp"])["prcp_oct_apr"].isna().all()  # April not ended
    assert preseason_totals_as_of(rows.iloc[1:], [2001], "06-01", ["prcp"])["prcp_oct_apr"].isna().all()
