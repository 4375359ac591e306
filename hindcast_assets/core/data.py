"""Load an experiment's inputs under canonical column names, refusing bad input with one clear message.

Canonical names: yields `geo_id, season_year, target, area`; indices `geo_id, date, variable, value`;
static features `geo_id, season_year, <feature columns>`.
"""
from __future__ import annotations

from dataclasses import dataclass

import fsspec
import pandas as pd

from hindcast_assets.config import ExperimentConfig


class InputError(ValueError):
    """Bad input data; the message names the file and the field."""


@dataclass(frozen=True)
class ExperimentData:
    yields: pd.DataFrame
    indices: pd.DataFrame | None = None
    static: pd.DataFrame | None = None


def _read(url: str, what: str) -> pd.DataFrame:
    fs, path = fsspec.core.url_to_fs(url)
    if not fs.exists(path):
        raise InputError(f"{url}: inputs.{what}: file not found")
    reader = pd.read_csv if url.endswith(".csv") else pd.read_parquet
    try:
        return reader(url)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the same user error
        raise InputError(f"{url}: inputs.{what}: cannot read ({exc})") from None


def _require(df: pd.DataFrame, url: str, mapping: dict[str, str]) -> pd.DataFrame:
    """Rename configured columns to canonical ones; a missing column names its config key."""
    for canonical, (column, key) in mapping.items():
        if column not in df.columns:
            raise InputError(f"{url}: column {column!r} ({key}) is missing; found {sorted(df.columns)}")
    return df.rename(columns={column: canonical for canonical, (column, _) in mapping.items()})


def _no_duplicates(df: pd.DataFrame, url: str, keys: list[str]) -> None:
    dup = df[df.duplicated(keys, keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        where = ", ".join(f"{k}={first[k]}" for k in keys)
        raise InputError(f"{url}: duplicate {' x '.join(keys)}: {len(dup)} rows, first at {where}")


def load_yields(cfg: ExperimentConfig) -> pd.DataFrame:
    url, c = cfg.inputs.yields, cfg.columns
    df = _require(_read(url, "yields"), url, {
        "geo_id": (c.geo_id, "columns.geo_id"), "season_year": (c.season_year, "columns.season_year"),
        "target": (c.target, "columns.target"), "area": (c.area, "columns.area")})
    df = df[["geo_id", "season_year", "target", "area"]].copy()
    df["geo_id"] = df["geo_id"].astype(str)
    if not pd.api.types.is_integer_dtype(df["season_year"]):
        raise InputError(f"{url}: column {c.season_year!r} (columns.season_year) must hold whole years")
    _no_duplicates(df, url, ["geo_id", "season_year"])
    negative = df[df["area"] < 0]
    if not negative.empty:
        row = negative.iloc[0]
        raise InputError(f"{url}: column {c.area!r} (columns.area) is negative at "
                         f"geo_id={row.geo_id}, season_year={row.season_year}")
    missing = df[df["target"].isna() & (df["season_year"] <= cfg.hindcast.last_test_year)]
    if not missing.empty:
        row = missing.iloc[0]
        raise InputError(f"{url}: column {c.target!r} (columns.target) is NaN in a training season at "
                         f"geo_id={row.geo_id}, season_year={row.season_year} ({len(missing)} rows)")
    return df.sort_values(["geo_id", "season_year"]).reset_index(drop=True)


def load_indices(cfg: ExperimentConfig) -> pd.DataFrame | None:
    url, c = cfg.inputs.indices, cfg.columns
    if url is None:
        return None
    df = _require(_read(url, "indices"), url, {
        "geo_id": (c.geo_id, "columns.geo_id"), "date": (c.date, "columns.date"),
        "variable": (c.variable, "columns.variable"), "value": (c.value, "columns.value")})
    df = df[["geo_id", "date", "variable", "value"]].copy()
    df["geo_id"] = df["geo_id"].astype(str)
    try:
        df["date"] = pd.to_datetime(df["date"], format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InputError(f"{url}: column {c.date!r} (columns.date) holds a bad date ({exc})") from None
    _no_duplicates(df, url, ["geo_id", "date", "variable"])
    unknown = sorted(set(cfg.features.variables) - set(df["variable"].unique()))
    if unknown:
        raise InputError(f"{url}: column {c.variable!r} (features.variables) has no rows for {unknown}")
    return df


def load_static(cfg: ExperimentConfig) -> pd.DataFrame | None:
    url, c = cfg.inputs.static_features, cfg.columns
    if url is None:
        return None
    mapping = {"geo_id": (c.geo_id, "columns.geo_id"), "season_year": (c.season_year, "columns.season_year")}
    mapping |= {name: (name, "features.static") for name in cfg.features.static}
    df = _require(_read(url, "static_features"), url, mapping)
    df = df[["geo_id", "season_year", *cfg.features.static]].copy()
    df["geo_id"] = df["geo_id"].astype(str)
    _no_duplicates(df, url, ["geo_id", "season_year"])
    return df


def load_experiment_data(cfg: ExperimentConfig) -> ExperimentData:
    """All inputs of an experiment, validated (this is the preflight's data half)."""
    return ExperimentData(yields=load_yields(cfg), indices=load_indices(cfg), static=load_static(cfg))


def load_references(cfg: ExperimentConfig) -> pd.DataFrame | None:
    """Official national figures per season (`season_year, reference`), for evaluation only."""
    url, c = cfg.inputs.references, cfg.columns
    if url is None:
        return None
    if c.reference_target is None:
        raise InputError(f"{url}: columns.reference_target: needed to read inputs.references")
    df = _require(_read(url, "references"), url, {
        "season_year": (c.season_year, "columns.season_year"),
        "reference": (c.reference_target, "columns.reference_target")})
    _no_duplicates(df, url, ["season_year"])
    return df[["season_year", "reference"]]
