"""Month-days and forecast dates: the one place that turns between 'MM-DD', dates and keys."""
from __future__ import annotations

import datetime as dt

import pytest

from hindcast_assets.core.season_dates import ForecastDate, MonthDay, SeasonDateError


def test_month_day_parses_orders_and_places_itself_in_a_season():
    assert MonthDay.parse("08-01") == MonthDay(8, 1) and str(MonthDay(8, 1)) == "08-01"
    assert MonthDay.parse("06-01") < MonthDay.parse("10-01")
    assert MonthDay.parse("12-31").in_season(2011) == dt.date(2011, 12, 31)


@pytest.mark.parametrize("bad, message", [("8-1", "not a month-day in MM-DD form"), ("13-01", "not a valid month-day"),
                                          ("02-29", "not a valid month-day"), ("09-31", "not a valid month-day")])
def test_month_day_refuses_what_not_every_season_has(bad, message):
    with pytest.raises(SeasonDateError, match=message):
        MonthDay.parse(bad)


def test_forecast_date_from_a_full_date_in_its_season():
    at = ForecastDate.parse("2011-08-01", 2011)
    assert (at.season_year, at.init, at.date, str(at)) == (2011, MonthDay(8, 1), dt.date(2011, 8, 1), "2011-08-01")
    with pytest.raises(SeasonDateError, match="init_date: 2010-08-01 is not in season 2011"):
        ForecastDate.parse("2010-08-01", 2011)
    with pytest.raises(SeasonDateError, match="init_date: '2011-13-01' is not a date"):
        ForecastDate.parse("2011-13-01")
    with pytest.raises(SeasonDateError, match="init_date: 2008-02-29: '02-29' is not a valid month-day"):
        ForecastDate.parse("2008-02-29")
