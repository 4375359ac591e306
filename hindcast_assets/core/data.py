"""Load an experiment's inputs under canonical column names, refusing bad input with one clear message.

Canonical names: yields `geo_id, season_year, target, area`; indices `geo_id, date, variable, value`;
static features `geo_id, season_year, <feature columns>`.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem
import pandas as pd

from hindcast_assets.core.errors import UserError
from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import agronomy, dating
from hindcast_assets.core.parquet import read_parquet, release_arrow_memory
from hindcast_assets.core.input_schema import OUTLIER_FACTOR, SCHEMAS, Kind, Resolved, config_value, resolve
from hindcast_assets.core.rundir import content_hash


class InputError(UserError, ValueError):
    """Bad input data; the message names the file and the field."""


@dataclass(frozen=True, eq=False)
class ExperimentData:
    """Validated inputs. Shared by every stage of a process (see `load_experiment_data`): treat
    the frames as read-only. `derived` memoises what is computed from them (e.g. the season
    feature table), living and dying with the data it came from."""

    yields: pd.DataFrame
    indices: pd.DataFrame | None = None  # every geo's predictor rows: its indices, the regional series' (with_regional)
    static: pd.DataFrame | None = None
    derived: dict = field(default_factory=dict, repr=False)


def _read(url: str, what: str, text: tuple[str, ...] = ()) -> pd.DataFrame:
    """The file at `url`; `text`: columns a CSV keeps as text (geo ids: "01001" stays "01001")."""
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        raise InputError(f"{url}: inputs.{what}: file not found")
    if fs.isdir(path):
        raise InputError(f"{url}: inputs.{what}: is a folder, not a file")
    try:
        if url.endswith(".csv"):
            return pd.read_csv(url, dtype={c: str for c in text})
        return read_parquet(url)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the same user error
        raise InputError(f"{url}: inputs.{what}: cannot read ({exc})") from None


def _at(rows: pd.DataFrame, keys: list[str]) -> str:
    """Where the first of `rows` is, by its keys (each in its own dtype: a year stays 1953)."""
    return ", ".join(f"{k}={rows[k].iloc[0]}" for k in keys)


def _geo_ids(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> pd.Series:
    """Text (a number has lost any leading zero: FIPS 01001 read as 1001), and never
    blank-padded ("US-19 " would match nothing, silently). Checked on the distinct ids: a county
    indices table repeats each a few thousand times."""
    ids = df[c.canonical]
    codes, distinct = pd.factorize(ids)
    if (not (pd.api.types.is_string_dtype(ids) or ids.dtype == object) or (codes < 0).any()
            or not all(type(i) is str for i in distinct)):
        raise InputError(f"{url}: column {c.column!r} ({c.key}) must hold text, found {ids.dtype}: a number "
                         "loses leading zeros (FIPS 01001 becomes 1001); store the ids as strings")
    blank = np.flatnonzero((distinct != distinct.str.strip()) | (distinct == ""))
    if len(blank):
        padded = ids[np.isin(codes, blank)]
        raise InputError(f"{url}: column {c.column!r} ({c.key}) holds {padded.iloc[0]!r} at row "
                         f"{padded.index[0]}, blank or with leading or trailing blanks ({len(padded)} rows); "
                         "geo ids are matched exactly across inputs, so none is stripped: fix the file")
    return ids


def _years(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> pd.Series:
    if not pd.api.types.is_integer_dtype(df[c.canonical]):
        raise InputError(f"{url}: column {c.column!r} ({c.key}) must hold whole years")
    return df[c.canonical]


def _dates(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> pd.Series:
    """Calendar dates (naive, as the as-of cut compares them with a season's dates)."""
    try:
        dates = pd.to_datetime(df[c.canonical], format="ISO8601")
    except (ValueError, TypeError) as exc:
        what = str(exc).splitlines()[0].split(". You might")[0]  # pandas appends advice to the cause
        raise InputError(f"{url}: column {c.column!r} ({c.key}) holds a bad date ({what})") from None
    if dates.dt.tz is not None:
        raise InputError(f"{url}: column {c.column!r} ({c.key}) holds dates with a time zone ({dates.dt.tz}); "
                         "give plain calendar dates (YYYY-MM-DD), the day a value's period ends")
    return dates.astype("datetime64[ns]")


def _numbers(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> pd.Series:
    """Numeric and never +-inf (NaN is a missing value, ruled on where it matters)."""
    values = df[c.canonical]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise InputError(f"{url}: column {c.column!r} ({c.key}) must hold numbers, found {values.dtype}")
    infinite = df[np.isinf(values.to_numpy(float))]
    if not infinite.empty:
        raise InputError(f"{url}: column {c.column!r} ({c.key}) is not finite at {_at(infinite, keys)} "
                         f"({len(infinite)} rows)")
    return values


def _labels(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> pd.Series:
    """Text, missing where missing (made on the distinct values: a variable name repeats per row)."""
    values = df[c.canonical]
    codes, distinct = pd.factorize(values)
    text = distinct.astype(str).to_numpy(object).take(codes)
    return values.where(codes < 0, pd.Series(text, index=values.index))


def _month_days(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> pd.Series:
    values = df[c.canonical].astype(str)
    valid = pd.to_datetime("2000-" + values, format="%Y-%m-%d", errors="coerce").notna() & values.str.len().eq(5)
    if not valid.all():
        bad = values[~valid]
        raise InputError(f"{url}: column {c.column!r} ({c.key}) holds {bad.iloc[0]!r} at row {bad.index[0]}, "
                         f"not a month-day MM-DD ({len(bad)} rows)")
    return values


def _flags(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> pd.Series:
    flag = df[c.canonical]
    if not (pd.api.types.is_bool_dtype(flag) or flag.dropna().isin([0, 1]).all()):
        raise InputError(f"{url}: column {c.column!r} ({c.key}) must hold true/false or 1/0, "
                         f"found {sorted(map(str, flag.dropna().unique()))[:5]}")
    return flag


KIND_RULES = {Kind.GEO_ID: _geo_ids, Kind.YEAR: _years, Kind.DATE: _dates, Kind.NUMBER: _numbers,
              Kind.LABEL: _labels, Kind.MONTH_DAY: _month_days, Kind.FLAG: _flags}


def _no_duplicates(df: pd.DataFrame, url: str, keys: list[str]) -> None:
    dup = df[df.duplicated(keys, keep=False)]
    if not dup.empty:
        raise InputError(f"{url}: duplicate {' x '.join(keys)}: {len(dup)} rows, first at {_at(dup, keys)}")


def _non_negative(df: pd.DataFrame, url: str, c: Resolved, keys: list[str]) -> None:
    negative = df[df[c.canonical] < 0]
    if not negative.empty:
        raise InputError(f"{url}: column {c.column!r} ({c.key}) is negative at {_at(negative, keys)}")


def _plausible(df: pd.DataFrame, url: str, c: Resolved) -> None:
    """No value above OUTLIER_FACTOR x its geo's median: a yield of 1e9 (or kg/ha among bu/ac)
    would otherwise train and score as if real. Yields vary about 5x over a century of trend."""
    median = df.groupby("geo_id")[c.canonical].transform("median")
    wild = df[df[c.canonical] > OUTLIER_FACTOR * median]
    if not wild.empty:
        row = wild.iloc[0]
        raise InputError(f"{url}: column {c.column!r} ({c.key}) is {row[c.canonical]:g} at geo_id={row.geo_id}, "
                         f"season_year={row.season_year}: more than {OUTLIER_FACTOR:g} times the geo's median "
                         f"({median[wild.index[0]]:g}); an entry or unit error? ({len(wild)} rows)")


def _conformed(cfg: ExperimentConfig, name: str) -> pd.DataFrame:
    """Input `name` read and held to its schema (core/input_schema.py), under canonical names: its
    columns present, each holding what its kind says, its keys unique, its ranges kept."""
    schema, url = SCHEMAS[name], getattr(cfg.inputs, name)
    text = tuple(config_value(cfg, c.key) for c in schema.columns if c.kind is Kind.GEO_ID)
    raw = _read(url, name, text)
    columns = resolve(schema, cfg, set(raw.columns))
    for c in columns:
        if c.column not in raw.columns:
            raise InputError(f"{url}: column {c.column!r} ({c.key}) is missing; found {sorted(raw.columns)}")
    df = pd.DataFrame({c.canonical: raw[c.column] for c in columns})  # one copy: a county indices table is GBs
    del raw
    release_arrow_memory()  # the file's numeric columns were arrow's buffers
    keys = [k for k in schema.keys if k in df.columns]
    for c in columns:
        df[c.canonical] = KIND_RULES[c.spec.kind](df, url, c, keys)
    _no_duplicates(df, url, keys)
    for c in columns:
        if c.spec.non_negative:
            _non_negative(df, url, c, keys)
        if c.canonical == schema.per_geo_outliers:
            _plausible(df, url, c)
    return df


def _canonical_yields(cfg: ExperimentConfig) -> pd.DataFrame:
    """Every yields row under canonical names, checked; `area` NaN where the config has none,
    and `qc_excluded`: why the QC rule excludes the row ('' where it does not)."""
    df = _conformed(cfg, "yields")
    df = df if cfg.columns.area else df.assign(area=np.nan)
    if cfg.inputs.weights:
        df = df.assign(area=_weights_of(df, load_weights(cfg), cfg.inputs.weights))
    return df.assign(qc_excluded=_qc_reasons(cfg, df)).drop(columns=["qc_flag", "geo_name"], errors="ignore")


def geo_names(cfg: ExperimentConfig) -> dict[str, str]:
    """Each geo's name from the yields' `columns.geo_name` (the geo id where there is none), for
    what a reader sees; a geo with two names is an error naming the file, the column and the geo.
    Memoised as the inputs are (`load_input`): every report and forecast page asks."""
    url = cfg.inputs.yields
    key = (url, cfg.columns.model_dump_json(), _signature(url))
    return _remember(_NAMES, key, lambda: _geo_names(cfg), _KEEP)


def _geo_names(cfg: ExperimentConfig) -> dict[str, str]:
    yields = _conformed(cfg, "yields")
    if "geo_name" not in yields.columns:
        return {g: g for g in yields["geo_id"].unique()}
    names = yields[["geo_id", "geo_name"]].dropna().drop_duplicates()
    twice = names[names["geo_id"].duplicated()]
    if not twice.empty:
        geo = twice["geo_id"].iloc[0]
        raise InputError(f"{cfg.inputs.yields}: column {cfg.columns.geo_name!r} (columns.geo_name) names geo {geo!r} "
                         f"{sorted(names.loc[names['geo_id'] == geo, 'geo_name'])}; one name per geo")
    named = names.set_index("geo_id")["geo_name"]
    return {g: named.get(g, g) for g in yields["geo_id"].unique()}


def load_weights(cfg: ExperimentConfig) -> pd.DataFrame | None:
    """Geo weights for national figures (`geo_id[, season_year], weight`) when the yields have no
    area column: production shares, say. Without `season_year` a geo weighs the same every season."""
    return None if cfg.inputs.weights is None else _conformed(cfg, "weights")


def _weight_keys(weights: pd.DataFrame) -> list[str]:
    """What a weight is given per: the geo, and the season where the table has one."""
    return [k for k in SCHEMAS["weights"].keys if k in weights.columns]


def _weights_of(yields: pd.DataFrame, weights: pd.DataFrame, url: str) -> np.ndarray:
    """Each yields row's weight; a row with none is an error naming the first such geo-season."""
    keys = _weight_keys(weights)
    got = yields[["geo_id", "season_year"]].merge(weights, on=keys, how="left")["weight"]
    if got.isna().any():
        row = yields[got.isna().to_numpy()].iloc[0]
        raise InputError(f"{url}: column 'weight' (inputs.weights) has no row for geo_id={row.geo_id}"
                         + (f", season_year={row.season_year}" if "season_year" in keys else "")
                         + f" ({int(got.isna().sum())} yields rows without a weight)")
    return got.to_numpy(float)


def _qc_reasons(cfg: ExperimentConfig, df: pd.DataFrame) -> pd.Series:
    """Per row, which part of the QC rule excludes it ('' where none does)."""
    qc, reasons = cfg.qc, pd.Series("", index=df.index)
    if qc.column:
        reasons = reasons.mask(df["qc_flag"].fillna(False).astype(bool), f"{qc.column} is true")
    reasons = reasons.mask(reasons.eq("") & df["season_year"].isin(qc.seasons), "qc.seasons")
    return reasons.mask(reasons.eq("") & df["geo_id"].isin(qc.geos), "qc.geos")


def load_yields(cfg: ExperimentConfig) -> pd.DataFrame:
    """The yields rows the experiment trains and scores on: the QC rule's exclusions dropped, and
    then no NaN target (nor area) in a training season."""
    url = cfg.inputs.yields
    all_rows = _canonical_yields(cfg)
    df = all_rows[all_rows["qc_excluded"].eq("")].drop(columns="qc_excluded")
    if cfg.qc.active:
        tested = set(df["season_year"])
        emptied = [y for y in cfg.hindcast.test_years if y not in tested and y in set(all_rows["season_year"])]
        if emptied:
            raise InputError(f"{url}: qc: the rule excludes every row of test season {emptied[0]}; "
                             "a fold needs its test season's rows")
    for c in (c for c in resolve(SCHEMAS["yields"], cfg, set()) if c.spec.trained_on):
        missing = df[df[c.canonical].isna() & (df["season_year"] <= cfg.hindcast.last_test_year)]
        if not missing.empty:
            raise InputError(f"{url}: column {c.column!r} ({c.key}) is NaN in a training season at "
                             f"{_at(missing, list(SCHEMAS['yields'].keys))} ({len(missing)} rows)")
    return df.sort_values(["geo_id", "season_year"]).reset_index(drop=True)


def qc_excluded(cfg: ExperimentConfig) -> pd.DataFrame:
    """The yields rows the QC rule excludes (`geo_id, season_year, target, reason`), for the report."""
    if not cfg.qc.active:
        return pd.DataFrame({"geo_id": pd.Series(dtype=str), "season_year": pd.Series(dtype="int64"),
                             "target": pd.Series(dtype=float), "reason": pd.Series(dtype=str)})
    rows = _canonical_yields(cfg)
    rows = rows[rows["qc_excluded"].ne("")].rename(columns={"qc_excluded": "reason"})
    return rows[["geo_id", "season_year", "target", "reason"]].sort_values(["season_year", "geo_id"]).reset_index(drop=True)


def _series(cfg: ExperimentConfig, what: str) -> pd.DataFrame:
    """A dated input (`indices`, `regional`) held to its schema and to the dating rule
    (core/dating.py): converted to period-end dates where `columns.date_marks` says so."""
    url, c = getattr(cfg.inputs, what), cfg.columns
    df = _conformed(cfg, what)
    where = list(SCHEMAS[what].keys)
    marks = c.date_marks.get(what, dating.PERIOD_END)
    wrong = dating.misdated(df, marks, f"columns.date_marks: {{{what}: {dating.PERIOD_START}}}")
    if wrong:
        raise InputError(f"{url}: column {c.date!r} (columns.date): variable {wrong[0]!r} {wrong[1]}")
    if marks == dating.PERIOD_START:
        df = dating.to_period_ends(df)
        _no_duplicates(df, url, where)
    return df


def _needed(df: pd.DataFrame, url: str, c, needed: dict[str, list[str]]) -> None:
    present = set(df["variable"].unique())
    for field, variables in needed.items():
        unknown = sorted(set(variables) - present)
        if unknown:
            raise InputError(f"{url}: column {c.variable!r} ({field}) has no rows for {unknown}")


def load_indices(cfg: ExperimentConfig) -> pd.DataFrame | None:
    if cfg.inputs.indices is None:
        return None
    df = _series(cfg, "indices")
    f = cfg.features
    _needed(df, cfg.inputs.indices, cfg.columns, {"features.variables": f.variables,
                                                  "features.preseason": f.preseason,
                                                  "features.derived": sorted(agronomy.sources(f.derived))})
    return df


def load_regional(cfg: ExperimentConfig) -> pd.DataFrame | None:
    """A region-wide series (`date, variable, value`): one value per date and variable that
    applies to every geo of `features.regional.geos` (default all; see `with_regional`). A listed
    geo the yields do not have, or a used variable the indices also hold, is an error."""
    url = cfg.inputs.regional
    if url is None:
        return None
    df = _series(cfg, "regional")
    _needed(df, url, cfg.columns, {"features.regional.variables": cfg.features.regional.variables})
    listed, known = cfg.features.regional.geos, set(load_input(cfg, "yields")["geo_id"])
    unknown = [g for g in listed if g not in known]
    if unknown:
        raise InputError(f"{url}: features.regional.geos: {unknown[0]!r} has no row in {cfg.inputs.yields} "
                         f"({len(unknown)} of {len(listed)} listed geos unknown)")
    indices = load_input(cfg, "indices")
    clash = sorted(set(cfg.features.regional.variables) & set(indices["variable"] if indices is not None else ()))
    if clash:
        raise InputError(f"{url}: column {cfg.columns.variable!r} (features.regional.variables): {clash} are also "
                         f"variables of {cfg.inputs.indices}; a geo would get two series under one name")
    return df


def with_regional(cfg: ExperimentConfig, yields: pd.DataFrame, indices: pd.DataFrame,
                  regional: pd.DataFrame | None) -> pd.DataFrame:
    """The predictor rows of every geo: its own indices, and the regional series' rows repeated
    for each geo it applies to, so the as-of cut, a forecast's `indices.zarr` and the features
    treat both alike."""
    if regional is None:
        return indices
    geos = sorted(cfg.features.regional.geos or set(yields["geo_id"]))
    rows = regional[regional["variable"].isin(cfg.features.regional.variables)]
    repeated = rows.loc[rows.index.repeat(len(geos))].assign(geo_id=geos * len(rows))
    return pd.concat([indices, repeated[indices.columns.intersection(repeated.columns)]], ignore_index=True)


def load_static(cfg: ExperimentConfig) -> pd.DataFrame | None:
    return None if cfg.inputs.static_features is None else _conformed(cfg, "static_features")


_FRAMES: OrderedDict[tuple, pd.DataFrame | None] = OrderedDict()
_LOADED: OrderedDict[tuple, ExperimentData] = OrderedDict()
_NAMES: OrderedDict[tuple, dict[str, str]] = OrderedDict()
_KEEP = 2  # experiments' inputs kept per process


def _signature(url: str | None) -> tuple | None:
    """What identifies a file's content without reading it: size, mtime (ns) and inode locally;
    size and etag or mtime elsewhere. A rewritten input gets a new signature."""
    if url is None:
        return None
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        return (url, "missing")
    if isinstance(fs, LocalFileSystem):
        st = os.stat(path)
        return (url, st.st_size, st.st_mtime_ns, st.st_ino)
    info = fs.info(path)
    return (url, info.get("size"), str(info.get("ETag") or info.get("etag") or info.get("mtime")
                                       or info.get("LastModified")))


def _remember(cache: OrderedDict, key: tuple, make, keep: int):
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = make()
    while len(cache) > keep:
        cache.popitem(last=False)
    return value


_READS_TOO = {"yields": ("weights",), "regional": ("yields", "indices")}  # what a loader checks its input against


def load_input(cfg: ExperimentConfig, name: str) -> pd.DataFrame | None:
    """One validated input (`yields`, `indices`, `static_features`, `references`).

    Memoised per process on the config's input fields and the file's signature: in a run every
    asset opens the run_dir afresh, and re-reading and re-validating a county-scale indices table
    (7 M rows) per asset cost more than the orchestration itself (benchmarks/README.md)."""
    url = getattr(cfg.inputs, name)
    also = [getattr(cfg.inputs, other) for other in _READS_TOO.get(name, ())]
    key = (name, url, cfg.inputs.model_dump_json(), cfg.columns.model_dump_json(), cfg.features.model_dump_json(),
           cfg.qc.model_dump_json(), cfg.hindcast.last_test_year, _signature(url), *map(_signature, also))
    return _remember(_FRAMES, key, lambda: LOADERS[name](cfg), 4 * _KEEP)


def load_experiment_data(cfg: ExperimentConfig) -> ExperimentData:
    """All inputs of an experiment but references, validated (the preflight's data half); the
    same object for the same frames, so what is derived from them is computed once."""
    frames = [load_input(cfg, name) for name in ("yields", "indices", "static_features", "regional")]

    def make() -> ExperimentData:
        yields, indices, static, regional = frames
        predictors = with_regional(cfg, yields, indices, regional) if indices is not None else None
        return ExperimentData(yields, predictors, static)

    return _remember(_LOADED, tuple(id(f) for f in frames), make, _KEEP)


def load_references(cfg: ExperimentConfig) -> pd.DataFrame | None:
    """Official national figures per season (`season_year, reference`), for evaluation only."""
    url = cfg.inputs.references
    if url is None:
        return None
    if cfg.columns.reference_target is None:
        raise InputError(f"{url}: columns.reference_target: needed to read inputs.references")
    return _conformed(cfg, "references")


def load_yardstick(cfg: ExperimentConfig) -> pd.DataFrame | None:
    """Another forecaster's national forecasts (`season_year, init_md, forecast`), scored beside
    ours at the same init month-days (data/us_state_corn/SOURCE.md: USDA's)."""
    return None if cfg.inputs.yardstick is None else _conformed(cfg, "yardstick")


LOADERS = {"yields": load_yields, "indices": load_indices, "static_features": load_static,
           "references": load_references, "yardstick": load_yardstick, "weights": load_weights,
           "regional": load_regional}  # by their key under `inputs:`


def scored_seasons(yields: pd.DataFrame) -> list[int]:
    """Seasons with at least one final yield (a target), ascending."""
    return sorted(int(y) for y in yields.loc[yields["target"].notna(), "season_year"].unique())


def configured_inputs(cfg: ExperimentConfig) -> dict[str, str]:
    """Input name -> file URL, for the inputs the config names."""
    return {name: url for name, url in cfg.inputs.model_dump().items() if url}


def file_version(url: str) -> str:
    """The sha256 of an input file's content ('missing' if it is not there): its data version in
    the UI and its entry in a run_dir's manifest."""
    fs, path = fsspec.core.url_to_fs(url)
    return content_hash(fs.cat_file(path)) if fs.exists(path) else "missing"


def input_problem(cfg: ExperimentConfig, name: str) -> str | None:
    """Why input `name` cannot be used (the message a user gets), or None: the one validation
    behind the CLI preflight and the inputs' blocking asset checks."""
    try:
        load_input(cfg, name)
    except InputError as exc:
        return str(exc)
    return None
