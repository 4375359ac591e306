"""The dating rule: a value summarising a period is dated at its end; input dated at the start
is converted when the config says so, and refused otherwise (never used as it is)."""
from __future__ import annotations

import pandas as pd
import pytest

from hindcast_assets.config import load_config
from hindcast_assets.core import dating
from hindcast_assets.core.data import InputError, load_experiment_data
from hindcast_assets.core.features import season_features
from hindcast_assets_tests.conftest import write_config


S = "columns.date_marks: {indices: period_start}"


def _frame(dates: list[str], variable: str = "tavg") -> pd.DataFrame:
    return pd.DataFrame({"date": pd.to_datetime(dates), "variable": variable, "value": 1.0})


def test_the_period_is_read_off_the_spacing_of_the_dates():
    assert dating.period_of(pd.Series(pd.to_datetime(["2011-01-31", "2011-02-28", "2011-03-31"]))) is dating.Period.MONTH
    assert dating.period_of(pd.Series(pd.date_range("2011-05-01", periods=5, freq="7D"))) is dating.Period.WEEK
    assert dating.period_of(pd.Series(pd.date_range("2011-05-01", periods=5, freq="D"))) is dating.Period.DAY
    assert dating.period_of(pd.Series(pd.to_datetime(["2011-01-31"]))) is dating.Period.OTHER


def test_month_end_dates_pass_and_month_start_dates_are_refused_with_the_fix():
    assert dating.misdated(_frame(["2011-06-30", "2011-07-31", "2011-08-31"]), dating.PERIOD_END, S) is None
    variable, why = dating.misdated(_frame(["2011-06-01", "2011-07-01", "2011-08-01"]), dating.PERIOD_END, S)
    assert variable == "tavg" and "every value is dated on the 1st" in why and why.endswith(f"or set {S} to convert")
    variable, why = dating.misdated(_frame(["2011-06-30", "2011-07-15", "2011-08-31"]), dating.PERIOD_END, S)
    assert why.startswith("is monthly but dated 2011-07-15")


def test_period_start_dates_move_to_the_period_end():
    monthly = dating.to_period_ends(_frame(["2012-01-01", "2012-02-01", "2012-03-01"]))
    assert monthly["date"].dt.strftime("%Y-%m-%d").tolist() == ["2012-01-31", "2012-02-29", "2012-03-31"]
    weekly = dating.to_period_ends(_frame(["2011-05-02", "2011-05-09", "2011-05-16"], "cci"))  # Mondays
    assert weekly["date"].dt.strftime("%a %Y-%m-%d").tolist() == ["Sun 2011-05-08", "Sun 2011-05-15", "Sun 2011-05-22"]
    assert dating.misdated(_frame(["2011-06-30", "2011-07-31", "2011-08-31"]), dating.PERIOD_START, S)[1] \
        .startswith("is monthly but dated 2011-06-30, not on a month's first day")


def test_a_period_start_file_with_date_marks_loads_as_the_period_end_file(tmp_path, input_dir):
    """The real weather re-dated on the 1st of each month, with `columns.date_marks: period_start`,
    gives the same rows and so the same features (August is not known on 15 August)."""
    config = load_config(write_config(tmp_path, hindcast={"first_test_year": 2011, "last_test_year": 2011}))
    before = load_experiment_data(config).indices
    path = input_dir / "us_state_corn" / "indices.parquet"
    raw = pd.read_parquet(path)
    raw.assign(date=raw["date"] - pd.offsets.MonthBegin(1)).to_parquet(path, index=False)
    with pytest.raises(InputError, match="'prcp' is monthly and every value is dated on the 1st"):
        load_experiment_data(config)
    converted = load_config(write_config(tmp_path, hindcast={"first_test_year": 2011, "last_test_year": 2011},
                                         columns={"date_marks": {"indices": "period_start"}}))
    after = load_experiment_data(converted).indices
    pd.testing.assert_frame_equal(before, after)
    mid_august = config.model_copy(update={"features": config.features.model_copy(update={"as_of": "08-15"})})
    features = season_features(load_experiment_data(converted), mid_august, ["US-19"], [2011])
    assert features["tavg_aug"].isna().all() and features["tavg_jul"].notna().all()
