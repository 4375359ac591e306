"""Is a series recent enough for this season's forecasts? A forecast as of an init date reads the
values dated before it, and a period's value is published some days after the period ends; so on
a given day the newest forecast that can be made needs each series through the day before its
init date, less the length of one period (a week's rating is dated at its Sunday).

Pure: dates in, a verdict out (the ingest assets' checks and their tests use it)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from hindcast_assets.core.season_dates import MonthDay


@dataclass(frozen=True)
class Cadence:
    """How a series arrives: its name, how long after a period ends its value is published, and
    how far before the init date its last period may end (0 for monthly values dated at the
    month's end, 6 for weekly values dated at the week's end)."""

    name: str
    lag_days: int
    slack_days: int = 0


@dataclass(frozen=True)
class Need:
    """The newest forecast due by a day, and the last day its series must reach."""

    init_date: dt.date
    through: dt.date


def needed(cadence: Cadence, init_dates: list[str], today: dt.date) -> Need | None:
    """The latest of this season's init dates whose data have been published by `today`, and
    the last day the series must reach for it; None before the first is due."""
    due = None
    for md in sorted(MonthDay.parse(m) for m in init_dates):
        init = md.in_season(today.year)
        through = init - dt.timedelta(days=1 + cadence.slack_days)
        if init - dt.timedelta(days=1) + dt.timedelta(days=cadence.lag_days) <= today:
            due = Need(init, through)
    return due


def staleness(cadence: Cadence, newest: dt.date, need: Need | None) -> str | None:
    """Why the series is too old for the forecast due, or None when it is recent enough."""
    if need is None or newest >= need.through:
        return None
    return (f"the {cadence.name} ends {newest.isoformat()}; the {need.init_date.isoformat()} forecast needs it "
            f"through {need.through.isoformat()} (published about {cadence.lag_days} "
            f"day{'' if cadence.lag_days == 1 else 's'} after a period ends)")


def complete_through(series: pd.DataFrame) -> dt.date:
    """The last day every variable of a long `date, variable, value` table reaches (a forecast
    reads them all)."""
    return series.groupby("variable")["date"].max().min().date()
