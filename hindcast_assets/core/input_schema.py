"""Each input's schema, declared once: its columns (as the config names them), what each holds,
its keys and its ranges. `core/data.py` checks every file against its schema (`conform`), the
CLI preflight and the inputs' blocking asset checks both go through it, and docs/bad_inputs.md
renders the tables from it (`schema_markdown`).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Kind(str, Enum):
    """What a column holds, and so which rule checks it."""

    GEO_ID = "geo id: text, no blank at either end"  # matched exactly across inputs; a number loses leading zeros
    YEAR = "whole number"
    DATE = "calendar date, no time zone"
    NUMBER = "number, never +-inf (empty = missing)"
    LABEL = "text"
    MONTH_DAY = "month-day MM-DD"
    FLAG = "true/false or 1/0"


@dataclass(frozen=True)
class Column:
    """One column. The file's name for it is the config's value at `key` (`columns.target` ->
    'yield_bu_per_acre'), or `name` where it is fixed; a key whose value is empty (no
    `columns.area`) leaves the column out. `listed`: one column per name the key lists."""

    canonical: str
    key: str
    kind: Kind
    name: str | None = None
    non_negative: bool = False  # an area, weight or yield below 0 would flip a figure's sign
    trained_on: bool = False  # never empty in a season up to hindcast.last_test_year (a fold trains on it)
    if_present: bool = False  # used where the file has it
    listed: bool = False


@dataclass(frozen=True)
class InputSchema:
    name: str  # its key under `inputs:`
    columns: tuple[Column, ...]
    keys: tuple[str, ...]  # unique together (those the file has)
    per_geo_outliers: str | None = None  # held to the outlier rule (OUTLIER_FACTOR x its geo's median)
    description: str = ""


OUTLIER_FACTOR = 10.0  # a target this many times its geo's median is an entry or unit error, not a season

GEO = Column("geo_id", "columns.geo_id", Kind.GEO_ID)
SEASON = Column("season_year", "columns.season_year", Kind.YEAR)
DATED = (Column("date", "columns.date", Kind.DATE), Column("variable", "columns.variable", Kind.LABEL),
         Column("value", "columns.value", Kind.NUMBER), Column("vintage", "columns.vintage", Kind.LABEL,
                                                               if_present=True))

SCHEMAS = {s.name: s for s in [
    InputSchema("yields", (GEO, SEASON, Column("target", "columns.target", Kind.NUMBER, non_negative=True,
                                               trained_on=True),
                           Column("area", "columns.area", Kind.NUMBER, non_negative=True, trained_on=True),
                           Column("qc_flag", "qc.column", Kind.FLAG),
                           Column("geo_name", "columns.geo_name", Kind.LABEL)),
                ("geo_id", "season_year"), per_geo_outliers="target",
                description="the target per geo and season, and its area where national figures weight by it"),
    InputSchema("indices", (GEO, *DATED), ("geo_id", "date", "variable"),
                description="dated values per geo (weather), dated at the end of the period they cover"),
    InputSchema("regional", DATED, ("date", "variable"),
                description="dated values for a whole region (crop condition), same dating rule"),
    InputSchema("static_features", (GEO, SEASON, Column("<each feature>", "features.static", Kind.NUMBER,
                                                        listed=True)),
                ("geo_id", "season_year"), description="per geo and season, known before the season starts"),
    InputSchema("references", (SEASON, Column("reference", "columns.reference_target", Kind.NUMBER,
                                              non_negative=True)),
                ("season_year",), description="an official national figure per season, for evaluation only"),
    InputSchema("yardstick", (SEASON, Column("init_md", "inputs.yardstick", Kind.MONTH_DAY, name="init_md"),
                              Column("forecast", "inputs.yardstick", Kind.NUMBER, name="forecast",
                                     non_negative=True)),
                ("season_year", "init_md"), description="another forecaster's national forecasts, scored beside ours"),
    InputSchema("weights", (GEO, Column("season_year", "columns.season_year", Kind.YEAR, if_present=True),
                            Column("weight", "inputs.weights", Kind.NUMBER, name="weight", non_negative=True)),
                ("geo_id", "season_year"), description="geo weights for national figures where the yields have no area"),
]}


def config_value(cfg: Any, key: str) -> Any:
    """The config's value at a dotted key (`columns.target`)."""
    value = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


@dataclass(frozen=True)
class Resolved:
    """A column as one config names it in one file."""

    canonical: str
    column: str
    key: str
    spec: Column


def resolve(schema: InputSchema, cfg: Any, present: set[str]) -> list[Resolved]:
    """The schema's columns this config uses, with their names in the file (`present`: its columns)."""
    out = []
    for spec in schema.columns:
        if spec.listed:
            out += [Resolved(name, name, spec.key, spec) for name in config_value(cfg, spec.key)]
            continue
        column = spec.name or config_value(cfg, spec.key)
        if column and not (spec.if_present and column not in present):
            out.append(Resolved(spec.canonical, column, spec.key, spec))
    return out


def schema_markdown() -> str:
    """One table per input: its columns, the config key naming each, what it holds, its rules."""
    parts = []
    for s in SCHEMAS.values():
        rows = [f"| `{c.canonical}` | `{c.key}`{f' (`{c.name}`)' if c.name else ''} | {c.kind.value} | "
                + "; ".join(filter(None, [
                    "≥ 0" if c.non_negative else "",
                    "never empty up to `hindcast.last_test_year`" if c.trained_on else "",
                    f"≤ {OUTLIER_FACTOR:g} × its geo's median" if c.canonical == s.per_geo_outliers else "",
                    "where the file has it" if c.if_present else "",
                    "one column per listed name" if c.listed else ""])) + " |" for c in s.columns]
        parts += [f"### `inputs.{s.name}`: {s.description}", "",
                  f"Unique: {' x '.join(s.keys)}.", "",
                  "| column | named by | holds | rules |", "|---|---|---|---|", *rows, ""]
    return "\n".join(parts)
