"""A loopback HTTP server that publishes what NOAA and NASS publish, built from the shared real
data (`../shared/data/us_state_corn_1950_2023/`):

- NOAA: a directory listing of nClimDiv statewide files in NOAA's exact fixed-width format (the
  deg C and mm of the shared files turned back into the deg F and inches they came from);
- NASS: Quick Stats' `api_GET` answering the state corn yield and harvested-acres queries and the
  national yield query (USDA's August-November forecasts and the finals) with its JSON shape (`{"data": [record, ...]}`, figures as printed text), refusing a wrong key with 401.

Tests publish vintages and break responses on purpose; the real client code talks to it over HTTP."""
from __future__ import annotations

import json
import os
import threading
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd

from hindcast_assets.core.nclimdiv import ELEMENTS, GEO_PREFIX, STATE_FIPS, ClimdivFile, Element
from hindcast_assets.core.quickstats import CORN_BELT, NATIONAL_YIELD, RATINGS, STATE_CONDITION, STATE_CORN, Query
from hindcast_assets.core.season_report import US_TILES
from hindcast_assets.paths import PROJECT_ROOT

SHARED = Path(os.environ.get("SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data")) / "us_state_corn_1950_2023"
NCLIMDIV_CODE = {fips: code for code, fips in STATE_FIPS.items()}
CLIMDIV_PATH = "/pub/data/cirs/climdiv/"
QUICKSTATS_PATH = "/api/"
QUICKSTATS_KEY = "loopback-test-key"
QUICKSTATS_LOAD_TIME = "2024-02-29 15:00:00.000"  # when this server's NASS records were "loaded"
# the vintages of the shared weather files, by variable (their SOURCE.md, Origin 3)
MAIN_VINTAGES = {"tavg": "20260205", "prcp": "20260205", "tmax": "20241205", "tmin": "20241205"}


def source_values(element: Element, values: pd.Series) -> pd.Series:
    """The deg F or inches (2 decimals, as NOAA prints them) that read back as `values`."""
    guess = values / 25.4 if element.variable == "prcp" else values * 9 / 5 + 32
    out = pd.Series(float("nan"), index=values.index)
    for step in (0, 1, -1, 2, -2):
        candidate = guess.round(2) + step / 100
        fits = out.isna() & (element.convert(candidate) == values)
        out[fits] = candidate[fits]
    if out.isna().any():
        raise ValueError(f"no 2-decimal source value reads back as {values[out.isna()].iloc[0]}")
    return out


def climdiv_text(rows: pd.DataFrame, element: Element) -> str:
    """NOAA's statewide file for `rows` (geo_id, year, month, value in our units): one line per
    state and year in state-code order, 12 values of `%7.2f`, a month without a value printed as
    the missing code."""
    source = rows.assign(value=source_values(element, rows["value"]),
                         code=rows["geo_id"].str.removeprefix(GEO_PREFIX).map(NCLIMDIV_CODE))
    wide = source.pivot(index=["code", "year"], columns="month", values="value").reindex(columns=range(1, 13))
    return "".join(f"{code:03d}0{element.line_code}{year:04d}" + "".join(f"{v:7.2f}" for v in values) + "\n"
                   for (code, year), values in zip(wide.index, wide.fillna(element.missing).to_numpy()))


def shared_weather() -> dict[str, pd.DataFrame]:
    """The shared weather rows by `<variable>@<vintage>`: the main file at its vintages, the
    2025-26 supplement's temperatures at theirs (its precipitation repeats the main file's)."""
    main = pd.read_csv(SHARED / "weather_monthly.csv", dtype={"geo_id": str})
    main["variable"] = main["variable"].str.rsplit("_", n=1).str[0]
    main["vintage"] = main["variable"].map(MAIN_VINTAGES)
    extra = pd.read_csv(SHARED / "weather_monthly_2025_2026.csv", dtype={"geo_id": str})
    extra["variable"] = extra["variable"].str.rsplit("_", n=1).str[0]
    extra["vintage"] = extra["source_vintage"].str.removeprefix("nclimdiv-")
    extra = extra[extra["variable"].isin(["tmax", "tmin"])]
    both = pd.concat([main, extra], ignore_index=True)
    return {f"{v}@{d}": rows for (v, d), rows in both.groupby(["variable", "vintage"])}


def climdiv_files(weather: dict[str, pd.DataFrame]) -> dict[str, str]:
    """File name -> text for every `<variable>@<vintage>` frame."""
    out = {}
    for key, rows in weather.items():
        variable, vintage = key.split("@")
        element = ELEMENTS[variable]
        out[ClimdivFile(element, vintage).name] = climdiv_text(rows, element)
    return out


def quickstats_record(row, query: Query, load_time: str) -> dict:
    """One state-year record as Quick Stats' JSON gives it (text fields, the figure as printed)."""
    fips = row.geo_id.removeprefix(GEO_PREFIX)
    figure = getattr(row, query.column)
    printed = f"{figure:.1f}" if query.column == "yield_bu_per_acre" else f"{int(figure):,}"
    return {**dict(query.filters), "group_desc": "FIELD CROPS", "class_desc": "ALL CLASSES",
            "prodn_practice_desc": "ALL PRODUCTION PRACTICES", "domaincat_desc": "NOT SPECIFIED",
            "short_desc": f"CORN, GRAIN - {query.statistic}, MEASURED IN {query.unit}",
            "state_ansi": fips, "state_fips_code": fips, "state_alpha": US_TILES[fips][0],
            "state_name": row.geo_name.upper(), "country_code": "9000", "country_name": "UNITED STATES",
            "location_desc": row.geo_name.upper(), "year": int(row.season_year), "begin_code": "00",
            "end_code": "00", "week_ending": "", "load_time": load_time, "Value": printed, "CV (%)": ""}


def shared_yields() -> pd.DataFrame:
    return pd.read_csv(SHARED / "yields.csv", dtype={"geo_id": str})


def shared_forecasts() -> pd.DataFrame:
    """USDA's August-November national forecasts, 1995-2025 (the live seasons' too)."""
    past = pd.read_csv(SHARED / "usda_forecasts.csv", dtype={"init_md": str})
    live = pd.read_csv(SHARED / "usda_live_seasons_2024_2025.csv", dtype={"init_md": str})
    return pd.concat([past, live[live["kind"] == "forecast"]], ignore_index=True)


def national_records(forecasts: pd.DataFrame, finals: pd.DataFrame, load_time: str) -> list[dict]:
    """Quick Stats' national corn yield records: a forecast per report month (`YEAR - AUG
    FORECAST` ...) and the final (`YEAR`), as its JSON gives them."""
    query, base = NATIONAL_YIELD, {"state_fips_code": "99", "state_ansi": "", "state_alpha": "US",
                                   "state_name": "US TOTAL", "location_desc": "US TOTAL"}
    rows = [(int(r.season_year), f"YEAR - {r.report_month.upper()} FORECAST", r.forecast) for r in forecasts.itertuples()]
    rows += [(int(r.season_year), "YEAR", r.yield_bu_per_acre) for r in finals.itertuples()]
    return [{**dict(query.filters), **base, "short_desc": "CORN, GRAIN - YIELD, MEASURED IN BU / ACRE",
             "year": year, "reference_period_desc": period, "freq_desc": "ANNUAL", "load_time": load_time,
             "Value": f"{value:.1f}", "CV (%)": ""} for year, period, value in rows]


def shared_condition() -> pd.DataFrame:
    """The bundled Corn Belt condition's weeks that all 8 states reported."""
    weekly = pd.read_csv(SHARED / "crop_condition_weekly.csv")
    return weekly[weekly["states_reporting"] == len(CORN_BELT)]


def emulated_shares(ge_pct: float) -> dict[str, int]:
    """Whole-percent ratings with the week's good-or-excellent share (the shared data hold only
    the 8-state aggregate, not each state's ratings: every state gets these)."""
    ge = round(ge_pct)
    rest = 100 - ge
    fair, poor = round(rest * 0.6), round(rest * 0.3)
    return dict(zip(RATINGS, (round(ge * 0.3), ge - round(ge * 0.3), fair, poor, rest - fair - poor)))


def condition_records(weeks: pd.DataFrame, fips: str, name: str, load_time: str) -> list[dict]:
    """One state's weekly ratings as Quick Stats' JSON gives them, a record per rating."""
    return [{**dict(STATE_CONDITION.filters), "unit_desc": rating, "state_fips_code": fips,
             "state_alpha": US_TILES[fips][0], "state_name": name.upper(), "year": int(w.year), "reference_period_desc": f"WEEK #{int(w.week):02d}",
             "week_ending": w.week_ending, "load_time": load_time, "Value": str(share)}
            for w in weeks.itertuples() for rating, share in emulated_shares(w.ge_pct).items()]


@dataclass
class QuickStats:
    """What the Quick Stats endpoint answers: records per query, built from `yields`; `change`
    rewrites a query's records (or its whole body) to break a response on purpose."""

    yields: pd.DataFrame
    forecasts: pd.DataFrame
    finals: pd.DataFrame  # the national final per season (season_year, yield_bu_per_acre)
    condition: pd.DataFrame  # the weeks all 8 Corn Belt states reported (week_ending, year, week, ge_pct)
    load_time: str = QUICKSTATS_LOAD_TIME
    change: dict[str, object] = field(default_factory=dict)  # query column -> records -> records | bytes

    def answer(self, params: dict[str, str]) -> tuple[int, bytes]:
        if params.get("key") != QUICKSTATS_KEY:
            return 401, json.dumps({"error": ["unauthorized"]}).encode()
        query = next((q for q in (*STATE_CORN, NATIONAL_YIELD, STATE_CONDITION)
                      if all(params.get(k) == v for k, v in q.filters)), None)
        if query is None:
            return 400, json.dumps({"error": ["bad request - invalid query"]}).encode()
        if query is STATE_CONDITION:
            fips = params.get("state_fips_code", "")
            query = Query(f"condition_{fips}", query.filters)
            names = dict(zip(self.yields["geo_id"], self.yields["geo_name"]))
            records = condition_records(self.condition, fips, names[f"{GEO_PREFIX}{fips}"], self.load_time)
        elif query is NATIONAL_YIELD:
            records = national_records(self.forecasts, self.finals, self.load_time)
        else:
            records = [quickstats_record(r, query, self.load_time) for r in self.yields.itertuples()]
        changed = self.change.get(query.column, lambda rs: rs)(records)
        return 200, changed if isinstance(changed, bytes) else json.dumps({"data": changed}).encode()


@dataclass
class Published:
    """What the server answers: files by path, and faults to give before a file's real bytes
    (`faults[path]`: HTTP statuses, one per request, then the file)."""

    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    requests: list[str] = field(default_factory=list)
    quickstats: QuickStats | None = None

    def listing(self, folder: str) -> bytes:
        """An Apache-style index of the files in `folder`, as NCEI's server gives."""
        names = sorted(p.removeprefix(folder) for p in self.files if p.startswith(folder))
        links = "".join(f'<a href="{n}">{n}</a>\n' for n in names)
        return f'<html><body><h1>Index of {folder}</h1><pre><a href="../">Parent Directory</a>\n{links}</pre>' \
               "</body></html>".encode()


class _Handler(BaseHTTPRequestHandler):
    published: Published

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        path = self.path.split("?")[0]
        self.published.requests.append(self.path)
        faults = self.published.faults.get(path)
        if faults:
            self.send_error(faults.pop(0))
            return
        status = 200
        if path == QUICKSTATS_PATH + "api_GET/" and self.published.quickstats is not None:
            query = dict(urllib.parse.parse_qsl(self.path.partition("?")[2]))
            status, body = self.published.quickstats.answer(query)
        else:
            body = self.published.listing(path) if path.endswith("/") else self.published.files.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if path.startswith(QUICKSTATS_PATH) else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@dataclass
class SourceServer:
    """The server on 127.0.0.1 at a free port, serving `published`."""

    published: Published
    server: ThreadingHTTPServer

    @property
    def climdiv_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{CLIMDIV_PATH}"

    @property
    def quickstats_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{QUICKSTATS_PATH}"

    def fail_quickstats(self, *statuses: int) -> None:
        self.published.faults[QUICKSTATS_PATH + "api_GET/"].extend(statuses)

    def publish_climdiv(self, name: str, text: str) -> None:
        self.published.files[CLIMDIV_PATH + name] = text.encode("ascii")

    def withdraw_climdiv(self, name: str) -> None:
        del self.published.files[CLIMDIV_PATH + name]

    def fail(self, name: str, *statuses: int) -> None:
        self.published.faults[CLIMDIV_PATH + name].extend(statuses)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_server() -> SourceServer:
    published = Published()
    handler = type("Handler", (_Handler,), {"published": published})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # polled every 20 ms, not 0.5 s: `shutdown` waits for the next poll, and every ingest test stops one
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return SourceServer(published, server)
