"""The dating rule (DESIGN.md §2): a value that summarises a period is dated at the period's end
(July's mean on 31 July, a week's rating on its week-ending day). Every as-of cut (features,
forecasts, replays) keeps values dated strictly before the init date, so the rule is what makes
that cut honest: a July mean dated 1 July would enter a 15 July forecast although July has not
ended. Input dated otherwise is converted when the config says so (`columns.date_marks: {indices:
period_start}`), else refused; it is never used as it is.

A variable's period is read off the spacing of its dates (the median gap between its distinct
dates): about a month, a week or a day. Only a monthly period can be checked from the dates alone
(the end of a month is a calendar fact); a weekly one can only be converted.
"""
from __future__ import annotations

from enum import Enum

import pandas as pd


class Period(Enum):
    DAY = "daily"
    WEEK = "weekly"
    MONTH = "monthly"
    OTHER = "irregular"


PERIOD_START, PERIOD_END = "period_start", "period_end"  # the values of columns.date_marks


def period_of(dates: pd.Series) -> Period:
    """The period of one variable's values from the median gap between its distinct dates."""
    distinct = pd.Series(dates.unique()).sort_values()
    if len(distinct) < 2:
        return Period.OTHER
    gap = distinct.diff().dt.days.median()
    if gap == 1:
        return Period.DAY
    if gap == 7:
        return Period.WEEK
    if 28 <= gap <= 31:
        return Period.MONTH
    return Period.OTHER


def dates_by_variable(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Each variable's dates in row order (`frame`: canonical `date, variable` columns), by name."""
    return {str(v): dates for v, dates in frame.groupby("variable", sort=True)["date"]}


def periods(frame: pd.DataFrame) -> dict[str, Period]:
    """Each variable's period (`frame`: canonical `date, variable` columns)."""
    return {v: period_of(dates) for v, dates in dates_by_variable(frame).items()}


def period_end(dates: pd.Series, period: Period) -> pd.Series:
    """Dates that mark their period's start moved to the period's last day."""
    if period is Period.MONTH:
        return dates + pd.offsets.MonthEnd(0)
    if period is Period.WEEK:
        return dates + pd.Timedelta(days=6)
    return dates


def misdated(frame: pd.DataFrame, marks: str, setting: str) -> tuple[str, str] | None:
    """(variable, why) for the first variable whose dates break the rule under `marks`, or None;
    `setting` is the config line that would convert period-start dates.

    `period_end`: a monthly variable must be dated on its months' last days. `period_start`: a
    monthly variable on its months' first days, a daily or weekly one as it is dated."""
    for variable, dates in dates_by_variable(frame).items():
        period = period_of(dates)
        if period is Period.MONTH and marks == PERIOD_END and not dates.dt.is_month_end.all():
            if dates.dt.day.eq(1).all():
                return variable, ("is monthly and every value is dated on the 1st, the start of its month; a value "
                                  "summarising a period is dated at the period's end (July's mean on 31 July): date "
                                  f"it on the month's last day, or set {setting} to convert")
            bad = dates[~dates.dt.is_month_end].iloc[0].date()
            return variable, (f"is monthly but dated {bad}, not on its month's last day; a value summarising a "
                              "month is dated at the month's end")
        if period is Period.MONTH and marks == PERIOD_START and not dates.dt.day.eq(1).all():
            bad = dates[dates.dt.day.ne(1)].iloc[0].date()
            return variable, f"is monthly but dated {bad}, not on a month's first day ({setting})"
        if period is Period.OTHER and marks == PERIOD_START:
            return variable, "has no regular period (daily, weekly or monthly) to convert its start dates by"
    return None


def to_period_ends(frame: pd.DataFrame) -> pd.DataFrame:
    """Period-start dates moved to their period's end, variable by variable."""
    out = frame.copy()
    for variable, period in periods(frame).items():
        rows = out["variable"] == variable
        out.loc[rows, "date"] = period_end(out.loc[rows, "date"], period)
    return out
