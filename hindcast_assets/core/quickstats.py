"""USDA NASS Quick Stats (`https://quickstats.nass.usda.gov/api/api_GET/`, JSON): the state corn
yields and harvested acres, read into the project's `yields` layout.

A response is `{"data": [record, ...]}`, one record per state and year with text fields
(`state_fips_code`, `state_name`, `year`, `statisticcat_desc`, `unit_desc`, `load_time`, ...) and
its figure in `Value` as printed ("2,443,000"; "(D)" where withheld to protect an operation).

Pure: bytes in, frames out (`pipeline/ingest.py` fetches and stores)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pandas as pd

from hindcast_assets.core.errors import PullError
from hindcast_assets.core.nclimdiv import GEO_PREFIX

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
    frame = pd.DataFrame(rows, columns=["geo_id", "geo_name", "season_year", query.column])
    if frame.empty:
        raise PullError(f"{source}: no state figures (an empty or cut response)")
    twice = frame.duplicated(["geo_id", "season_year"])
    if twice.any():
        row = frame[twice].iloc[0]
        raise PullError(f"{source}: {row['geo_name']} {row['season_year']}: the same state and year twice")
    return frame


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
    frame = pd.DataFrame(rows, columns=YARDSTICK_COLUMNS)
    if frame.empty:
        raise PullError(f"{source}: no national forecasts (reference periods YEAR - AUG..NOV FORECAST)")
    twice = frame.duplicated(["season_year", "init_md"])
    if twice.any():
        row = frame[twice].iloc[0]
        raise PullError(f"{source}: {row['season_year']} {row['report_month']}: the same season and month twice")
    return frame.sort_values(["season_year", "init_md"])
