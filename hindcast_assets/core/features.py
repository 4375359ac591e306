"""Season features as known at a date: one function for the hindcast and (later) the forecast.

A value summarising a period is dated at the period's end, so a feature built as of day D of
season Y sees only values dated strictly before D. Nothing later can enter.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

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
    return MonthlyCells.of(indices, seasons, variables, months, derived).as_of(as_of)


@dataclass(frozen=True, eq=False)
class MonthlyCells:
    """The long rows some seasons' monthly features are made from, indexed once: each row's cell
    (geo, season, feature column) and date, sorted by season, cell and date. The features as of
    any day are then a mask and a take per season, so a hindcast's init dates share one pass over
    the long indices (at county scale the largest frame a run holds; each pass factorized its ids
    again) and a pass holds little beyond its own result."""

    geos: np.ndarray  # sorted distinct geo ids
    seasons: np.ndarray  # sorted seasons, in the dtype of the rows' years
    columns: pd.Index
    cell: np.ndarray  # (geo code x len(seasons) + season code) x len(columns) + column
    date: np.ndarray
    value: np.ndarray
    bounds: np.ndarray  # season code i's rows are bounds[i]:bounds[i + 1]
    sources: _Sources | None  # what the derived features are made from (None: no derived features)

    @classmethod
    def of(cls, indices: pd.DataFrame, seasons: Iterable[int], variables: Sequence[str], months: Sequence[int],
           derived: Sequence[str] = ()) -> MonthlyCells:
        seasons = sorted(set(seasons))
        date = indices["date"]
        year, month = date.dt.year.to_numpy(), date.dt.month.to_numpy()
        wanted = (indices["variable"].isin(set(variables) | agronomy.sources(derived)).to_numpy()
                  & np.isin(year, seasons) & np.isin(month, months))
        kept = None if wanted.all() else np.flatnonzero(wanted)  # None: every row, no copies
        season, month = np.searchsorted(seasons, _rows(year, kept)).astype(np.int16), _rows(month, kept)
        geo, geos = pd.factorize(_rows(indices["geo_id"].to_numpy(), kept), sort=True)
        columns = pd.Index(monthly_feature_names([*variables, *derived], months))
        column = _column_of(columns, _rows(indices["variable"].to_numpy(), kept), month, variables)
        sources = None
        if derived:
            at = _rows(np.arange(len(indices)), kept)
            sources = _Sources(indices, at, season, month, date.to_numpy()[at], tuple(derived))
        mine = None if sources is None else np.flatnonzero(column >= 0)  # without derived, every kept row
        # each row's cell, (geo x seasons + season) x columns + column, keyed by season first
        cells = len(geos) * len(seasons) * len(columns)
        key = geo.astype(np.int64) * len(seasons) + season
        del geo
        key *= len(columns)
        key += column
        key += season.astype(np.int64) * cells
        key = _rows(key, mine)
        del column
        order = np.argsort(key)
        key = key[order]
        if sources is not None:  # the kept rows' positions, made once: 192 MB at 10,000 geos
            at = sources.kept[mine][order]
        else:  # no derived features: every kept row is the key's
            at = order if kept is None else kept[order]
        del order
        dates = date.to_numpy()[at]
        if (key[1:] == key[:-1]).any():  # several values in a cell (a weekly index): by date within it
            by_date = np.lexsort((dates, key))
            at, key, dates = at[by_date], key[by_date], dates[by_date]
        bounds = np.searchsorted(key, np.arange(len(seasons) + 1) * cells)
        key %= cells  # each row's cell, held while the passes are made: in 4 bytes where they fit (10,000 geos: -96 MB)
        cell = key.astype(np.int32) if cells <= np.iinfo(np.int32).max else key
        del key
        values = indices["value"].to_numpy(float)[at]
        return cls(np.asarray(geos, dtype=object), np.asarray(seasons, dtype=year.dtype), columns, cell, dates, values,
                   bounds, sources)

    def as_of(self, as_of: str) -> pd.DataFrame:
        """The wide features as known at `as_of` of each season (`monthly_features_as_of`): per
        (geo, season) with a value known, sorted; each cell its latest value known."""
        cutoff = _cutoffs(self.seasons.tolist(), as_of).to_numpy()
        width = len(self.columns)
        values = np.full(len(self.geos) * len(self.seasons) * width, np.nan)
        known_pairs = np.zeros(len(self.geos) * len(self.seasons), dtype=bool)
        for season, (a, b) in enumerate(zip(self.bounds[:-1], self.bounds[1:])):
            known = self.date[a:b] < cutoff[season]
            _put_latest(values, known_pairs, width, self.cell[a:b][known], self.value[a:b][known])
        if self.sources is not None:
            _put_latest(values, known_pairs, width, *self.sources.cells_as_of(cutoff, self))
        pairs = np.flatnonzero(known_pairs)
        if not len(pairs):
            return pd.DataFrame({"geo_id": pd.Series(dtype=object), "season_year": pd.Series(dtype=self.seasons.dtype),
                                 **{c: pd.Series(dtype=float) for c in self.columns}})
        values = values.reshape(-1, width)
        values = values if len(pairs) == len(values) else values[pairs]
        n = len(self.seasons)
        frame = pd.DataFrame(values, columns=self.columns, copy=False)  # the keys inserted, not concatenated: no copy
        frame.insert(0, "season_year", self.seasons.take(pairs % n))
        frame.insert(0, "geo_id", self.geos.take(pairs // n))
        return frame


def _rows(values: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    return values if rows is None else values[rows]


def _put_latest(values: np.ndarray, known_pairs: np.ndarray, width: int, cell: np.ndarray, value: np.ndarray) -> None:
    """Each cell's last value of `value` (cells sorted, a cell's values by date) into `values`,
    its (geo, season) marked known."""
    last = np.append(cell[1:] != cell[:-1], True) if len(cell) else np.zeros(0, dtype=bool)
    values[cell[last]] = value[last]
    known_pairs[cell[last] // width] = True


@dataclass(frozen=True, eq=False)
class _Sources:
    """The kept indices rows (derived features' sources among them), by position in `indices`."""
    indices: pd.DataFrame
    kept: np.ndarray
    season: np.ndarray
    month: np.ndarray
    date: np.ndarray
    derived: tuple[str, ...]

    def cells_as_of(self, cutoff: np.ndarray, cells: MonthlyCells) -> tuple[np.ndarray, np.ndarray]:
        """The derived features' cells and values from the rows known by `cutoff` (per season
        code), sorted by cell then date."""
        known = self.date < cutoff[self.season]
        rows = self.indices.iloc[self.kept[known]].assign(season_year=cells.seasons[self.season[known]],
                                                          month=self.month[known])
        made = agronomy.derived_rows(rows, self.derived)
        pair = (np.searchsorted(cells.geos, made["geo_id"].to_numpy()).astype(np.int64) * len(cells.seasons)
                + np.searchsorted(cells.seasons, made["season_year"].to_numpy()))
        cell = pair * len(cells.columns) + _column_of(cells.columns, made["variable"].to_numpy(),
                                                      made["month"].to_numpy(), self.derived)
        order = np.lexsort((made["date"].to_numpy(), cell))
        return cell[order], made["value"].to_numpy(float)[order]


def _column_of(columns: pd.Index, variable: np.ndarray, month: np.ndarray, named: Sequence[str]) -> np.ndarray:
    """Each row's feature column `<variable>_<mon>` in `columns`; -1 for a variable not `named`."""
    codes, distinct = pd.factorize(variable)
    table = np.full((len(distinct), 13), -1, dtype=np.intp)
    for i, v in enumerate(distinct):
        if v in set(named):
            table[i, 1:] = columns.get_indexer([f"{v}_{m}" for m in MONTH_NAMES])
    return table[codes, month] if len(codes) else np.zeros(0, np.intp)


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
    return next(weather_features_at_each(cfg, indices, seasons, [as_of]))


def weather_features_at_each(cfg: ExperimentConfig, indices: pd.DataFrame, seasons: Iterable[int],
                             as_ofs: Sequence[str]) -> Iterator[pd.DataFrame]:
    """`weather_features_as_of` at each of `as_ofs` in turn, the monthly rows indexed once."""
    f, seasons = cfg.features, sorted(set(seasons))
    cells = MonthlyCells.of(indices, seasons, f.variables, f.months, f.derived)
    for as_of in as_ofs:
        frame = cells.as_of(as_of)
        if f.regional.variables:
            regional = levels_as_of(indices, seasons, as_of, f.regional.variables, f.months)
            frame = frame.merge(regional, on=KEYS, how="outer")
        if f.preseason:
            frame = frame.merge(preseason_totals_as_of(indices, seasons, as_of, f.preseason), on=KEYS, how="left")
        yield frame
        del frame  # not held while the next day's are made (a pass is 200 MB at county scale)


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


def _climatology_rows(frame: pd.DataFrame, fill: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Each row's geo climatology: the fill values as a (geo x feature) table, each row's geo in it
    (the overall row where the geo has none) and the table's features; not a value per row and
    feature, which at county scale is a training frame's size again."""
    wide = fill.pivot(index="geo_id", columns="feature", values="fill_value")
    wide = wide.fillna(wide.loc[ALL_GEOS])
    rows = wide.index.get_indexer(frame["geo_id"])
    rows[rows < 0] = wide.index.get_loc(ALL_GEOS)
    return wide.to_numpy(), rows, wide.columns


def apply_fill_values(features: pd.DataFrame, fill: pd.DataFrame) -> pd.DataFrame:
    """Missing feature values take the geo's climatology, else the overall fill value."""
    if fill.empty:  # an experiment with no features (e.g. trend only)
        return features.copy()
    table, rows, named = _climatology_rows(features, fill)
    columns = [c for c in features.columns if c in named]
    values = features[columns].to_numpy(float)  # a copy (a list of columns is taken), filled in place
    row, column = np.nonzero(np.isnan(values))
    values[row, column] = table[rows[row], named.get_indexer(columns)[column]]
    return _with_columns(features, values, columns)


def with_anomalies(features: pd.DataFrame, fill: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Add `<feature>_anom` = value - the geo's training climatology. Pooled over geos, raw
    weather mixes climate with weather; the anomaly is the season's departure from normal."""
    columns = list(columns)
    if not columns:
        return features.copy()
    table, rows, named = _climatology_rows(features, fill)
    anomalies = features[columns].to_numpy(float)
    anomalies -= table[np.ix_(rows, named.get_indexer(columns))]
    return _with_columns(features, anomalies, [f"{c}_anom" for c in columns])


def _with_columns(frame: pd.DataFrame, values: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """`frame` with float `columns` set to `values` (a column each), or added after its own: a
    frame around `values` (not copied) with the other columns inserted. (`assign` copied the whole
    frame, then each column; `concat` merges same-typed columns into one copy: model inputs at
    county scale peaked at six copies of the training rows.)"""
    named = set(columns)
    out = pd.DataFrame(values, index=frame.index, columns=columns, copy=False)
    with warnings.catch_warnings():  # a block per inserted column, as meant ("highly fragmented" past 100)
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        for at, name in enumerate(frame.columns):
            if name not in named:
                out.insert(at, name, frame[name])
    return out


def model_inputs(cfg: ExperimentConfig, frame: pd.DataFrame, fill: pd.DataFrame) -> pd.DataFrame:
    """Rows as the model sees them: features filled, anomalies added if configured."""
    filled = apply_fill_values(frame, fill)
    return with_anomalies(filled, fill, feature_columns(cfg)) if cfg.features.anomalies else filled
