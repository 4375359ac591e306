"""Freshness of a series against the forecasts a day makes due, on dates checked by hand."""
from __future__ import annotations

import datetime as dt

from hindcast_assets.core.freshness import Cadence, Need, needed, staleness

INITS = ["06-01", "07-01", "08-01", "09-01", "10-01"]
MONTHLY = Cadence("weather", 10)
WEEKLY = Cadence("crop condition", 1, 6)


def test_the_newest_due_forecast_needs_the_month_before_its_init_date():
    # 15 Aug: July (ends 31 Jul) was published on 10 Aug, so the 1 Aug forecast is due
    assert needed(MONTHLY, INITS, dt.date(2026, 8, 15)) == Need(dt.date(2026, 8, 1), dt.date(2026, 7, 31))
    # 9 Aug: July is not out yet; the 1 Jul forecast is the newest that can be made
    assert needed(MONTHLY, INITS, dt.date(2026, 8, 9)) == Need(dt.date(2026, 7, 1), dt.date(2026, 6, 30))
    assert needed(MONTHLY, INITS, dt.date(2026, 3, 1)) is None  # before the season
    assert needed(MONTHLY, INITS, dt.date(2026, 12, 1)) == Need(dt.date(2026, 10, 1), dt.date(2026, 9, 30))


def test_a_weekly_series_needs_the_last_week_ending_in_the_seven_days_before_the_init_date():
    # 3 Aug 2026 (a Monday): the 1 Aug forecast is due; the last week before it ended on Sunday 26 Jul
    need = needed(WEEKLY, INITS, dt.date(2026, 8, 3))
    assert need == Need(dt.date(2026, 8, 1), dt.date(2026, 7, 25))
    assert staleness(WEEKLY, dt.date(2026, 7, 26), need) is None
    assert staleness(WEEKLY, dt.date(2026, 7, 19), need) == (
        "the crop condition ends 2026-07-19; the 2026-08-01 forecast needs it through 2026-07-25 "
        "(published about 1 day after a period ends)")


def test_weather_older_than_the_due_forecast_needs_is_stale():
    need = Need(dt.date(2026, 8, 1), dt.date(2026, 7, 31))
    assert staleness(MONTHLY, dt.date(2026, 7, 31), need) is None
    assert staleness(MONTHLY, dt.date(2026, 6, 30), need) == (
        "the weather ends 2026-06-30; the 2026-08-01 forecast needs it through 2026-07-31 "
        "(published about 10 days after a period ends)")
    assert staleness(MONTHLY, dt.date(2020, 1, 31), None) is None
