"""Freshness of the weather against the forecasts a day makes due, on dates checked by hand."""
from __future__ import annotations

import datetime as dt

from hindcast_assets.core.freshness import Need, staleness, weather_needed

INITS = ["06-01", "07-01", "08-01", "09-01", "10-01"]


def test_the_newest_due_forecast_needs_the_month_before_its_init_date():
    # 15 Aug: July (ends 31 Jul) was published on 10 Aug, so the 1 Aug forecast is due
    assert weather_needed(INITS, dt.date(2026, 8, 15), 10) == Need(dt.date(2026, 8, 1), dt.date(2026, 7, 31))
    # 9 Aug: July is not out yet; the 1 Jul forecast is the newest that can be made
    assert weather_needed(INITS, dt.date(2026, 8, 9), 10) == Need(dt.date(2026, 7, 1), dt.date(2026, 6, 30))
    assert weather_needed(INITS, dt.date(2026, 3, 1), 10) is None  # before the season
    assert weather_needed(INITS, dt.date(2026, 12, 1), 10) == Need(dt.date(2026, 10, 1), dt.date(2026, 9, 30))


def test_weather_older_than_the_due_forecast_needs_is_stale():
    need = Need(dt.date(2026, 8, 1), dt.date(2026, 7, 31))
    assert staleness(dt.date(2026, 7, 31), need, 10) is None
    assert staleness(dt.date(2026, 6, 30), need, 10) == (
        "the weather ends 2026-06-30; the 2026-08-01 forecast needs it through 2026-07-31 "
        "(published about 10 days after the month ends)")
    assert staleness(dt.date(2020, 1, 31), None, 10) is None
