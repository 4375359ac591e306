"""In-season forecasts at an init date, from the production fold of a run_dir.

Training/forecast consistency: the production model is fitted on end-of-season features; at an
init date the months not yet ended are unknown, and they take the geo's training climatology
(its fill value), so their anomaly features are zero ("an average rest of season"). The same
as-of feature function as the hindcast builds the known months. Static season features are
never known at an init date and are refused.
Measured against a model per init date (corn_usa, LightGBM, state RMSE 1990-2011): 1 Jun 17.12 vs
17.87, 1 Jul 16.32 vs 16.56, 1 Aug 14.58 vs 14.37, 1 Sep 14.08 vs 14.07, 1 Oct equal.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import pandas as pd

from hindcast_assets.core.errors import UserError
from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.features import KEYS, season_rows, weather_features_at_each
from hindcast_assets.core.season_dates import ForecastDate, MonthDay


class ForecastError(UserError, ValueError):
    """A forecast that cannot be made; the message says what is missing."""


def indices_known_at(indices: pd.DataFrame, geos: list[str], at: ForecastDate) -> pd.DataFrame:
    """The season's predictor rows as known at `at`: dated in the season year (or its pre-season
    months), strictly before it."""
    rows = season_rows(indices, at.season_year)
    rows = rows[rows["geo_id"].isin(geos) & (rows["date"] < pd.Timestamp(at.date))]
    return rows.sort_values(["geo_id", "variable", "date"]).reset_index(drop=True)


def vintages(known: pd.DataFrame) -> dict[str, list[str]]:
    """Which source vintages a forecast's known rows came from, per variable (empty without a
    `columns.vintage`): recorded with the forecast, so a user knows which release it used."""
    if "vintage" not in known.columns:
        return {}
    rows = known.dropna(subset=["vintage"])
    return {str(v): sorted(map(str, g.unique())) for v, g in rows.groupby("variable", sort=True)["vintage"]}


def require_season_data(indices: pd.DataFrame, url: str, geos: list[str], at: ForecastDate) -> None:
    """A forecast rests on some of its season's data: none known at `at` (a season the indices do
    not reach, or a date before its first value) is an error, never a silent climatology."""
    known = indices_known_at(indices, geos, at)
    if known[known["date"].dt.year == at.season_year].empty:  # pre-season months alone are not the season
        season = indices[indices["geo_id"].isin(geos) & (indices["date"].dt.year == at.season_year)]
        first = f"its first value is dated {season['date'].min().date()}" if len(season) else "it has none"
        raise ForecastError(f"{url}: inputs.indices: no value of season {at.season_year} dated before {at} "
                            f"({first}); nothing to forecast from")


def features_at(cfg: ExperimentConfig, known: pd.DataFrame, rows: pd.DataFrame, init: MonthDay) -> pd.DataFrame:
    """Feature rows for `rows` (`geo_id, season_year`, in their order) at `init` of each row's
    season, from `known` values only (unknown months stay NaN here). The as-of functions cut each
    season at its own init date, so many seasons are built in one pass."""
    return next(features_at_each(cfg, known, rows, [init]))


def features_at_each(cfg: ExperimentConfig, known: pd.DataFrame, rows: pd.DataFrame,
                     inits: Sequence[MonthDay]) -> Iterator[pd.DataFrame]:
    """`features_at` at each of `inits` in turn (the long rows indexed once for all)."""
    if cfg.features.static:
        raise ForecastError(f"features.static: {cfg.features.static} are whole-season values, never known at "
                            "an init date; this experiment cannot forecast in season")
    frame = rows[KEYS].reset_index(drop=True)
    seasons = frame["season_year"].unique()
    weather = weather_features_at_each(cfg, known, seasons, [str(i) for i in inits]) if cfg.features.variables else None
    for init in inits:
        at = frame.copy() if weather is None else frame.merge(next(weather), on=KEYS, how="left")
        dates = {s: str(ForecastDate(int(s), init)) for s in seasons}
        at["init_date"] = at["season_year"].map(dates).astype(object)
        yield at
        del at  # not held while the next date's are made (a pass is 200 MB at county scale)


def forecast_features(cfg: ExperimentConfig, known: pd.DataFrame, geos: list[str], at: ForecastDate) -> pd.DataFrame:
    """Feature rows per geo at `at` from the known values only (unknown months stay NaN here)."""
    return features_at(cfg, known, pd.DataFrame({"geo_id": sorted(geos), "season_year": at.season_year}), at.init)


def available_init_dates(latest: dt.date, init_month_days: list[str], season_years: list[int]) -> list[ForecastDate]:
    """Forecast dates of the latest season whose data is complete: every value dated before the
    init date is in (the data runs through the day before it or later)."""
    season = latest.year
    if season not in season_years:
        return []
    dates = sorted(ForecastDate(season, MonthDay.parse(md)) for md in init_month_days)
    return [d for d in dates if d.date - dt.timedelta(days=1) <= latest]
