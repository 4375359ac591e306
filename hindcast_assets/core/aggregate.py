"""Area-weighted aggregation of geo values to national (or any coarser) level."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


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
