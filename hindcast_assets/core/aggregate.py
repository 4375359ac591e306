"""Area-weighted aggregation of geo values to national (or any coarser) level."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

NATIONAL = "NATIONAL"  # the geo_id of an aggregated row
PREDICTED = ("prediction", "prediction_raw", "trend")  # aggregated with the configured area rule
CARRIED = ("init_date", "fold")  # constant within a season's rows: carried onto its national row
NO_NATIONAL = "no national aggregation: the config names no area column (columns.area) to weight geos by"


def weighted_mean(frame: pd.DataFrame, values: Sequence[str], weight: str, by: Sequence[str]) -> pd.DataFrame:
    """Weighted mean of each value column per group, weights renormalised over the rows where
    that value is present; also `<weight>` (the summed weight) and `n_geos` per group."""
    out = []
    for keys, g in frame.groupby(list(by), sort=True):
        row = dict(zip(by, keys if isinstance(keys, tuple) else (keys,)))
        w = g[weight].to_numpy(float)
        for v in values:
            x = g[v].to_numpy(float)
            ok = ~np.isnan(x) & ~np.isnan(w) & (w > 0)
            row[v] = float(np.sum(x[ok] * w[ok]) / np.sum(w[ok])) if ok.any() else np.nan
        row[weight] = float(np.nansum(w))
        row["n_geos"] = int(len(g))
        out.append(row)
    return pd.DataFrame(out)


def aggregation_weights(preds: pd.DataFrame, yields: pd.DataFrame, rule: str) -> pd.Series:
    """Per row of `preds` (geo_id, season_year): the area weight under `rule`.

    `actual`: the season's own area (hindcast skill). `previous`: the geo's area in its latest
    earlier season, as a forecaster would have it before harvest.
    """
    area = yields.set_index(["geo_id", "season_year"])["area"]
    if rule == "actual":
        keys = pd.MultiIndex.from_frame(preds[["geo_id", "season_year"]])
        return pd.Series(area.reindex(keys).to_numpy(float), index=preds.index)
    if rule == "previous":
        known = yields.dropna(subset=["area"]).sort_values("season_year")
        lookup = preds[["geo_id", "season_year"]].assign(_row=preds.index, before=preds["season_year"] - 1)
        lookup = lookup.sort_values("before")
        merged = pd.merge_asof(lookup, known[["geo_id", "season_year", "area"]].rename(
            columns={"season_year": "before"}), on="before", by="geo_id", direction="backward")
        return pd.Series(merged["area"].to_numpy(float), index=merged["_row"].to_numpy()).reindex(preds.index)
    raise ValueError(f"unknown area rule {rule!r}")


def national_from_geo(preds: pd.DataFrame, values: Sequence[str], weights: pd.Series,
                      by: Sequence[str] = ("season_year",)) -> pd.DataFrame:
    """Area-weighted national values per season from geo rows (weights renormalised per value)."""
    return weighted_mean(preds.assign(weight=weights), values, "weight", by)


def national_rows(geo: pd.DataFrame, yields: pd.DataFrame, area_rule: str,
                  by: Sequence[str] = ("season_year",)) -> pd.DataFrame:
    """The one national aggregation (hindcast, skill by init date, forecast): per group of `by`,
    the predicted columns present weighted by `area_rule` (`previous` is what a forecaster has in
    season), the actual by the season's own areas and only where every geo has one; `area` is
    the summed weight, and `init_date` / `fold` are carried over."""
    by = list(by)
    predicted = [c for c in PREDICTED if c in geo.columns]
    if yields["area"].isna().all():  # no areas (columns.area unset): a NATIONAL row would mean nothing
        return _no_national_rows(geo, by)
    out = national_from_geo(geo, predicted, aggregation_weights(geo, yields, area_rule), by)
    if "actual" in geo.columns:
        truth = national_from_geo(geo, ["actual"], aggregation_weights(geo, yields, "actual"), by)
        complete = geo.groupby(by)["actual"].apply(lambda a: bool(a.notna().all())).reset_index(name="_complete")
        truth = truth.merge(complete, on=by)
        truth["actual"] = truth["actual"].where(truth["_complete"])
        out = out.merge(truth[[*by, "actual"]], on=by, how="left")
    carried = [c for c in CARRIED if c in geo.columns and c not in by]
    if carried:
        out = out.merge(geo.groupby(by)[carried].first().reset_index(), on=by, how="left")
    return out.rename(columns={"weight": "area"}).assign(geo_id=NATIONAL)


def _no_national_rows(geo: pd.DataFrame, by: Sequence[str] = ("season_year",)) -> pd.DataFrame:
    """The national frame of an experiment without areas: its columns, no rows."""
    columns = [*by, *(c for c in (*PREDICTED, "actual", *CARRIED) if c in geo.columns and c not in by)]
    return pd.DataFrame({c: geo[c].iloc[:0] for c in columns}).assign(area=pd.Series(dtype=float),
                                                                      n_geos=pd.Series(dtype=int), geo_id=NATIONAL)
