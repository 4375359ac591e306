"""Dates within a season: a month-day (`08-01`, an as-of day or a forecast init day) and a
forecast date (a season year and its init month-day).

A season is its calendar year, so the forecast of season 2011 as of `08-01` is made on
2011-08-01. These two types are the only place that turns between the forms.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from hindcast_assets.core.errors import UserError


_MONTH_DAY = re.compile(r"(\d{2})-(\d{2})")


class SeasonDateError(UserError, ValueError):
    """A month-day or forecast date that cannot be; the message says why."""


@dataclass(frozen=True, order=True)
class MonthDay:
    month: int
    day: int

    @classmethod
    def parse(cls, value: str) -> MonthDay:
        """'MM-DD'; 29 February is refused (not every season has it)."""
        match = _MONTH_DAY.fullmatch(str(value))
        if not match:
            raise SeasonDateError(f"{value!r} is not a month-day in MM-DD form")
        month, day = int(match[1]), int(match[2])
        try:
            dt.date(2001, month, day)
        except ValueError as exc:
            raise SeasonDateError(f"{value!r} is not a valid month-day: {exc}") from None
        return cls(month, day)

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"

    def in_season(self, season_year: int) -> dt.date:
        return dt.date(season_year, self.month, self.day)


@dataclass(frozen=True, order=True)
class ForecastDate:
    """A forecast of `season_year` as of its month-day `init`."""

    season_year: int
    init: MonthDay

    @classmethod
    def parse(cls, value: str, season_year: int | None = None) -> ForecastDate:
        """From 'YYYY-MM-DD'; with `season_year`, the date must fall in that season."""
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            raise SeasonDateError(f"init_date: {value!r} is not a date in YYYY-MM-DD form") from None
        if season_year is not None and date.year != season_year:
            raise SeasonDateError(f"init_date: {value} is not in season {season_year} "
                                  "(the season is its calendar year)")
        try:
            init = MonthDay.parse(date.strftime("%m-%d"))
        except SeasonDateError as exc:
            raise SeasonDateError(f"init_date: {value}: {exc}") from None
        return cls(date.year, init)

    @property
    def date(self) -> dt.date:
        return self.init.in_season(self.season_year)

    def __str__(self) -> str:
        return self.date.isoformat()
