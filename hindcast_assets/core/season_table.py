"""A season as an analyst follows it: our national forecast at each init date with its interval,
beside the yardstick's forecast of the same month (USDA's Crop Production report), the season's
final or annual figure (the reference) and the source vintages the forecast used.

Read-time only: the yardstick's later reports and the final figure arrive after a forecast was
made, so they never enter a forecast's artefacts (which stay as made); this table joins them.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hindcast_assets.core.postprocess import interval_columns


def season_table(national: pd.DataFrame, yardstick: pd.DataFrame | None, reference: pd.DataFrame | None,
                 vintages: dict[str, dict[str, list[str]]], mode: str, levels: list[float]) -> pd.DataFrame:
    """One row per forecast (`national`: a forecast's national row each, with `season_year` and
    `init_date`): ours and its `mode` intervals, the yardstick's forecast of that init month-day,
    the reference, both errors against it, and the vintages per variable (`vintages` by init date)."""
    rows = national.assign(init_md=pd.to_datetime(national["init_date"]).dt.strftime("%m-%d"))
    out = pd.DataFrame({"season_year": rows["season_year"].astype(int), "init_date": rows["init_date"].astype(str),
                        "fold": rows.get("fold", pd.Series("", index=rows.index)), "ours": rows["prediction"],
                        "trend": rows["trend"]})
    for level in levels:
        low, high = interval_columns(mode, level)
        pct = round(level * 100)
        out[f"low_{pct}"] = rows[low] if low in rows else np.nan
        out[f"high_{pct}"] = rows[high] if high in rows else np.nan
    out["yardstick"] = _lookup(rows, yardstick, ["season_year", "init_md"], "forecast")
    out["final"] = _lookup(rows, reference, ["season_year"], "reference")
    out["ours_error"] = out["ours"] - out["final"]
    out["yardstick_error"] = out["yardstick"] - out["final"]
    out["vintages"] = out["init_date"].map(lambda d: _vintage_text(vintages.get(d, {})))
    return out.sort_values(["season_year", "init_date"]).reset_index(drop=True)


def _lookup(rows: pd.DataFrame, table: pd.DataFrame | None, keys: list[str], column: str) -> np.ndarray:
    if table is None or table.empty:
        return np.full(len(rows), np.nan)
    found = rows[keys].merge(table[[*keys, column]].astype({k: rows[k].dtype for k in keys}), on=keys, how="left")
    return found[column].to_numpy(float)


def _vintage_text(by_variable: dict[str, list[str]]) -> str:
    """`prcp, tavg: nclimdiv-20260205; tmax, tmin: nclimdiv-20260904` (variables sharing vintages grouped)."""
    groups: dict[str, list[str]] = {}
    for variable, names in sorted(by_variable.items()):
        groups.setdefault(", ".join(names), []).append(variable)
    return "; ".join(f"{', '.join(v)}: {names}" for names, v in groups.items())
