"""`hindcast ingest noaa|nass` against a loopback server publishing NOAA's real file format and
Quick Stats' JSON, built from the shared real data: the pulls rebuild the bundled inputs byte for
byte, a new vintage never touches a kept one, transient errors are retried, the API key is never
written, and every bad pull is one line that leaves the last good input current."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from hindcast_assets.cli import main
from hindcast_assets.config import load_config
from hindcast_assets.core.nclimdiv import ELEMENTS, ClimdivFile
from hindcast_assets.core.quickstats import CORN_BELT
from hindcast_assets.paths import BUNDLED_DATA_DIR, CONFIGS_DIR
from hindcast_assets.pipeline.ingest import (BACKOFF_ENV, NASS_KEY_ENV, NASS_URL_ENV, NOAA_URL_ENV, VINTAGES, Http, ingest_nass,
                                             ingest_noaa)
from hindcast_assets_tests.sources import (QUICKSTATS_KEY, SHARED, QuickStats, SourceServer, climdiv_files,
                                           climdiv_text, shared_condition, shared_forecasts, shared_weather, shared_yields,
                                           start_server)

pytestmark = pytest.mark.ingest
FAST = Http(attempts=3, backoff_s=0.01)
CORN = "us_state_corn"
MAIN = {"tavg": "20260205", "tmax": "20241205", "tmin": "20241205", "prcp": "20260205"}  # the shared files' vintages
LATER = {"tmax": "20260904", "tmin": "20260904"}  # the 2025-26 supplement


def _name(variable: str, vintage: str) -> str:
    return ClimdivFile(ELEMENTS[variable], vintage).name


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def weather() -> dict[str, pd.DataFrame]:
    return shared_weather()


@pytest.fixture(scope="module")
def files(weather) -> dict[str, str]:
    """NOAA's files of every shared vintage, by name."""
    return climdiv_files(weather)


@pytest.fixture(scope="module")
def nass() -> tuple[pd.DataFrame, ...]:
    """What NASS publishes here: the state yields and acres, USDA's forecasts, the national finals,
    the Corn Belt's weekly condition (each state's ratings emulated: `sources.emulated_shares`)."""
    return shared_yields(), shared_forecasts(), pd.read_csv(SHARED / "national.csv"), shared_condition()


def _serving(files: dict[str, str], nass: tuple[pd.DataFrame, ...]) -> SourceServer:
    server = start_server()
    for variable, vintage in MAIN.items():
        server.publish_climdiv(_name(variable, vintage), files[_name(variable, vintage)])
    server.published.quickstats = QuickStats(*nass)
    return server


@pytest.fixture
def server(files, nass):
    server = _serving(files, nass)
    yield server
    server.close()


def _user_inputs(root: Path, env: pytest.MonkeyPatch, made_from: Path = BUNDLED_DATA_DIR) -> Path:
    """A user's input folder in `root`: a copy of `made_from`'s corn inputs, set in `env`."""
    folder = root / "input" / CORN
    shutil.copytree(made_from / CORN, folder)
    env.setenv("INPUT_DATA_DIR", str(root / "input"))
    env.setenv(BACKOFF_ENV, "0.01")
    env.setenv(NASS_KEY_ENV, QUICKSTATS_KEY)
    return folder


@pytest.fixture
def corn_inputs(tmp_path, monkeypatch) -> Path:
    """A user's input folder: a copy of the bundled corn inputs, which the pulls rewrite (the
    weather's first pull checks its states against the yields, the condition's rules read the
    weather)."""
    return _user_inputs(tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def pulled(files, nass, tmp_path_factory, empty_dagster_home, empty_mlflow_store) -> dict[str, Path]:
    """Per source, the input folder after one good pull of it, made once for the bad pulls'
    cases (each starts from a copy: the good pull is most of a case's time)."""
    from hindcast_assets_tests.conftest import own_state

    made = {}
    for source in ("noaa", "nass"):
        root = tmp_path_factory.mktemp(f"pulled_{source}")
        with pytest.MonkeyPatch.context() as env:
            own_state(root, env, empty_dagster_home, empty_mlflow_store)
            _user_inputs(root, env)
            server = _serving(files, nass)
            try:
                url = server.climdiv_url if source == "noaa" else server.quickstats_url
                assert main(["ingest", source, "--config", str(CONFIGS_DIR / "corn_usa.yaml"), "--url", url]) == 0
            finally:
                server.close()
        made[source] = root / "input"
    return made


def test_pulls_of_each_published_vintage_rebuild_the_bundled_weather_byte_for_byte(server, files, corn_inputs):
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    first = ingest_noaa(cfg, server.climdiv_url, FAST)
    assert sorted(first.fetched) == sorted(_name(v, d) for v, d in MAIN.items())
    assert first.inputs == {"indices": corn_inputs / "indices.parquet"}
    for variable, vintage in LATER.items():  # NOAA's September files: temperatures to August 2026
        server.publish_climdiv(_name(variable, vintage), files[_name(variable, vintage)])
    second = ingest_noaa(cfg, server.climdiv_url, FAST)
    assert sorted(second.fetched) == sorted(_name(v, d) for v, d in LATER.items())
    assert _sha(corn_inputs / "indices.parquet") == _sha(BUNDLED_DATA_DIR / CORN / "indices.parquet")
    assert second.vintages == {"prcp": ["nclimdiv-20260205"], "tavg": ["nclimdiv-20260205"],
                               "tmax": ["nclimdiv-20241205", "nclimdiv-20260904"],
                               "tmin": ["nclimdiv-20241205", "nclimdiv-20260904"]}
    kept = corn_inputs / VINTAGES / "nclimdiv"
    record = json.loads((kept / (_name("tavg", "20260205") + ".json")).read_text())
    assert record["source"] == server.climdiv_url + _name("tavg", "20260205")
    assert record["vintage"] == "nclimdiv-20260205" and record["sha256"] == _sha(kept / _name("tavg", "20260205"))
    assert record["fetched_at"].endswith("+00:00")
    # a pull of what is already kept fetches nothing and changes nothing
    again = ingest_noaa(cfg, server.climdiv_url, FAST)
    assert again.fetched == [] and _sha(corn_inputs / "indices.parquet") == _sha(BUNDLED_DATA_DIR / CORN / "indices.parquet")


def test_a_new_vintage_revises_recent_months_and_never_touches_the_kept_one(server, weather, corn_inputs):
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    ingest_noaa(cfg, server.climdiv_url, FAST)
    old = corn_inputs / VINTAGES / "nclimdiv" / _name("tavg", "20260205")
    old_bytes, old_record = old.read_bytes(), old.with_name(old.name + ".json").read_text()
    rows = weather["tavg@20260205"]
    revised = rows.assign(value=rows["value"].where(rows["year"] < 2025, (rows["value"] + 0.5).round(2)))
    server.publish_climdiv(_name("tavg", "20261005"), climdiv_text(revised, ELEMENTS["tavg"]))
    ingest_noaa(cfg, server.climdiv_url, FAST)
    tavg = pd.read_parquet(corn_inputs / "indices.parquet").query("variable == 'tavg' and geo_id == 'US-19'")
    july = tavg.set_index("date").loc[["2024-07-31", "2025-07-31"]]
    iowa = rows[(rows["geo_id"] == "US-19") & (rows["month"] == 7)].set_index("year")["value"]
    assert july["value"].tolist() == [iowa[2024], round(iowa[2025] + 0.5, 2)]
    assert set(july["vintage"]) == {"nclimdiv-20261005"}
    assert old.read_bytes() == old_bytes and old.with_name(old.name + ".json").read_text() == old_record


def test_a_server_error_then_the_file_is_a_good_pull(server, corn_inputs):
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    name = _name("prcp", "20260205")
    server.fail(name, 500, 503)
    ingest_noaa(cfg, server.climdiv_url, FAST)
    assert sum(r.endswith(name) for r in server.published.requests) == 3
    assert (corn_inputs / VINTAGES / "nclimdiv" / name).exists()


def _cut(text: str) -> str:
    return text[: len(text) // 2 + 5]  # mid-line, as a dropped connection leaves it


def _lines(text: str, change: Callable[[list[str]], list[str]]) -> str:
    return "".join(line + "\n" for line in change(text.splitlines()))


@dataclass(frozen=True)
class BadPull:
    name: str
    publish: Callable[[SourceServer, dict[str, str]], None]
    says: str
    source: str = "noaa"


TAVG, BAD = _name("tavg", "20260205"), _name("tavg", "20261105")


def _bad_tavg(change: Callable[[str], str]):
    return lambda server, files: server.publish_climdiv(BAD, change(files[TAVG]))


def _one_line(index: int, change: Callable[[str], str]) -> Callable[[str], str]:
    return lambda text: _lines(text, lambda lines: lines[:index] + [change(lines[index])] + lines[index + 1:])


def _december_2026(lines: list[str]) -> list[str]:
    """Alabama's 2026 line (January known) with a December value too."""
    i = next(i for i, line in enumerate(lines) if line[6:10] == "2026")
    return lines[:i] + [lines[i][:-7] + "  48.10"] + lines[i + 1:]


def _quickstats(column: str, change: Callable[[list[dict]], list[dict] | bytes]):
    return lambda server, files: server.published.quickstats.change.__setitem__(column, change)


def _iowa_2012(records: list[dict], value: str) -> list[dict]:
    return [{**r, "Value": value} if (r["state_name"], r["year"]) == ("IOWA", 2012) else r for r in records]


def _wrong_key(server, files) -> None:
    import os

    os.environ[NASS_KEY_ENV] = "not-the-key"  # the test's monkeypatch (`_user_inputs`) restores it


NASS_PULLS = [
    BadPull("Quick Stats: a wrong API key", _wrong_key, "NASS Quick Stats yield: HTTP 401 Unauthorized from", "nass"),
    BadPull("Quick Stats: HTTP 500 forever", lambda server, files: server.fail_quickstats(*[500] * 4),
            "NASS Quick Stats yield: HTTP 500 Internal Server Error from", "nass"),
    BadPull("Quick Stats: a cut response", _quickstats("yield_bu_per_acre", lambda rs: json.dumps({"data": rs})
                                                       .encode()[:5000]), "not JSON (", "nass"),
    BadPull("Quick Stats: a non-numeric value", _quickstats("yield_bu_per_acre", lambda rs: _iowa_2012(rs, "12O.5")),
            "(Iowa 2012): Value '12O.5' is not a number", "nass"),
    BadPull("Quick Stats: a duplicate state-year", _quickstats("harvested_acres", lambda rs: rs + rs[-1:]),
            "Wyoming 2023: the same state and year twice", "nass"),
    BadPull("Quick Stats: a yield without acres", _quickstats("harvested_acres", lambda rs: _iowa_2012(rs, "(D)")),
            "Iowa 2012: a yield and not the other", "nass"),
    BadPull("Quick Stats: a forecast month twice", _quickstats("forecast", lambda rs: rs + rs[:1]),
            "1995 Aug: the same season and month twice", "nass"),
    BadPull("Quick Stats: a duplicate week", _quickstats("condition_19", lambda rs: rs + rs[:1]),
            "US-19 week ending 1986-06-01: PCT EXCELLENT twice", "nass"),
    BadPull("Quick Stats: a week in the future", _quickstats("condition_17", lambda rs: rs[:-1] + [
        {**rs[-1], "week_ending": "2099-01-04"}]), "week_ending 2099-01-04 is after today", "nass"),
    BadPull("Quick Stats: a missing state", _quickstats("yield_bu_per_acre", lambda rs: [
        r for r in rs if r["state_name"] != "IOWA"]), "Iowa 1950: harvested acres and not the other", "nass"),
]


BAD_PULLS = [
    BadPull("truncated file", _bad_tavg(_cut), "monthly values, not 12"),
    BadPull("wrong column count", _bad_tavg(_one_line(7, lambda line: line[:-7])), "line 8: 11 monthly values, not 12"),
    BadPull("a missing state", _bad_tavg(lambda t: _lines(t, lambda ls: [x for x in ls if not x.startswith("013")])),
            "no lines for US-19 (the yields have them)"),
    BadPull("non-numeric value", _bad_tavg(_one_line(3, lambda line: line[:-7] + "    n/a")), "line 4: value 'n/a' is not a number"),
    BadPull("HTTP 500 forever", lambda server, files: (server.publish_climdiv(BAD, files[TAVG]),
                                                       server.fail(BAD, 500, 500, 500, 500)),
            "HTTP 500 Internal Server Error from"),
    BadPull("401 unauthorized", lambda server, files: (server.publish_climdiv(BAD, files[TAVG]), server.fail(BAD, 401)),
            "HTTP 401 Unauthorized from"),
    BadPull("a duplicate state-year", _bad_tavg(lambda t: _lines(t, lambda ls: ls[:2] + ls[1:])),
            "the same state and year twice"),
    BadPull("a month after the vintage", _bad_tavg(lambda t: _lines(t, _december_2026)),
            "US-01 2026-12: a value for a month that ends after the file's vintage 2026-11-05"),
    BadPull("a year after the vintage", _bad_tavg(_one_line(0, lambda line: line[:6] + "2027" + line[10:])),
            "line 1: year 2027 is after the file's vintage 2026-11-05"),
    BadPull("a vintage after today", lambda server, files: server.publish_climdiv(_name("tavg", "20991231"),
                                                                                   files[TAVG]),
            "climdiv-tmpcst-v1.0.0-20991231: vintage 2099-12-31 is after today"),
    BadPull("a listing with no file", lambda server, files: [server.withdraw_climdiv(n) for n in list(
        p.rsplit("/", 1)[1] for p in server.published.files)], "no climdiv-*st-v1.0.0-YYYYMMDD file at"),
    *NASS_PULLS,
]


@pytest.mark.parametrize("case", BAD_PULLS, ids=[c.name for c in BAD_PULLS])
def test_a_bad_pull_is_one_line_and_the_last_good_input_stays_current(case, server, files, pulled, tmp_path,
                                                                     monkeypatch, capsys):
    config = str(CONFIGS_DIR / "corn_usa.yaml")
    url = server.climdiv_url if case.source == "noaa" else server.quickstats_url
    corn_inputs = _user_inputs(tmp_path, monkeypatch, pulled[case.source])  # after a good pull of the source
    good, kept_in = {"noaa": ("indices.parquet", "nclimdiv"), "nass": ("yields.parquet", "quickstats")}[case.source]
    good, kept_in = corn_inputs / good, corn_inputs / VINTAGES / kept_in
    before, kept = _sha(good), sorted(p.name for p in kept_in.iterdir())
    assert kept  # the good pull kept its files
    capsys.readouterr()
    case.publish(server, files)
    assert main(["ingest", case.source, "--config", config, "--url", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hindcast: error: ") and case.says in err[0], err
    assert QUICKSTATS_KEY not in err[0] and "not-the-key" not in err[0]  # a key is never printed
    assert _sha(good) == before  # the last good pull stays current
    assert sorted(p.name for p in kept_in.iterdir()) == kept  # nothing bad kept


def test_a_pull_from_quick_stats_rebuilds_the_bundled_yields_byte_for_byte_and_never_writes_the_key(
        server, corn_inputs):
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    (corn_inputs / "yields.parquet").unlink()
    (corn_inputs / "usda_forecasts.csv").unlink()
    (corn_inputs / "crop_condition.parquet").unlink()
    pull = ingest_nass(cfg, server.quickstats_url, FAST)
    assert pull.fetched[:3] == ["corn_yield_bu_per_acre-20240229.json", "corn_harvested_acres-20240229.json",
                                "corn_forecast-20240229.json"]
    assert pull.fetched[3:] == [f"corn_condition_{geo[3:]}-20240229.json" for geo in CORN_BELT]  # a request per state
    assert pull.vintages == {v: ["quickstats-20240229"] for v in ("yields", "yardstick", "regional")}
    assert _sha(corn_inputs / "yields.parquet") == _sha(BUNDLED_DATA_DIR / CORN / "yields.parquet")
    # USDA's forecasts: the bundled numbers, season by season and month by month (the bundled file
    # also has each report's release date, which Quick Stats does not give)
    pulled = pd.read_csv(corn_inputs / "usda_forecasts.csv", dtype={"init_md": str})
    bundled = pd.read_csv(BUNDLED_DATA_DIR / CORN / "usda_forecasts.csv", dtype={"init_md": str})
    assert pulled.equals(bundled[list(pulled.columns)])
    assert list(pulled.columns) == ["season_year", "report_month", "init_md", "forecast"] and len(pulled) == len(bundled)
    # the condition index: the bundled weeks, its good-or-excellent share within the emulated
    # ratings' rounding to whole percent (the shared data hold no state's own ratings)
    condition = pd.read_parquet(corn_inputs / "crop_condition.parquet").pivot(index="date", columns="variable",
                                                                             values="value")
    bundled = pd.read_parquet(BUNDLED_DATA_DIR / CORN / "crop_condition.parquet").pivot(
        index="date", columns="variable", values="value")
    assert condition.index.equals(bundled.index) and (condition["ge_pct"] - bundled["ge_pct"]).abs().max() <= 0.5
    record = json.loads((corn_inputs / VINTAGES / "quickstats" / (pull.fetched[0] + ".json")).read_text())
    assert record["source"].startswith(server.quickstats_url + "api_GET/?key=***&source_desc=SURVEY")
    written = [p.read_bytes() for p in corn_inputs.rglob("*") if p.is_file()]
    assert not any(QUICKSTATS_KEY.encode() in data for data in written)


def test_without_a_key_quick_stats_is_not_asked(server, corn_inputs, monkeypatch, capsys):
    monkeypatch.delenv(NASS_KEY_ENV)
    config = str(CONFIGS_DIR / "corn_usa.yaml")
    assert main(["ingest", "nass", "--config", config, "--url", server.quickstats_url]) == 2
    assert capsys.readouterr().err.strip() == (
        "hindcast: error: NASS_API_KEY is not set: Quick Stats needs an API key (free from "
        "https://quickstats.nass.usda.gov/api); it is never written anywhere")
    assert server.published.requests == []


def test_a_server_error_then_the_answer_is_a_good_quick_stats_pull(server, corn_inputs):
    server.fail_quickstats(503)
    ingest_nass(load_config(CONFIGS_DIR / "corn_usa.yaml"), server.quickstats_url, FAST)
    assert len(server.published.requests) == 12  # the yields twice; the acres, the forecasts, 8 states' condition once


def test_the_ui_ingest_pulls_both_sources_records_the_inputs_data_versions_and_checks_freshness(server, corn_inputs, monkeypatch):
    from dagster import AssetKey, DagsterInstance
    from dagster._core.definitions.data_version import DATA_VERSION_TAG

    from hindcast_assets.core.data import file_version
    from hindcast_assets.core.freshness import complete_through
    from hindcast_assets.definitions import build_definitions
    from hindcast_assets.defs.ingest import (CONDITION, CONDITION_FRESH, WEATHER_FRESH, freshness_check,
                                             ingest_job_name, weather_cadence)

    monkeypatch.setenv(NOAA_URL_ENV, server.climdiv_url)
    monkeypatch.setenv(NASS_URL_ENV, server.quickstats_url)
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    instance, defs = DagsterInstance.ephemeral(), build_definitions([cfg])
    assert defs.resolve_schedule_def("corn_usa__ingest_schedule").cron_schedule == cfg.ingest.schedule
    result = defs.resolve_job_def(ingest_job_name("corn_usa")).execute_in_process(instance=instance)
    assert result.success
    current = corn_inputs / "indices.parquet"
    (record,) = instance.fetch_materializations(AssetKey(["corn_usa", "ingest_weather"]), limit=5).records
    (pulled,) = instance.fetch_materializations(AssetKey(["corn_usa", "ingest_nass"]), limit=5).records
    assert pulled.asset_materialization.metadata["vintages"].value == {
        name: ["quickstats-20240229"] for name in ("yields", "yardstick", "regional")}
    assert record.asset_materialization.metadata["vintages"].value["tavg"] == ["nclimdiv-20260205"]
    seen = instance.fetch_observations(AssetKey(["corn_usa", "indices"]), limit=1).records[0]  # the newest
    assert seen.asset_observation.tags[DATA_VERSION_TAG] == file_version(str(current))
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert complete_through(pd.read_parquet(current)).isoformat() == "2024-11-30"  # tmax, tmin of 2024-12-05
    today = dt.date.today()
    for name, cadence, series in [(WEATHER_FRESH, weather_cadence(cfg), current),
                                  (CONDITION_FRESH, CONDITION, corn_inputs / "crop_condition.parquet")]:
        expected = freshness_check(cfg, name, cadence, pd.read_parquet(series), today)
        assert (checks[name].passed, checks[name].description) == (expected.passed, expected.description)
    # a bad pull fails the run with its line, and the input stays as it was
    before = _sha(current)
    server.publish_climdiv(BAD, "not a climdiv file\n")
    failed = defs.resolve_job_def(ingest_job_name("corn_usa")).execute_in_process(instance=instance,
                                                                                 raise_on_error=False)
    assert not failed.success and _sha(current) == before
    (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.event_specific_data.error.cause  # the step's own error, under Dagster's wrapper
    assert error.cls_name == "PullError" and "line 1: 2 monthly values, not 12" in error.message


IN_SEASON = ["20250610", "20250710", "20250810", "20250910"]  # NOAA's releases during the 2025 season


def _as_of(weather: dict[str, pd.DataFrame], variable: str, vintage: str) -> str:
    """A statewide file as if NOAA had published it on `vintage`: every month ending before the
    vintage's month. The values are the shared files' (later vintages'): the shared data hold no
    release made during 2025, so these stand in for them with final values."""
    rows = pd.concat([frame for key, frame in weather.items() if key.startswith(f"{variable}@")])
    rows = rows.drop_duplicates(["geo_id", "year", "month"], keep="last")
    cutoff = pd.Timestamp(f"{vintage[:6]}01")
    return climdiv_text(rows[pd.to_datetime(rows[["year", "month"]].assign(day=1)) < cutoff], ELEMENTS[variable])


def test_a_replay_of_the_2025_vintages_makes_each_init_date_once_and_each_forecast_names_its_vintage(
        small_config, input_dir, server, weather, tmp_path, capsys):
    """A production model of its own (a shared run_dir's manifest holds other tests' forecasts)."""
    from hindcast_assets.core.season_dates import ForecastDate
    from hindcast_assets.launch.hindcast import run_experiment
    from hindcast_assets.pipeline import store

    run_dir = run_experiment(load_config(small_config), "fit-production", str(tmp_path / "runs")).run_dir
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")  # its inputs: the same copy, which the pulls rewrite
    for variable, vintage in MAIN.items():  # NOAA as it stood during the 2025 season
        server.withdraw_climdiv(_name(variable, vintage))
    for vintage in IN_SEASON:  # the user pulls each release as it comes out
        for variable in ELEMENTS:
            server.publish_climdiv(_name(variable, vintage), _as_of(weather, variable, vintage))
        assert ingest_noaa(cfg, server.climdiv_url, FAST).vintages["tmax"] == [f"nclimdiv-{vintage}"]
    kept = input_dir / CORN / VINTAGES / "nclimdiv"
    assert main(["replay", "--run-dir", str(run_dir.root), "--season-year", "2025", "--vintages", str(kept)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == str(run_dir.root) and len(out) == 5
    for line, vintage, month in zip(out, IN_SEASON, ("05-31", "06-30", "07-31", "08-31")):
        init = f"2025-{int(vintage[4:6]):02d}-01"
        assert line.startswith(f"vintage {vintage}, data through 2025-{month}: {init}: "), line
        assert line.count(": ") == 2  # exactly one forecast made at each release
    made = sorted(p.name for p in (run_dir.root / "forecast" / "2025").iterdir())
    assert made == ["2025-06-01", "2025-07-01", "2025-08-01", "2025-09-01"]
    for vintage, init in zip(IN_SEASON, made):
        used = store.forecast_vintages(run_dir, ForecastDate.parse(init, 2025))
        assert {variable: used[variable] for variable in ELEMENTS} == {v: [f"nclimdiv-{vintage}"] for v in ELEMENTS}
