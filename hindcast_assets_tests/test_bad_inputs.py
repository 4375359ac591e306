"""Every bad input a user can give, each a row of docs/bad_inputs.md and a test: one line on
stderr naming the file and the field (or the argument), exit 2, and nothing written: no run_dir,
no forecast, no Dagster run or partition, no MLflow run."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance

from hindcast_assets.cli import main
from hindcast_assets.core.input_schema import schema_markdown
from hindcast_assets.paths import PROJECT_ROOT
from hindcast_assets_tests.conftest import write_config

DOC = PROJECT_ROOT / "docs" / "bad_inputs.md"
YIELDS, INDICES, REFS = "us_state_corn/yields.parquet", "us_state_corn/indices.parquet", \
    "us_state_corn/national_reference.parquet"
CONDITION = "us_state_corn/crop_condition.parquet"
YARDSTICK = "us_state_corn/usda_forecasts.csv"


@dataclass
class Env:
    """What a case may change: the input copy, a scratch folder, a run_dir copy, the config."""

    input_dir: Path
    tmp: Path
    run_dir: Path
    config: Path
    run_input: Path  # the inputs the run_dir's config names (the shared hindcast's copy)

    def edit(self, rel: str, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> None:
        path = self.input_dir / rel
        frame = pd.read_csv(path) if rel.endswith(".csv") else pd.read_parquet(path)
        changed = change(frame)  # a new frame, or None when it changed `frame` in place
        out = frame if changed is None else changed
        out.to_csv(path, index=False) if rel.endswith(".csv") else out.to_parquet(path, index=False)

    def config_with(self, **overrides) -> str:
        """The small config (as `small_config`) with `overrides`, in scratch/cfg/."""
        folder = self.tmp / "cfg"
        folder.mkdir(exist_ok=True)
        small = {"hindcast": {"first_test_year": 2009, "last_test_year": 2011},
                 "model": {"name": "lightgbm", "params": {}}, "compare": {}, "ensembles": {}}
        return str(write_config(folder, **(small | overrides)))


def _set(column: str, value, row: int = 3):
    def change(f: pd.DataFrame) -> None:
        if isinstance(value, str) and f[column].dtype != object:
            f[column] = f[column].astype(object)
        f.loc[row, column] = value
    return change


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Env], list[str]]
    expected: str  # the whole stderr line; {input}, {tmp}, {run_dir}, {config} are filled in

    def message(self, env: Env) -> str:
        return self.expected.format(input=env.input_dir, tmp=env.tmp, run_dir=env.run_dir, config=env.config,
                                    run_input=env.run_input)


def hindcast(env: Env, config: str | None = None) -> list[str]:
    return ["run", "hindcast", "--config", config or str(env.config), "--runs-dir", str(env.tmp / "runs")]


def with_edit(rel: str, change, config: dict | None = None) -> Callable[[Env], list[str]]:
    def argv(env: Env) -> list[str]:
        env.edit(rel, change)
        return hindcast(env, env.config_with(**config) if config else None)
    return argv


def with_config(**overrides) -> Callable[[Env], list[str]]:
    return lambda env: hindcast(env, env.config_with(**overrides))


def forecast(season: str, date: str) -> Callable[[Env], list[str]]:
    return lambda env: ["run", "forecast", "--run-dir", str(env.run_dir), "--season-year", season, "--init-date", date]


def _weights_for_one_geo(env: Env) -> list[str]:
    pd.DataFrame({"geo_id": ["US-17"], "weight": [1.0]}).to_csv(env.tmp / "weights.csv", index=False)
    return hindcast(env, env.config_with(columns={"area": None}, geos={"min_area_share": 0.0},
                                         inputs={"weights": str(env.tmp / "weights.csv")}))


def _weights_in_half_seasons(env: Env) -> list[str]:
    pd.DataFrame({"geo_id": ["US-17"], "season_year": [2010.5], "weight": [1.0]}).to_csv(env.tmp / "weights.csv",
                                                                                         index=False)
    return hindcast(env, env.config_with(columns={"area": None}, geos={"min_area_share": 0.0},
                                         inputs={"weights": str(env.tmp / "weights.csv")}))


def _raw_config(text: str) -> Callable[[Env], list[str]]:
    def argv(env: Env) -> list[str]:
        path = env.tmp / "raw.yaml"
        path.write_text(text)
        return hindcast(env, str(path))
    return argv


def _runs_under_a_file(env: Env) -> list[str]:
    (env.tmp / "plain_file").write_text("not a folder")
    return ["run", "hindcast", "--config", str(env.config), "--runs-dir", str(env.tmp / "plain_file" / "runs")]


def _overwrite(path: Path, text: str) -> None:
    path.write_text(text)


def _drop(column: str):
    return lambda f: f.drop(columns=[column])


def _bad_date(f: pd.DataFrame) -> pd.DataFrame:
    f = f.astype({"date": str})
    f.loc[3, "date"] = "not a date"
    return f


def _month_start(f: pd.DataFrame) -> pd.DataFrame:
    """Monthly values dated on the 1st, as many sources do (the July mean on 1 July)."""
    return f.assign(date=f["date"] - pd.offsets.MonthBegin(1))


def _mid_month(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(date=f["date"] - pd.offsets.MonthBegin(1) + pd.Timedelta(days=14))


def _with_variable(name: str):
    return lambda f: pd.concat([f, f.head(3).assign(variable=name)], ignore_index=True)


def _swapped_model(env: Env) -> list[str]:
    """Production's model copied over fold 2010's: a forecast of 2010 must not use it."""
    fold = env.run_dir / "models" / "corn_usa"
    (fold / "2010" / "model.txt").write_bytes((fold / "production" / "model.txt").read_bytes())
    return forecast("2010", "2010-08-01")(env)


def _garbage_preds(env: Env) -> list[str]:
    (env.run_dir / "preds" / "corn_usa" / "2010" / "walk_forward_preds.parquet").write_bytes(b"not a parquet file")
    return ["show", str(env.run_dir)]


def _truncated_manifest(env: Env) -> list[str]:
    manifest = env.run_dir / "manifest.json"
    manifest.write_text(manifest.read_text()[:60])
    return ["show", str(env.run_dir)]


def _unrecorded_file(env: Env) -> list[str]:
    """A card the manifest does not list (its entry removed): never read, whatever it holds."""
    manifest = env.run_dir / "manifest.json"
    record = json.loads(manifest.read_text())
    record["artefacts"] = [a for a in record["artefacts"] if a["path"] != "models/corn_usa/2010/model_card.json"]
    manifest.write_text(json.dumps(record))
    return ["show", str(env.run_dir)]


def _linked_reports(env: Env) -> list[str]:
    """A killed run_dir whose reports/ is a link to a folder elsewhere: resume would write there."""
    elsewhere = env.tmp / "elsewhere"
    shutil.move(str(env.run_dir / "reports"), elsewhere)
    (env.run_dir / "reports").symlink_to(elsewhere, target_is_directory=True)
    return ["resume", str(env.run_dir)]


def _input_changed_since(env: Env) -> list[str]:
    """The yields changed since the run_dir was made (its manifest records another sha256): a
    resume would mix data."""
    manifest = env.run_dir / "manifest.json"
    record = json.loads(manifest.read_text())
    record["inputs"]["yields"]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(record))
    return ["resume", str(env.run_dir)]


def _duplicate_first_row(f: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([f, f.iloc[[0]]], ignore_index=True)


def _incomplete(env: Env) -> list[str]:
    """The run_dir's manifest without its last completed stage partition."""
    manifest = env.run_dir / "manifest.json"
    record = json.loads(manifest.read_text())
    record["completed"].pop(sorted(record["completed"])[-1])
    manifest.write_text(json.dumps(record))
    return ["promote", str(env.run_dir), "--reason", "looks fine"]


C = "{tmp}/cfg/corn_usa.yaml"
Y = "{input}/" + YIELDS
R = "{input}/" + REFS
RI = "{run_input}/" + INDICES
I = "{input}/" + INDICES
CASES = [
    # -- the config ---------------------------------------------------------------------------------
    Case("config file missing", lambda env: hindcast(env, str(env.tmp / "nope.yaml")),
         "{tmp}/nope.yaml: <file>: cannot read config (No such file or directory)"),
    Case("malformed YAML", _raw_config("experiment_key: [corn\n"),
         "{tmp}/raw.yaml: line 2: malformed YAML (expected ',' or ']', but got '<stream end>')"),
    Case("YAML aliases", _raw_config("experiment_key: &k corn_usa\ndescription: *k\n"),
         "{tmp}/raw.yaml: line 2: YAML aliases (*k) are not accepted in a config; write the value out"),
    Case("unknown config key", with_config(colour="blue"),
         C + ": colour: Extra inputs are not permitted"),
    Case("test years reversed", with_config(hindcast={"first_test_year": 2011, "last_test_year": 2009}),
         C + ': hindcast.last_test_year: 2009 is before first_test_year 2011'),
    Case("unknown model plugin", with_config(model={"name": "prophet", "params": {}}),
         C + ": model.name: unknown model 'prophet' (known: hist_gbm, lightgbm, ridge, trend, xgboost; "
             "ensembles: none)"),
    Case("compared model on an unknown plugin", with_config(compare={"condition": {"model": "prophet"}}),
         C + ": compare.condition.model: unknown model 'prophet' (known: hist_gbm, lightgbm, ridge, trend, xgboost)"),
    Case("compared model on features the experiment lacks",
         with_config(compare={"condition": {"model": "ridge", "features": ["soil"]}}),
         C + ": compare.condition.features[0]: no feature of this experiment starts with 'soil'"),
    Case("as-of month-day impossible", with_config(features={"as_of": "02-30", "months": [5, 6, 7, 8, 9],
                                                               "variables": ["tavg", "tmax", "tmin", "prcp"]}),
         C + ": features.as_of: '02-30' is not a valid month-day: day is out of range for month"),
    Case("month out of range", with_config(features={"as_of": "10-01", "months": [5, 13],
                                                       "variables": ["tavg", "tmax", "tmin", "prcp"]}),
         C + ': features.months: months must be 1..12, got [13]'),
    Case("unknown derived feature", with_config(features={"derived": ["gdd", "frost_days"]}),
         C + ": features.derived[1]: Input should be 'gdd', 'edd', 'vpd' or 'water_balance'"),
    Case("area share not a number", with_config(geos={"min_seasons": 20, "min_area_share": "lots",
                                                      "judged_on_last_seasons": 10}),
         C + ": geos.min_area_share: Input should be a valid number, unable to parse string as a number"),
    # -- yields -----------------------------------------------------------------------------------
    Case("yields file missing", lambda env: (env.input_dir / YIELDS).unlink() or hindcast(env),
         Y + ": inputs.yields: file not found"),
    Case("yields not parquet", lambda env: _overwrite(env.input_dir / YIELDS, "not parquet") or hindcast(env),
         Y + ": inputs.yields: cannot read (Could not open Parquet input source '<Buffer>': Parquet magic "
             "bytes not found in footer. Either the file is corrupted or this is not a parquet file.)"),
    Case("target column missing", with_edit(YIELDS, _drop("yield_bu_per_acre")),
         Y + ": column 'yield_bu_per_acre' (columns.target) is missing; found ['geo_id', 'geo_name', "
             "'harvested_acres', 'season_year']"),
    Case("yields stored as strings", with_edit(YIELDS, lambda f: f.astype({"yield_bu_per_acre": str})),
         Y + ": column 'yield_bu_per_acre' (columns.target) must hold numbers, found object"),
    Case("area stored as strings", with_edit(YIELDS, lambda f: f.astype({"harvested_acres": str})),
         Y + ": column 'harvested_acres' (columns.area) must hold numbers, found object"),
    Case("geo id with a trailing blank", with_edit(YIELDS, _set("geo_id", "US-19 ")),
         Y + ": column 'geo_id' (columns.geo_id) holds 'US-19 ' at row 3, blank or with leading or trailing blanks "
             "(1 rows); geo ids are matched exactly across inputs, so none is stripped: fix the file"),
    Case("geo ids stored as numbers", with_edit(YIELDS, lambda f: f.assign(geo_id=f.index.astype("int64"))),
         Y + ": column 'geo_id' (columns.geo_id) must hold text, found int64: a number loses leading zeros (FIPS "
             "01001 becomes 1001); store the ids as strings"),
    Case("negative yield", with_edit(YIELDS, _set("yield_bu_per_acre", -5.0)),
         Y + ": column 'yield_bu_per_acre' (columns.target) is negative at geo_id=US-01, season_year=1953"),
    Case("implausible yield", with_edit(YIELDS, _set("yield_bu_per_acre", 1e9)),
         Y + ": column 'yield_bu_per_acre' (columns.target) is 1e+09 at geo_id=US-01, season_year=1953: more than "
             "10 times the geo's median (64); an entry or unit error? (1 rows)"),
    Case("an input path naming a folder", lambda env: hindcast(env, env.config_with(inputs={"yields": str(env.tmp)})),
         "{tmp}: inputs.yields: is a folder, not a file"),
    Case("test seasons too early for a trend", with_config(hindcast={"first_test_year": 1975, "last_test_year": 1976}),
         C + ": hindcast.first_test_year: fold 1975 has 5 training seasons from detrend.start_year 1970, fewer "
             "than detrend.min_seasons (10); start the test seasons later"),
    Case("a test season with no area", with_edit(YIELDS, lambda f: f.assign(
        harvested_acres=f["harvested_acres"].where(f["season_year"] != 2010, 0.0))),
         Y + ": columns.area: test season 2010 has no area among the included geos (1 seasons); its national "
             "figure would be empty"),
    Case("an included geo without weather for a season", with_edit(INDICES, lambda f: f[~(
        (f["geo_id"] == "US-19") & (f["date"].dt.year == 1995))]),
         I + ": features.variables: geo_id=US-19 has no tavg_may in season 1995 (1 geo-seasons with a gap); every "
             "included geo needs its features for each season it has a yield in, or set features.fill_gaps: true "
             "to fill them (the report lists them)"),
    Case("+inf yield", with_edit(YIELDS, _set("yield_bu_per_acre", float("inf"))),
         Y + ": column 'yield_bu_per_acre' (columns.target) is not finite at geo_id=US-01, season_year=1953 "
             "(1 rows)"),
    Case("NaN target in a training season", with_edit(YIELDS, _set("yield_bu_per_acre", float("nan"))),
         Y + ": column 'yield_bu_per_acre' (columns.target) is NaN in a training season at geo_id=US-01, "
             "season_year=1953 (1 rows)"),
    Case("NaN area in a training season", with_edit(YIELDS, _set("harvested_acres", float("nan"))),
         Y + ": column 'harvested_acres' (columns.area) is NaN in a training season at geo_id=US-01, "
             "season_year=1953 (1 rows)"),
    Case("negative area", with_edit(YIELDS, _set("harvested_acres", -5.0)),
         Y + ": column 'harvested_acres' (columns.area) is negative at geo_id=US-01, season_year=1953"),
    Case("duplicate geo x season", with_edit(YIELDS, _duplicate_first_row),
         Y + ': duplicate geo_id x season_year: 2 rows, first at geo_id=US-01, season_year=1950'),
    Case("season year not whole", with_edit(YIELDS, lambda f: f.astype({"season_year": float})
                                            .assign(season_year=lambda d: d.season_year + 0.5)),
         Y + ": column 'season_year' (columns.season_year) must hold whole years"),
    Case("test seasons outside the data", with_config(hindcast={"first_test_year": 2030, "last_test_year": 2031}),
         C + ": hindcast.last_test_year: test seasons 2030-2031 have no yields in "
             "{input}/us_state_corn/yields.parquet (its last season is 2023)"),
    Case("a geo with two names", with_edit(YIELDS, _set("geo_name", "Alabama, again")),
         Y + ": column 'geo_name' (columns.geo_name) names geo 'US-01' ['Alabama', 'Alabama, again']; one name per geo"),
    Case("first test season before the data",
         with_config(hindcast={"first_test_year": 1911, "last_test_year": 2011}),
         Y + ': geos: no geo passes the inclusion rule before 1911'),
    Case("no geo passes the inclusion rule", with_config(geos={"min_seasons": 999, "min_area_share": 0.005,
                                                               "judged_on_last_seasons": 10}),
         Y + ": geos: no geo passes the inclusion rule before 2009"),
    # -- indices and references ---------------------------------------------------------------------
    Case("indices variable missing", with_edit(INDICES, lambda f: f[f["variable"] != "prcp"]),
         I + ": column 'variable' (features.variables) has no rows for ['prcp']"),
    Case("derived feature without its source", with_edit(INDICES, lambda f: f[f["variable"] != "tmax"],
                                                         {"features": {"variables": ["tavg", "prcp"], "derived": ["edd"]}}),
         I + ": column 'variable' (features.derived) has no rows for ['tmax']"),
    Case("pre-season total without its variable", with_config(features={"variables": ["tavg"], "preseason": ["snow"]}),
         I + ": column 'variable' (features.preseason) has no rows for ['snow']"),
    Case("indices bad date", with_edit(INDICES, _bad_date),
         I + ": column 'date' (columns.date) holds a bad date (Time data not a date is not ISO8601 format, at "
             "position 3)"),
    Case("indices duplicate row", with_edit(INDICES, _duplicate_first_row),
         I + ": duplicate geo_id x date x variable: 2 rows, first at geo_id=US-01, date=1895-01-31 00:00:00, "
             "variable=prcp"),
    Case("indices value not finite", with_edit(INDICES, _set("value", float("-inf"))),
         I + ": column 'value' (columns.value) is not finite at geo_id=US-01, date=1895-04-30 00:00:00, "
             "variable=prcp (1 rows)"),
    Case("monthly indices dated at the month's start", with_edit(INDICES, _month_start),
         I + ": column 'date' (columns.date): variable 'prcp' is monthly and every value is dated on the 1st, the "
             "start of its month; a value summarising a period is dated at the period's end (July's mean on 31 "
             "July): date it on the month's last day, or set columns.date_marks: {{indices: period_start}} to convert"),
    Case("monthly indices dated mid-month", with_edit(INDICES, _mid_month),
         I + ": column 'date' (columns.date): variable 'prcp' is monthly but dated 1895-01-15, not on its month's "
             "last day; a value summarising a month is dated at the month's end"),
    Case("indices dates with a time zone", with_edit(INDICES, lambda f: f.assign(date=f["date"].dt.tz_localize("UTC"))),
         I + ": column 'date' (columns.date) holds dates with a time zone (UTC); give plain calendar dates "
             "(YYYY-MM-DD), the day a value's period ends"),
    Case("regional series for a geo without yields",
         with_config(features={"regional": {"variables": ["cci"], "geos": ["US-17", "US-99"]}}),
         "{input}/" + CONDITION + ": features.regional.geos: 'US-99' has no row in " + Y + " (1 of 2 listed geos "
         "unknown)"),
    Case("regional variable also in the indices", with_edit(INDICES, _with_variable("cci")),
         "{input}/" + CONDITION + ": column 'variable' (features.regional.variables): ['cci'] are also variables "
         "of " + I + "; a geo would get two series under one name"),
    Case("regional variable missing", with_config(features={"regional": {"variables": ["soil_moisture"]}}),
         "{input}/" + CONDITION + ": column 'variable' (features.regional.variables) has no rows for "
         "['soil_moisture']"),
    Case("regional series without its variables", with_config(features={"regional": {"variables": []}}),
         C + ": features.regional.variables: inputs.regional and features.regional.variables go together: the "
             "series and which of its variables to use"),
    Case("regional series dated with a time zone",
         with_edit(CONDITION, lambda f: f.assign(date=f["date"].dt.tz_localize("America/Chicago"))),
         "{input}/" + CONDITION + ": column 'date' (columns.date) holds dates with a time zone (America/Chicago); "
         "give plain calendar dates (YYYY-MM-DD), the day a value's period ends"),
    Case("references column missing", with_edit(REFS, _drop("yield_bu_per_acre")),
         R + ": column 'yield_bu_per_acre' (columns.reference_target) is missing; found ['season_year', "
             "'source']"),
    Case("references without a name", with_config(reference_name=None),
         C + ": reference_name: inputs.references needs reference_name: what the reference is (e.g. 'USDA NASS final "
             "estimate'), as the report names it"),
    Case("yardstick column missing", with_edit("us_state_corn/usda_forecasts.csv", _drop("forecast")),
         "{input}/us_state_corn/usda_forecasts.csv: column 'forecast' (inputs.yardstick) is missing; found "
         "['init_md', 'release_date', 'report_month', 'season_year']"),
    Case("reference not a number", with_edit(REFS, lambda f: f.astype({"yield_bu_per_acre": str})),
         R + ": column 'yield_bu_per_acre' (columns.reference_target) must hold numbers, found object"),
    Case("negative reference", with_edit(REFS, _set("yield_bu_per_acre", -1.0)),
         R + ": column 'yield_bu_per_acre' (columns.reference_target) is negative at season_year=1953"),
    Case("yardstick init date not a month-day", with_edit(YARDSTICK, _set("init_md", "Aug")),
         "{input}/" + YARDSTICK + ": column 'init_md' (inputs.yardstick) holds 'Aug' at row 3, not a month-day "
         "MM-DD (1 rows)"),
    Case("negative yardstick forecast", with_edit(YARDSTICK, _set("forecast", -125.6)),
         "{input}/" + YARDSTICK + ": column 'forecast' (inputs.yardstick) is negative at season_year=1995, "
         "init_md=11-01"),
    Case("weights season not a whole year", _weights_in_half_seasons,
         "{tmp}/weights.csv: column 'season_year' (columns.season_year) must hold whole years"),
    # -- QC rules -----------------------------------------------------------------------------------
    Case("QC column missing", with_config(qc={"column": "qc_suspect"}),
         Y + ": column 'qc_suspect' (qc.column) is missing; found ['geo_id', 'geo_name', 'harvested_acres', "
             "'season_year', 'yield_bu_per_acre']"),
    Case("QC column not true/false", with_edit(YIELDS, lambda f: f.assign(qc_suspect="maybe"),
                                               {"qc": {"column": "qc_suspect"}}),
         Y + ": column 'qc_suspect' (qc.column) must hold true/false or 1/0, found ['maybe']"),
    Case("QC rule excluding a test season", with_config(qc={"seasons": [2010]}),
         C + ": qc.seasons: [2010] are test seasons: a fold needs its test season's rows (exclude geos "
             "or flag rows with qc.column instead)"),
    Case("area share without an area", with_config(columns={"area": None}),
         C + ": geos.min_area_share: needs columns.area (there is no area to take a share of)"),
    Case("weights beside an area column", with_config(inputs={"weights": "weights.csv"}),
         C + ": inputs.weights: the yields have columns.area already; give one or the other"),
    Case("weights without a row for a geo", _weights_for_one_geo,
         "{tmp}/weights.csv: column 'weight' (inputs.weights) has no row for geo_id=US-01 "
         "(2960 yields rows without a weight)"),
    # -- where runs go ------------------------------------------------------------------------------
    Case("runs dir under a regular file", _runs_under_a_file,
         "{tmp}/plain_file/runs: --runs-dir: cannot create run_dirs there (Not a directory)"),
    # -- forecasts and run_dirs ---------------------------------------------------------------------
    Case("forecast season outside the config", forecast("2030", "2030-08-01"),
         "{run_dir}/config_resolved.yaml: forecast: season 2030 is outside 2009-2025"),
    Case("forecast init date not a date", forecast("2011", "2011-13-01"),
         "init_date: '2011-13-01' is not a date in YYYY-MM-DD form"),
    Case("forecast on 29 February", forecast("2008", "2008-02-29"),
         "init_date: 2008-02-29: '02-29' is not a valid month-day: day is out of range for month"),
    Case("forecast date in another season", forecast("2011", "2010-08-01"),
         "init_date: 2010-08-01 is not in season 2011 (the season is its calendar year)"),
    Case("forecast before the season's first data", forecast("2011", "2011-01-01"),
         RI + ": inputs.indices: no value of season 2011 dated before 2011-01-01 (its first value is dated "
             "2011-01-31); nothing to forecast from"),
    # -- run_dirs changed after they were written ---------------------------------------------------
    Case("a fold's model swapped for production's", _swapped_model,
         "{run_dir}/models/corn_usa/2010/model.txt: sha256 differs from {run_dir}/manifest.json; this run_dir was "
         "changed after it was written"),
    Case("a garbage parquet in a run_dir", _garbage_preds,
         "{run_dir}/preds/corn_usa/2010/walk_forward_preds.parquet: sha256 differs from {run_dir}/manifest.json; "
         "this run_dir was changed after it was written"),
    Case("a truncated manifest", _truncated_manifest,
         "{run_dir}/manifest.json: unreadable (Unterminated string starting at: line 5 column 3 (char 56)); the "
         "run_dir's record is damaged, so nothing in it can be verified or used"),
    Case("a file the manifest never recorded", _unrecorded_file,
         "{run_dir}/models/corn_usa/2010/model_card.json: not recorded in {run_dir}/manifest.json; a "
         "file no finished stage wrote is never used"),
    Case("resume a run_dir with a folder linked elsewhere", _linked_reports,
         "{run_dir}/reports: is a symbolic link inside run_dir {run_dir}; writes never follow links out of a "
         "run_dir: replace it with a folder of its own"),
    Case("resume after an input changed", _input_changed_since,
         "{run_input}/" + YIELDS + " (inputs.yields): changed since run_dir {run_dir} was made (sha256 differs from "
         "its manifest.json); re-making its artefacts there would mix data: make a new run_dir with `hindcast run "
         "hindcast --config {run_dir}/config_resolved.yaml` (or your edited config)"),
    Case("forecast into a folder that is no run_dir",
         lambda env: ["run", "forecast", "--run-dir", str(env.tmp), "--season-year", "2011", "--init-date",
                      "2011-08-01"],
         "{tmp}/config_resolved.yaml: no config_resolved.yaml; is {tmp} a run_dir?"),
    Case("backfill month-day impossible",
         lambda env: ["backfill", "forecast", "--run-dir", str(env.run_dir), "--season-years", "2011",
                      "--init-dates", "02-29"],
         "'02-29' is not a valid month-day: day is out of range for month"),
    Case("resume a folder that is no run_dir", lambda env: ["resume", str(env.tmp)],
         "{tmp}/config_resolved.yaml: no config_resolved.yaml; is {tmp} a run_dir?"),
    Case("show a folder that is no run_dir", lambda env: ["show", str(env.tmp)],
         "{tmp}/config_resolved.yaml: no config_resolved.yaml; is {tmp} a run_dir?"),
    # -- the model lifecycle --------------------------------------------------------------------------
    Case("champion of an experiment with none", lambda env: ["champion", "--config", str(env.config)],
         "corn_usa: no champion in the MLflow registry yet; "
         "`hindcast run hindcast --config ...` makes the first"),
    Case("promote with an empty reason", lambda env: ["promote", str(env.run_dir), "--reason", " "],
         "promote: --reason: say why this run_dir is signed off (it is recorded)"),
    Case("promote an incomplete run_dir", _incomplete,
         "{run_dir}/manifest.json: job: only a complete hindcast run_dir can be promoted (complete it with "
         "`hindcast resume {run_dir}`)"),
]


def _mlflow_runs() -> int:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    return sum(len(client.search_runs([e.experiment_id])) for e in client.search_experiments())


@pytest.fixture
def env(small_hindcast, small_config, input_dir, tmp_path) -> Env:
    run_dir = tmp_path / "run"
    shutil.copytree(str(small_hindcast.root), run_dir, ignore=shutil.ignore_patterns("forecast"))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return Env(input_dir, scratch, run_dir, small_config, Path(str(small_hindcast.root)).parents[1] / "input")


def _files(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_bad_input_is_one_line_exit_2_and_nothing_written(case, env, capsys):
    argv = case.argv(env)
    before = _files(env.run_dir)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err == f"hindcast: error: {case.message(env)}\n"
    assert not (env.tmp / "runs").exists() and _files(env.run_dir) == before
    instance = DagsterInstance.get()
    assert not instance.get_runs() and not instance.get_dynamic_partitions("corn_usa__init_date")
    assert _mlflow_runs() == 0


def render_doc() -> str:
    """docs/bad_inputs.md: every case above with the line a user reads (paths as placeholders)."""
    names = {"input": "<INPUT_DATA_DIR>", "tmp": "<dir>", "run_dir": "<run_dir>", "config": "<config>",
             "run_input": "<INPUT_DATA_DIR>"}
    rows = [f"| {i} | {c.name} | `hindcast: error: {c.expected.format(**names)}` |" for i, c in enumerate(CASES, 1)]
    return "\n".join([
        "# Bad input: what the user reads",
        "",
        "Every row is a test (`hindcast_assets_tests/test_bad_inputs.py`, which also renders this page:",
        "`python -m hindcast_assets_tests.test_bad_inputs > docs/bad_inputs.md`). Each gives exactly this one",
        "line on stderr, exit code 2, and writes nothing: no run_dir, no forecast, no Dagster run or",
        "partition, no MLflow run. Inputs are checked when the config loads and in the preflight, before",
        "anything is minted; forecasts are checked before their init date is registered as a partition.",
        "",
        "## The inputs' rules",
        "",
        "Each input is held to its schema, declared once in `hindcast_assets/core/input_schema.py` and",
        "rendered here; the CLI preflight and the inputs' blocking asset checks in the UI both apply it.",
        "Dated values are also held to the dating rule (`core/dating.py`), and the rules between inputs",
        "and the config (`core/preflight.py`) follow: the first test season leaves `detrend.min_seasons`",
        "training seasons, every test season has area among the included geos, every included geo has its",
        "features for each season it has a yield in (or `features.fill_gaps: true`, the report lists them).",
        "",
        schema_markdown(),
        "## Every case",
        "",
        "| # | case | stderr |",
        "|---|---|---|",
        *rows,
        "",
        *_bad_pull_lines(),
    ])


def _bad_pull_lines() -> list[str]:
    from hindcast_assets_tests.test_ingest import BAD_PULLS

    return ["## Bad pulls",
            "",
            "`hindcast ingest noaa` checks a pulled file before it keeps it, and the input it assembles by the",
            "rules above before it makes it current. Every row is a test (`hindcast_assets_tests/test_ingest.py`,",
            "against a loopback server publishing NOAA's own format): one line on stderr that contains the text",
            "shown, exit code 2, nothing of the bad pull kept, and the last good input still current.",
            "",
            "| # | case | the line says |",
            "|---|---|---|",
            *(f"| {i} | {c.name} | `{c.says}` |" for i, c in enumerate(BAD_PULLS, 1)),
            ""]


def test_the_docs_list_every_case_with_its_message():
    assert DOC.read_text() == render_doc(), "re-render: python -m hindcast_assets_tests.test_bad_inputs"


if __name__ == "__main__":
    print(render_doc(), end="")
