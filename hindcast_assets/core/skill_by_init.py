"""Hindcast skill by init date: every test season re-predicted by its own walk-forward fold with
only the data known at each init month-day, so the table shows what a forecast on that day of
the season was worth (the earlier the date, the less it may know)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

import numpy as np
import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core.aggregate import national_rows
from hindcast_assets.core.data import ExperimentData
from hindcast_assets.core.evaluation import coverage_table
from hindcast_assets.core.features import KEYS
from hindcast_assets.core.forecast import features_at_each
from hindcast_assets.core.metrics import mape, rmse
from hindcast_assets.core.predictions import FoldModels, with_actual
from hindcast_assets.core.season_dates import MonthDay
from hindcast_assets.core.warmup import NO_WARMUP, Warmup


def features_by_init_date(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], season: int) -> pd.DataFrame:
    """A season's feature rows at each init month-day, from only what was known by then.

    Built for every season with a yield at once and kept on `data` (read-only, like
    `season_feature_table`): the inner refits of every later fold predict each season again at
    each init date, and one pass over all seasons costs what about two seasons did one by one
    (corn_usa: 0.4 s against 7.9 s for its 74 seasons)."""
    key = ("features_by_init_date", cfg.features.model_dump_json(), tuple(cfg.forecast.init_dates),
           tuple(sorted(set(geos))))
    if key not in data.derived:
        data.derived[key] = _features_by_init_date(cfg, data, geos)
    by_season = data.derived[key]
    return by_season[season] if season in by_season else by_season[None]


def _features_by_init_date(cfg: ExperimentConfig, data: ExperimentData, geos: list[str]) -> dict:
    """Season -> its rows at every init month-day (geos with a yield that season, sorted), and
    None -> the empty frame a season without yields gets."""
    present = (data.yields.loc[data.yields["geo_id"].isin(set(geos)), KEYS].drop_duplicates()
               .astype({"season_year": "int64"}).sort_values(["season_year", "geo_id"]))
    ours = data.indices["geo_id"].isin(set(geos))
    known = data.indices if ours.all() else data.indices[ours]
    if cfg.features.preseason:  # its totals add in row order: the forecasts' (`indices_known_at`)
        known = known.sort_values(["geo_id", "variable", "date"])
    mds = cfg.forecast.init_dates
    passes = features_at_each(cfg, known, present, [MonthDay.parse(md) for md in mds])
    return _by_season(passes, mds, present["season_year"].to_numpy())


def _by_season(passes: Iterator[pd.DataFrame], mds: Sequence[str], seasons: np.ndarray) -> dict:
    """Season -> its rows of the pass at each init month-day `mds`, pass after pass (a pass's rows
    are in `seasons` order, sorted), and None -> no rows.

    Each pass is copied into its seasons' arrays and dropped before the next is made: at county
    scale a pass is 200 MB, and holding every pass, their concatenation and its split was a run's
    highest memory (benchmarks/README.md). So passes are taken with `next`, not a `for` loop over
    an `enumerate` or `zip`, which would hold the last pass while the next is made."""
    starts = np.flatnonzero(np.r_[True, seasons[1:] != seasons[:-1]])
    spans = {int(seasons[a]): (a, b) for a, b in zip(starts, np.r_[starts[1:], len(seasons)])}
    parts: dict[int, _Columns] = {}
    for i, md in enumerate(mds):
        frame = next(passes)
        frame["init_md"] = md
        parts = parts or {s: _Columns.like(frame, len(mds) * (b - a)) for s, (a, b) in spans.items()}
        columns = {name: frame[name].to_numpy() for name in frame.columns}
        for season, (a, b) in spans.items():
            parts[season].put(slice(i * (b - a), (i + 1) * (b - a)), columns, a, b)
        empty = frame.iloc[:0].copy()  # a slice would keep the whole pass
        del frame, columns
    return {s: parts.pop(s).frame() for s in list(parts)} | {None: empty}


@dataclass(frozen=True)
class _Columns:
    """A frame's columns being filled: its float columns as one block (a column per row, as
    pandas keeps them), the others one array each."""
    names: list[str]
    floats: list[str]
    block: np.ndarray
    others: dict[str, np.ndarray]

    @classmethod
    def like(cls, frame: pd.DataFrame, rows: int) -> _Columns:
        floats = [c for c in frame.columns if frame[c].dtype == np.float64]
        others = {c: np.empty(rows, frame[c].dtype) for c in frame.columns if c not in floats}
        return cls(list(frame.columns), floats, np.empty((len(floats), rows)), others)

    def put(self, rows: slice, columns: dict[str, np.ndarray], a: int, b: int) -> None:
        """Rows `a:b` of a frame's `columns` into `rows`."""
        for j, name in enumerate(self.floats):
            self.block[j, rows] = columns[name][a:b]
        for name, column in self.others.items():
            column[rows] = columns[name][a:b]

    def frame(self) -> pd.DataFrame:
        """The columns in their order as a frame, the float block wrapped, not copied."""
        runs = [list(run) for _, run in groupby(self.names, key=lambda c: c in self.others)]
        first = {c: i for i, c in enumerate(self.floats)}
        pieces = [pd.DataFrame({c: self.others[c] for c in run}, copy=False) if run[0] in self.others
                  else pd.DataFrame(self.block[first[run[0]]:first[run[-1]] + 1].T, columns=run, copy=False)
                  for run in runs]
        return pd.concat(pieces, axis=1, copy=False)


def fold_predictions_by_init_date(cfg: ExperimentConfig, yields: pd.DataFrame, features: pd.DataFrame,
                                  models: FoldModels) -> pd.DataFrame:
    """Geo rows of a fold's test season x init month-day, predicted by the fold from its
    `features_by_init_date`, with the season's actual yield."""
    preds = models.predict(cfg, features)  # every init date at once: rows are independent
    return with_actual(preds, yields).assign(init_md=features["init_md"].to_numpy())


def national_by_init_date(geo: pd.DataFrame, yields: pd.DataFrame) -> pd.DataFrame:
    """National rows per (init month-day, season), weighted by the previous season's areas."""
    return national_rows(geo, yields, "previous", by=("init_md", "season_year"))


def sidecars_by_init_date(cfg: ExperimentConfig, geo: pd.DataFrame, national: pd.DataFrame,
                          inner: dict[str, pd.DataFrame] | None = None,
                          warmup: Warmup = NO_WARMUP) -> dict[str, pd.DataFrame]:
    """Conformal sidecars per init month-day: a forecast made on 1 July is calibrated on the
    residuals of earlier seasons' 1 July forecasts (end-of-season residuals are too narrow); the
    national scope on each fold's inner residuals at 1 July where given (`core/inner_folds.py`);
    the first folds with the warm-up seasons' 1 July residuals too (`core/warmup.py`)."""
    out = {}
    for md in cfg.forecast.init_dates:
        pools = pp.inner_pools(inner, md) if inner is not None else None
        per_md = pp.conformal_sidecars(cfg, geo[geo["init_md"] == md], national[national["init_md"] == md], pools,
                                       warmup.at(md))
        for mode, table in per_md.items():
            out.setdefault(mode, []).append(table.assign(init_md=md))
    return {mode: pd.concat(tables, ignore_index=True) for mode, tables in out.items()}


def for_init(sidecars: dict[str, pd.DataFrame], init_md: str) -> dict[str, pd.DataFrame]:
    return {mode: t[t["init_md"] == init_md] for mode, t in sidecars.items()}


def with_intervals_by_init(rows: pd.DataFrame, sidecars: dict[str, pd.DataFrame], scope: str) -> pd.DataFrame:
    """Rows of several init month-days, each with the intervals its own init date's calibration
    gives (what a forecast made then would have shown)."""
    return pd.concat([pp.with_intervals(group, for_init(sidecars, md), scope) for md, group in rows.groupby("init_md")],
                     ignore_index=True)


def skill_by_init_date(cfg: ExperimentConfig, geo: pd.DataFrame, national: pd.DataFrame,
                       sidecars: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """RMSE, MAPE and interval coverage (per-init-date calibration) per init month-day, geo and
    national, model vs trend."""
    rows = []
    mode = cfg.conformal.modes[0]
    for md in cfg.forecast.init_dates:
        for level, frame in (("geo", geo[geo["init_md"] == md]), ("national", national[national["init_md"] == md])):
            if frame.empty:  # no national rows without areas
                continue
            cover = coverage_table(with_intervals_by_init(frame, sidecars, level), [mode], cfg.conformal.levels, level)
            rows.append({"init_md": md, "level": level, "n": len(frame),
                         "rmse": rmse(frame["actual"], frame["prediction"]),
                         "mape": mape(frame["actual"], frame["prediction"]),
                         "rmse_trend": rmse(frame["actual"], frame["trend"]),
                         "mape_trend": mape(frame["actual"], frame["trend"]),
                         **{f"coverage_{mode}_{round(r.level * 100)}": r.coverage for r in cover.itertuples()}})
    return pd.DataFrame(rows)


def against_yardstick(national: pd.DataFrame, yardstick: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Our national forecast by init date beside the yardstick's (another forecaster's) at the
    same init month-days, on the seasons both have, both scored against the reference."""
    both = (national[["init_md", "season_year", "prediction"]]
            .merge(yardstick, on=["init_md", "season_year"]).merge(reference, on="season_year")
            .dropna(subset=["prediction", "forecast", "reference"]))
    rows = []
    for md, g in both.groupby("init_md", sort=True):
        rows.append({"init_md": md, "n_seasons": len(g), "first_season": int(g["season_year"].min()),
                     "last_season": int(g["season_year"].max()),
                     "rmse": rmse(g["reference"], g["prediction"]), "rmse_yardstick": rmse(g["reference"], g["forecast"]),
                     "mape": mape(g["reference"], g["prediction"]), "mape_yardstick": mape(g["reference"], g["forecast"])})
    return pd.DataFrame(rows)


def season_by_season(national: pd.DataFrame, yardstick: pd.DataFrame | None, reference: pd.DataFrame | None,
                     init_mds: list[str]) -> pd.DataFrame:
    """Per test season: our national forecast at each of `init_mds` beside the yardstick's of the
    same month-day (USDA's August report for `08-01`), the trend and the reference (final), so the
    seasons an analyst remembers (a drought, a late planting) read at a glance."""
    wide = national[national["init_md"].isin(init_mds)].pivot(index="season_year", columns="init_md",
                                                             values="prediction")
    out = pd.DataFrame({"season_year": wide.index.astype(int)})
    trend = national[national["init_md"] == init_mds[-1]].set_index("season_year")["trend"]
    out["trend"] = out["season_year"].map(trend)
    final = reference.set_index("season_year")["reference"] if reference is not None else pd.Series(dtype=float)
    out["final"] = out["season_year"].map(final)
    for md in init_mds:
        out[f"ours_{md}"] = wide[md].to_numpy()
        if yardstick is not None and (yardstick["init_md"] == md).any():
            out[f"yardstick_{md}"] = out["season_year"].map(yardstick[yardstick["init_md"] == md]
                                                            .set_index("season_year")["forecast"])
    for column in [c for c in out.columns if c.startswith(("ours_", "yardstick_")) or c == "trend"]:
        out[f"{column}_error"] = out[column] - out["final"]
    return out
