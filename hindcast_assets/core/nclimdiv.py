"""NOAA nClimDiv statewide monthly files (`climdiv-<element>st-v1.0.0-<YYYYMMDD>`, NCEI's
`pub/data/cirs/climdiv/`, state-readme.txt), read into the project's `indices` layout.

A line is a 10-character id (3-digit nClimDiv state code, division `0`, 2-digit element code,
4-digit year) and twelve monthly values of 7 characters (`%7.2f`); a month not yet observed is
-99.90 (temperature, deg F) or -9.99 (precipitation, inches). Values become deg C and mm, each
month dated at its last day (the period-end rule); the file's date is its vintage.

Pure: text in, frames out (`pipeline/ingest.py` fetches and stores)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from hindcast_assets.core.errors import PullError
from hindcast_assets.core.pulls import unique_rows


@dataclass(frozen=True)
class Element:
    """One nClimDiv element: its file code, line code, our variable and its conversion."""

    file_code: str  # in the file name: climdiv-<file_code>st-...
    line_code: str  # characters 5-6 of each line
    variable: str  # the variable in the indices file
    missing: float  # the value of a month not yet observed

    def convert(self, values: pd.Series) -> pd.Series:
        """deg F -> deg C, inches -> mm, each to 2 decimals as the bundled inputs are."""
        if self.variable == "prcp":
            return (values * 25.4).round(2)
        return ((values - 32) * 5 / 9).round(2)


ELEMENTS = {e.variable: e for e in (Element("tmpc", "02", "tavg", -99.90), Element("tmax", "27", "tmax", -99.90),
                                    Element("tmin", "28", "tmin", -99.90), Element("pcpn", "01", "prcp", -9.99))}
# nClimDiv state code -> US state FIPS code (the contiguous 48; codes above 48 are regions and the nation)
STATE_FIPS = {
    1: "01", 2: "04", 3: "05", 4: "06", 5: "08", 6: "09", 7: "10", 8: "12", 9: "13", 10: "16", 11: "17", 12: "18",
    13: "19", 14: "20", 15: "21", 16: "22", 17: "23", 18: "24", 19: "25", 20: "26", 21: "27", 22: "28", 23: "29",
    24: "30", 25: "31", 26: "32", 27: "33", 28: "34", 29: "35", 30: "36", 31: "37", 32: "38", 33: "39", 34: "40",
    35: "41", 36: "42", 37: "44", 38: "45", 39: "46", 40: "47", 41: "48", 42: "49", 43: "50", 44: "51", 45: "53",
    46: "54", 47: "55", 48: "56"}
GEO_PREFIX = "US-"  # the project's state geo ids: US-<FIPS>
VINTAGE_PREFIX = "nclimdiv-"
FILE_NAME = re.compile(r"climdiv-(?P<code>[a-z]{4})st-v1\.0\.0-(?P<vintage>\d{8})")
ID_WIDTH, VALUE_WIDTH = 10, 7
LINE_WIDTH = ID_WIDTH + 12 * VALUE_WIDTH


@dataclass(frozen=True)
class ClimdivFile:
    """A statewide file's name: its element and vintage (the date NOAA made it)."""

    element: Element
    vintage: str  # YYYYMMDD

    @classmethod
    def parse(cls, name: str) -> ClimdivFile | None:
        match = FILE_NAME.fullmatch(name)
        by_code = {e.file_code: e for e in ELEMENTS.values()}
        if not match or match["code"] not in by_code:
            return None
        return cls(by_code[match["code"]], match["vintage"])

    @property
    def name(self) -> str:
        return f"climdiv-{self.element.file_code}st-v1.0.0-{self.vintage}"

    @property
    def label(self) -> str:
        """The `vintage` column's value: `nclimdiv-YYYYMMDD`."""
        return f"{VINTAGE_PREFIX}{self.vintage}"

    @property
    def made(self) -> dt.date:
        return dt.datetime.strptime(self.vintage, "%Y%m%d").date()


def _line_values(where: str, line: str, element: Element, made: dt.date) -> tuple[int, int, list[float]]:
    """(state code, year, twelve values) of one line, or a PullError naming the line and field."""
    head, fields = line[:ID_WIDTH], line[ID_WIDTH:].split()
    if len(line.rstrip()) != LINE_WIDTH or len(fields) != 12:
        raise PullError(f"{where}: {len(fields)} monthly values, not 12 (a line is {LINE_WIDTH} characters: "
                        "a 10-character id and twelve of 7)")
    if not head.isdigit() or head[3] != "0":
        raise PullError(f"{where}: id {head!r} is not a state code, division 0, element and year")
    if head[4:6] != element.line_code:
        raise PullError(f"{where}: element code {head[4:6]!r}, not {element.line_code!r} ({element.variable})")
    year = int(head[6:])
    if year > made.year:
        raise PullError(f"{where}: year {year} is after the file's vintage {made.isoformat()}")
    try:
        values = [float(v) for v in fields]
    except ValueError:
        bad = next(v for v in fields if not re.fullmatch(r"-?\d+\.\d+", v))
        raise PullError(f"{where}: value {bad!r} is not a number") from None
    return int(head[:3]), year, values


def read_climdiv(text: str, file: ClimdivFile, source: str, geos: set[str] | None = None) -> pd.DataFrame:
    """The file's state rows in the indices layout (`geo_id, date, variable, value, vintage`),
    months not yet observed left out; `geos`: the states wanted (each must be in the file).
    A month observed after the vintage date cannot be, and is refused."""
    rows, element, made = [], file.element, file.made  # parsed once, not per line
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        state, year, values = _line_values(f"{source}: line {number}", line, element, made)
        fips = STATE_FIPS.get(state)
        if fips is None:
            continue  # a region or the nation
        for month, value in enumerate(values, start=1):
            if value != element.missing:
                rows.append((f"{GEO_PREFIX}{fips}", year, month, value))
    frame = pd.DataFrame(rows, columns=["geo_id", "year", "month", "value"])
    _check_complete(frame, file, source, geos)
    date = pd.to_datetime({"year": frame["year"], "month": frame["month"], "day": 1}) + pd.offsets.MonthEnd(0)
    late = frame[date.dt.date > made]
    if len(late):
        raise PullError(f"{source}: {late['geo_id'].iloc[0]} {late['year'].iloc[0]}-{late['month'].iloc[0]:02d}: "
                        f"a value for a month that ends after the file's vintage {made.isoformat()}")
    return pd.DataFrame({"geo_id": frame["geo_id"], "date": date, "variable": element.variable,
                         "value": element.convert(frame["value"]), "vintage": file.label})


def _check_complete(frame: pd.DataFrame, file: ClimdivFile, source: str, geos: set[str] | None) -> None:
    unique_rows(frame, source, "no state lines (an empty or cut file)", ["geo_id", "year", "month"],
                lambda row: f"{row['geo_id']} {row['year']}: the same state and year twice")
    missing = sorted((geos or set()) - set(frame["geo_id"]))
    if missing:
        raise PullError(f"{source}: no lines for {', '.join(missing)} (the yields have them)")
    last = frame.groupby("geo_id")["year"].max()
    short = last[last < last.max()]
    if len(short):
        raise PullError(f"{source}: {short.index[0]} ends in {short.iloc[0]}, the others in {last.max()} "
                        "(a cut file)")


def assemble(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """One indices table from several vintages' rows: for each geo, month and variable the
    newest vintage's value, older vintages filling the months a newer file does not have."""
    both = pd.concat(frames, ignore_index=True).sort_values("vintage", ascending=False, kind="stable")
    newest = both.drop_duplicates(["geo_id", "date", "variable"], keep="first")
    return newest.sort_values(["geo_id", "variable", "date"])[["geo_id", "date", "variable", "value", "vintage"]]
