"""USDA NASS Quick Stats (`https://quickstats.nass.usda.gov/api/api_GET/`, JSON): the state corn
yields and harvested acres (the `yields` layout), USDA's national August-November forecasts (the
`yardstick`) and the weekly state condition ratings, as the Corn Belt's condition index (`regional`).

A response is `{"data": [record, ...]}`, one record per state and year with text fields
(`state_fips_code`, `state_name`, `year`, `statisticcat_desc`, `unit_desc`, `load_time`, ...) and
its figure in `Value` as printed ("2,443,000"; "(D)" where withheld to protect an operation).

Pure: bytes in, frames out (`pipeline/ingest.py` fetches and stores)."""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

import pandas as pd

from hindcast_assets.core.errors import PullError
from hindcast_assets.core.nclimdiv import GEO_PREFIX
from hindcast_assets.core.pulls import unique_rows

WITHHELD = {"(D)", "(Z)", "(NA)", "(X)", "(S)", "(H)", "(L)"}  # Quick Stats' codes for a figure not given


@dataclass(frozen=True)
class Query:
    """One Quick Stats request: its filters, and the column its figure becomes."""

    column: str
    filters: tuple[tuple[str, str], ...]

    @property
    def statistic(self) -> str:
        return dict(self.filters)["statisticcat_desc"]

    @property
    def unit(self) -> str:
        return dict(self.filters)["unit_desc"]


_STATE_CORN = (("source_desc", "SURVEY"), ("sector_desc", "CROPS"), ("commodity_desc", "CORN"),
               ("util_practice_desc", "GRAIN"), ("agg_level_desc", "STATE"), ("freq_desc", "ANNUAL"),
               ("reference_period_desc", "YEAR"), ("domain_desc", "TOTAL"))
YIELD = Query("yield_bu_per_acre", (*_STATE_CORN, ("statisticcat_desc", "YIELD"), ("unit_desc", "BU / ACRE")))
AREA = Query("harvested_acres", (*_STATE_CORN, ("statisticcat_desc", "AREA HARVESTED"), ("unit_desc", "ACRES")))
STATE_CORN = (YIELD, AREA)
YIELD_COLUMNS = ["geo_id", "geo_name", "season_year", "yield_bu_per_acre", "harvested_acres"]


def _figure(text: str, where: str) -> float | None:
    if text.strip() in WITHHELD:
        return None
    cleaned = text.replace(",", "").strip()
    if not re.fullmatch(r"-?\d+(\.\d+)?", cleaned):
        raise PullError(f"{where}: Value {text!r} is not a number")
    return float(cleaned)


def _records(data: bytes, source: str) -> list[dict]:
    try:
        body = json.loads(data)
    except ValueError as exc:
        raise PullError(f"{source}: not JSON ({exc.msg} at character {exc.pos}; a cut response?)") from None
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise PullError(f"{source}: no 'data' list in the response ({', '.join(body) if isinstance(body, dict) else type(body).__name__})")
    return body["data"]


def read_state_figures(data: bytes, query: Query, source: str) -> pd.DataFrame:
    """One query's response as `geo_id, geo_name, season_year, <query.column>` (withheld figures
    left out); the records must be the statistic and unit asked for, once per state and year."""
    rows = []
    for i, record in enumerate(_records(data, source)):
        where = f"{source}: record {i + 1}"
        try:
            fips, name, year = record["state_fips_code"], record["state_name"], int(record["year"])
            statistic, unit, value = record["statisticcat_desc"], record["unit_desc"], record["Value"]
        except (KeyError, TypeError, ValueError) as exc:
            raise PullError(f"{where}: field {exc} missing or not a year") from None
        if (statistic, unit) != (query.statistic, query.unit):
            raise PullError(f"{where}: {statistic} in {unit}, not {query.statistic} in {query.unit}")
        figure = _figure(str(value), f"{where} ({name.title()} {year})")
        if figure is not None:
            rows.append((f"{GEO_PREFIX}{int(fips):02d}", name.title(), year, figure))
    return unique_rows(pd.DataFrame(rows, columns=["geo_id", "geo_name", "season_year", query.column]), source,
                       "no state figures (an empty or cut response)", ["geo_id", "season_year"],
                       lambda row: f"{row['geo_name']} {row['season_year']}: the same state and year twice")


def state_yields(yields: pd.DataFrame, area: pd.DataFrame, source: str) -> pd.DataFrame:
    """Yields with their harvested acres, one row per state and season both have figures for;
    a yield without acres (or acres without a yield) is refused: the national figure needs both."""
    both = yields.merge(area, on=["geo_id", "geo_name", "season_year"], how="outer", indicator=True)
    alone = both[both["_merge"] != "both"]
    if len(alone):
        row = alone.iloc[0]
        has = "a yield" if row["_merge"] == "left_only" else "harvested acres"
        raise PullError(f"{source}: {row['geo_name']} {row['season_year']}: {has} and not the other")
    return both[YIELD_COLUMNS].sort_values(["geo_id", "season_year"])


def newest_load(data: bytes) -> str:
    """The date NASS last loaded any of the response's records (YYYYMMDD): its vintage."""
    times = [r.get("load_time", "") for r in _records(data, "")]
    newest = max((t for t in times if t), default="")
    return re.sub(r"\D", "", newest[:10]) or "00000000"


NATIONAL_YIELD = Query("forecast", (("source_desc", "SURVEY"), ("sector_desc", "CROPS"), ("commodity_desc", "CORN"),
                                    ("util_practice_desc", "GRAIN"), ("agg_level_desc", "NATIONAL"),
                                    ("statisticcat_desc", "YIELD"), ("unit_desc", "BU / ACRE")))
FORECAST_PERIOD = re.compile(r"YEAR - (AUG|SEP|OCT|NOV) FORECAST")
FORECAST_MONTHS = {"AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11}
YARDSTICK_COLUMNS = ["season_year", "report_month", "init_md", "forecast"]


def national_forecasts(data: bytes, source: str) -> pd.DataFrame:
    """USDA's August-November national yield forecasts (reference periods `YEAR - AUG FORECAST`
    ...), each dated by its report's month (`init_md` 08-01 ...); the other periods (the
    final `YEAR`) left out. One figure per season and month."""
    rows = []
    for i, record in enumerate(_records(data, source)):
        period = FORECAST_PERIOD.fullmatch(str(record.get("reference_period_desc", "")))
        if period is None:
            continue
        where = f"{source}: record {i + 1}"
        figure = _figure(str(record.get("Value", "")), f"{where} ({record.get('year')} {period[1]})")
        if figure is not None:
            month = FORECAST_MONTHS[period[1]]
            rows.append((int(record["year"]), period[1].title(), f"{month:02d}-01", figure))
    frame = unique_rows(pd.DataFrame(rows, columns=YARDSTICK_COLUMNS), source,
                        "no national forecasts (reference periods YEAR - AUG..NOV FORECAST)", ["season_year", "init_md"],
                        lambda row: f"{row['season_year']} {row['report_month']}: the same season and month twice")
    return frame.sort_values(["season_year", "init_md"])


# -- weekly crop condition -------------------------------------------------------------------------

STATE_CONDITION = Query("condition", (("source_desc", "SURVEY"), ("sector_desc", "CROPS"), ("commodity_desc", "CORN"),
                                      ("statisticcat_desc", "CONDITION"), ("agg_level_desc", "STATE"),
                                      ("freq_desc", "WEEKLY")))
# a rating's weight in the condition index (K-State's: excellent 1 ... very poor 0)
RATINGS = {"PCT EXCELLENT": 1.0, "PCT GOOD": 0.75, "PCT FAIR": 0.5, "PCT POOR": 0.25, "PCT VERY POOR": 0.0}
GOOD_OR_EXCELLENT = ("PCT EXCELLENT", "PCT GOOD")
# The Corn Belt index of the bundled crop condition: 8 states at fixed production shares
# (data/us_state_corn/SOURCE.md, Origin 4), renormalised over the states that report a week.
CORN_BELT = {"US-19": 0.17, "US-17": 0.16, "US-31": 0.11, "US-27": 0.10, "US-18": 0.08, "US-39": 0.06,
             "US-29": 0.06, "US-46": 0.06}
WEEKLY_LAG_DAYS = 1  # NASS's Crop Progress gives a week's ratings the Monday after its Sunday
SHARES_SUM = (95.0, 105.0)  # a state-week whose ratings sum outside this is not used (rounding, a cut record)


def state_ratings(data: bytes, source: str, today: dt.date) -> pd.DataFrame:
    """Weekly condition ratings per state: `geo_id, week_ending, rating, share` (percent); one
    share per state, week and rating; no week after `today`."""
    rows = []
    for i, record in enumerate(_records(data, source)):
        where = f"{source}: record {i + 1}"
        rating = record.get("unit_desc")
        if rating not in RATINGS:
            raise PullError(f"{where}: unit_desc {rating!r} is not a condition rating ({', '.join(RATINGS)})")
        try:
            week = dt.date.fromisoformat(str(record["week_ending"]))
        except (KeyError, ValueError):
            raise PullError(f"{where}: week_ending {record.get('week_ending')!r} is not a date") from None
        if week > today:
            raise PullError(f"{where}: week_ending {week} is after today ({today})")
        share = _figure(str(record.get("Value", "")), f"{where} ({record.get('state_name', '?').title()} {week})")
        if share is not None:
            rows.append((f"{GEO_PREFIX}{int(record['state_fips_code']):02d}", pd.Timestamp(week), rating, share))
    return unique_rows(pd.DataFrame(rows, columns=["geo_id", "week_ending", "rating", "share"]), source,
                       "no condition ratings (an empty or cut response)", ["geo_id", "week_ending", "rating"],
                       lambda row: f"{row['geo_id']} week ending {row['week_ending'].date()}: {row['rating']} twice")


def corn_belt_condition(ratings: pd.DataFrame) -> pd.DataFrame:
    """The regional series `date, variable, value`: per week (dated at its end, a Sunday) the
    condition index (`cci`, 0-100) and the good-or-excellent share (`ge_pct`) of the Corn Belt's
    8 states, weighted by their production shares; only weeks all 8 report, as the bundled series."""
    wide = ratings[ratings["geo_id"].isin(CORN_BELT)].pivot_table(
        index=["geo_id", "week_ending"], columns="rating", values="share", aggfunc="first").reindex(
        columns=list(RATINGS)).fillna(0.0)
    total = wide.sum(axis=1)
    wide = wide[total.between(*SHARES_SUM)]
    total = total[wide.index]
    state = pd.DataFrame({"cci": (wide * pd.Series(RATINGS)).sum(axis=1) / total * 100,
                          "ge_pct": wide[list(GOOD_OR_EXCELLENT)].sum(axis=1) / total * 100}).reset_index()
    state["weight"] = state["geo_id"].map(CORN_BELT)
    full = state[state.groupby("week_ending")["geo_id"].transform("size") == len(CORN_BELT)]
    full = full.sort_values(["week_ending", "geo_id"])  # a row per state, a block per week
    weight = full["weight"].to_numpy().reshape(-1, len(CORN_BELT))
    weekly = pd.DataFrame({v: (full[v].to_numpy().reshape(weight.shape) * weight).sum(axis=1) / weight.sum(axis=1)
                           for v in ("cci", "ge_pct")},
                          index=pd.Index(full["week_ending"].unique(), name="week_ending"))
    long = weekly.round(2).reset_index().melt(id_vars="week_ending", var_name="variable")
    return long.rename(columns={"week_ending": "date"})[["date", "variable", "value"]].sort_values(
        ["variable", "date"]).reset_index(drop=True)
