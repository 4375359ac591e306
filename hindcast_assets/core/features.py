"""Season features as known at a date: one function for the hindcast and (later) the forecast.

A value summarising a period is dated at the period's end, so a feature built as of day D of
season Y sees only values dated strictly before D. Nothing later can enter.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from hindcast_assets.config import ExperimentConfig, feature_columns
from hindcast_assets.core import agronomy
from hindcast_assets.core.data import ExperimentData
from hindcast_assets.core.feature_names import MONTH_NAMES, monthly_feature_names, preseason_feature_names
from hindcast_assets.core.season_dates import MonthDay

KEYS = ["geo_id", "season_year"]


PRESEASON_MONTHS = (10, 11, 12, 1, 2, 3, 4)  # October before the season to April: soil moisture at sowing


def season_rows(indices: pd.DataFrame, season: int) -> pd.DataFrame:
    """The indices rows a season's features may use: its year and the pre-season months before."""
    first = pd.Timestamp(season - 1, PRESEASON_MONTHS[0], 1)
    return indices[(indices["date"] >= first) & (indices["date"].dt.year <= season)]


def _cutoffs(seasons: Sequence[int], as_of: str) -> pd.Series:
    return pd.Series({s: pd.Timestamp(MonthDay.parse(as_of).in_season(s)) for s in seasons}, dtype="datetime64[ns]")


def monthly_features_as_of(indices: pd.DataFrame, seasons: Iterable[int], as_of: str,
                           variables: Sequence[str], months: Sequence[int], derived: Sequence[str] = ()) -> pd.DataFrame:
    """Wide frame `geo_id, season_year, <var>_<mon>...` from values dated before the as-of day,
    `derived` (core/agronomy.py) computed from each known month's values.

    A month's value is its latest one dated before the as-of day: a monthly series has one, dated
    at the month's end, so a month not yet ended is NaN (not known yet); a weekly one (a condition
    index) gives its last rating so far, the month's level as known on that day.
    """
    seasons = sorted(set(seasons))
    date = indices["date"]
    year, month = date.dt.year, date.dt.month
    # one mask, then one copy of the rows kept: at county scale the long indices are the largest
    # frame a run holds, and each filtering step copied it
    keep = (indices["variable"].isin(set(variables) | agronomy.sources(derived)) & year.isin(seasons)
            & month.isin(months)).to_numpy()
    maybe = np.flatnonzero(keep)
    keep[maybe] = date.to_numpy()[maybe] < year.iloc[maybe].map(_cutoffs(seasons, as_of)).to_numpy()
    rows = indices[keep].assign(season_year=year[keep], month=month[keep])
    if derived:  # without, the frame as before: this runs per fold and per forecast
        rows = pd.concat([rows[rows["variable"].isin(variables)], agronomy.derived_rows(rows, derived)],
                         ignore_index=True)
    cells = [*KEYS, "variable", "month"]
    if rows.duplicated(cells).any():  # several values in a month (a weekly index): the latest known
        rows = rows.sort_values("date").drop_duplicates(cells, keep="last")
    return _wide(rows, monthly_feature_names([*variables, *derived], months))


def _wide(rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`geo_id, season_year, <columns>` from long rows with one value per (geo, season, variable,
    month), the (geo, season) pairs sorted: `set_index(...).unstack(...)` as a dense array. The
    unstack's four-level index held 145 MB at 1,000 synthetic geos (benchmarks/README.md)."""
    if rows.empty:
        return pd.DataFrame({"geo_id": pd.Series(dtype=object), "season_year": rows["season_year"].iloc[:0],
                             **{c: pd.Series(dtype=float) for c in columns}})
    geo, geos = pd.factorize(rows["geo_id"], sort=True)
    season, seasons = pd.factorize(rows["season_year"], sort=True)
    pairs, pair = np.unique(geo.astype(np.int64) * len(seasons) + season, return_inverse=True)
    variable, variables = pd.factorize(rows["variable"])
    cells, cell = np.unique(variable.astype(np.int64) * 13 + rows["month"].to_numpy(), return_inverse=True)
    names = [f"{variables[c // 13]}_{MONTH_NAMES[c % 13 - 1]}" for c in cells]
    column = pd.Index(columns).get_indexer(names)[cell]  # -1: a month or variable not asked for
    values = np.full((len(pairs), len(columns)), np.nan)
    kept = column >= 0
    values[pair[kept], column[kept]] = rows["value"].to_numpy(float)[kept]
    keys = pd.DataFrame({"geo_id": geos.take(pairs // len(seasons)), "season_year": seasons.take(pairs % len(seasons))})
    return pd.concat([keys, pd.DataFrame(values, columns=columns)], axis=1)


def levels_as_of(indices: pd.DataFrame, seasons: Iterable[int], as_of: str, variables: Sequence[str],
                 months: Sequence[int]) -> pd.DataFrame:
    """Wide frame `geo_id, season_year, <var>_<mon>...` for a series that measures a level (a crop
    condition rating), not a month's weather: per month, the latest value of the season dated by
    the month's end and before the as-of day. A month not yet reached holds the latest value known
    (the level persists; climatology would say "average from here on" against what is known), a
    month before the season's first value is NaN."""
    seasons = sorted(set(seasons))
    rows = indices[indices["variable"].isin(variables)]
    rows = rows.assign(season_year=rows["date"].dt.year)
    rows = rows[rows["season_year"].isin(seasons)]
    rows = rows[rows["date"] < rows["season_year"].map(_cutoffs(seasons, as_of))].sort_values("date")
    frames = []
    for month in months:
        ends = pd.Series({s: pd.Timestamp(s, month, 1) + pd.offsets.MonthEnd(0) for s in seasons})
        by_end = rows[rows["date"] <= rows["season_year"].map(ends)]
        last = by_end.groupby([*KEYS, "variable"])["value"].last().rename(month)
        frames.append(last)
    wide = pd.concat(frames, axis=1).unstack("variable") if frames else pd.DataFrame()
    wide.columns = [f"{v}_{MONTH_NAMES[m - 1]}" for m, v in wide.columns]
    wide = wide.reindex(columns=monthly_feature_names(variables, months))
    return wide.reset_index().rename_axis(columns=None)


def preseason_totals_as_of(indices: pd.DataFrame, seasons: Iterable[int], as_of: str,
                           variables: Sequence[str]) -> pd.DataFrame:
    """Frame `geo_id, season_year, <var>_oct_apr`: the total over October of the year before the
    season to April, NaN unless all seven months are in and ended before the as-of day."""
    seasons = sorted(set(seasons))
    rows = indices[indices["variable"].isin(variables) & indices["date"].dt.month.isin(PRESEASON_MONTHS)]
    rows = rows.assign(season_year=rows["date"].dt.year + (rows["date"].dt.month >= PRESEASON_MONTHS[0]))
    rows = rows[rows["season_year"].isin(seasons)]
    rows = rows[rows["date"] < rows["season_year"].map(_cutoffs(seasons, as_of))]
    totals = rows.groupby([*KEYS, "variable"])["value"].sum(min_count=len(PRESEASON_MONTHS))
    counts = rows.groupby([*KEYS, "variable"])["value"].count()
    wide = totals.where(counts == len(PRESEASON_MONTHS)).unstack("variable")
    wide = wide.reindex(columns=list(variables))
    wide.columns = preseason_feature_names(wide.columns)
    return wide.reset_index().rename_axis(columns=None)


def weather_features_as_of(cfg: ExperimentConfig, indices: pd.DataFrame, seasons: Iterable[int],
                           as_of: str) -> pd.DataFrame:
    """The configured weather features per (geo, season) known at the as-of day: monthly values,
    derived agronomic ones, pre-season totals. One function for the hindcast and the forecast."""
    f = cfg.features
    frame = monthly_features_as_of(indices, seasons, as_of, f.variables, f.months, f.derived)
    if f.regional.variables:
        regional = levels_as_of(indices, seasons, as_of, f.regional.variables, f.months)
        frame = frame.merge(regional, on=KEYS, how="outer")
    if f.preseason:
        frame = frame.merge(preseason_totals_as_of(indices, seasons, as_of, f.preseason), on=KEYS, how="left")
    return frame


def season_features(data: ExperimentData, cfg: ExperimentConfig, geo_ids: Iterable[str],
                    seasons: Iterable[int]) -> pd.DataFrame:
    """All configured features for every (geo, season) asked for; missing values stay NaN."""
    frame = pd.MultiIndex.from_product([sorted(set(geo_ids)), sorted(set(seasons))], names=KEYS).to_frame(index=False)
    f = cfg.features
    if f.variables:
        monthly = weather_features_as_of(cfg, data.indices, frame["season_year"].unique(), f.as_of)
        frame = frame.merge(monthly, on=KEYS, how="left")
    if f.static:
        frame = frame.merge(data.static, on=KEYS, how="left")
    return frame


def season_feature_table(data: ExperimentData, cfg: ExperimentConfig, geo_ids: Iterable[str]) -> pd.DataFrame:
    """`season_features` of the geos for every season with a yield, computed once per inputs and
    geos and kept on `data`: each row depends on its own season's values only, so a fold takes
    its seasons' rows from this table instead of rebuilding them (3 times per fold before)."""
    geos = tuple(sorted(set(geo_ids)))
    key = ("season_features", cfg.features.model_dump_json(), geos)
    if key not in data.derived:
        data.derived[key] = season_features(data, cfg, geos, data.yields["season_year"].unique())
    return data.derived[key]


ALL_GEOS = "*"  # the fill value of a feature for a geo with no value of its own


def fit_fill_values(features: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Long frame `geo_id, feature, fill_value` from the training rows given.

    Per geo: the geo's training-season mean (its climatology, also the base of anomaly
    features). For geo `*`: the median over all training rows, used where a geo has no value.
    A feature with no value at all in training fills with 0 so it cannot carry information.
    """
    columns = list(columns)
    per_geo = features.groupby("geo_id")[columns].mean().reset_index()
    per_geo = per_geo.melt(id_vars="geo_id", var_name="feature", value_name="fill_value").dropna()
    overall = pd.DataFrame({"geo_id": ALL_GEOS, "feature": columns,
                            "fill_value": features[columns].median().fillna(0.0).to_numpy(float)})
    return pd.concat([overall, per_geo], ignore_index=True).astype({"fill_value": float})


def climatology(frame: pd.DataFrame, fill: pd.DataFrame) -> pd.DataFrame:
    """Each row's geo climatology per feature (the overall value where the geo has none)."""
    if fill.empty:  # an experiment with no features (e.g. trend only)
        return pd.DataFrame(index=frame.index)
    wide = fill.pivot(index="geo_id", columns="feature", values="fill_value")
    wide = wide.fillna(wide.loc[ALL_GEOS])
    rows = wide.index.get_indexer(frame["geo_id"])
    rows[rows < 0] = wide.index.get_loc(ALL_GEOS)
    return pd.DataFrame(wide.to_numpy()[rows], index=frame.index, columns=wide.columns)


def apply_fill_values(features: pd.DataFrame, fill: pd.DataFrame) -> pd.DataFrame:
    """Missing feature values take the geo's climatology, else the overall fill value."""
    clim = climatology(features, fill)
    columns = [c for c in clim.columns if c in features.columns]
    values = features[columns].to_numpy(float)
    filled = np.where(np.isnan(values), clim[columns].to_numpy(), values)
    return features.assign(**dict(zip(columns, filled.T)))


def with_anomalies(features: pd.DataFrame, fill: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Add `<feature>_anom` = value - the geo's training climatology. Pooled over geos, raw
    weather mixes climate with weather; the anomaly is the season's departure from normal."""
    columns = list(columns)
    clim = climatology(features, fill)
    anomalies = features[columns].to_numpy(float) - clim[columns].to_numpy()
    return features.assign(**{f"{c}_anom": a for c, a in zip(columns, anomalies.T)})


def model_inputs(cfg: ExperimentConfig, frame: pd.DataFrame, fill: pd.DataFrame) -> pd.DataFrame:
    """Rows as the model sees them: features filled, anomalies added if configured."""
    filled = apply_fill_values(frame, fill)
    return with_anomalies(filled, fill, feature_columns(cfg)) if cfg.features.anomalies else filled
