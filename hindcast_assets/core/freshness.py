"""Is the weather recent enough for this season's forecasts? A forecast as of an init date reads
the months that end before it, and a month is published some days after it ends; so on a given
day the newest forecast that can be made needs the weather through the month before its init date.

Pure: dates in, a verdict out (the ingest asset's check and its tests use it)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hindcast_assets.core.season_dates import MonthDay


@dataclass(frozen=True)
class Need:
    """The newest forecast due by a day, and the last day its weather must reach."""

    init_date: dt.date
    through: dt.date


def weather_needed(init_dates: list[str], today: dt.date, lag_days: int) -> Need | None:
    """The latest of this season's init dates whose previous month has been published by
    `today`, and that month's last day; None before the first is due."""
    due = None
    for md in sorted(MonthDay.parse(m) for m in init_dates):
        init = md.in_season(today.year)
        through = init - dt.timedelta(days=1)
        if through + dt.timedelta(days=lag_days) <= today:
            due = Need(init, through)
    return due


def staleness(newest: dt.date, need: Need | None, lag_days: int) -> str | None:
    """Why the weather is too old for the forecast due, or None when it is recent enough."""
    if need is None or newest >= need.through:
        return None
    return (f"the weather ends {newest.isoformat()}; the {need.init_date.isoformat()} forecast needs it through "
            f"{need.through.isoformat()} (published about {lag_days} days after the month ends)")
