"""Client delivery CSVs: one row per season and geo plus NATIONAL rows, documented columns
(docs/guide/delivery.md)."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.aggregate import NATIONAL
from hindcast_assets.core.postprocess import interval_columns


@dataclass(frozen=True)
class Issue:
    """When a delivery's numbers stand: `init_md`, the month-day its inputs are known by ('' when
    the features have no as-of date), and for a forecast the UTC date it was made."""

    init_md: str
    forecast_date: str | None = None  # None: a hindcast (made when its run_dir was, `created_at_utc`)


def delivery_columns(cfg: ExperimentConfig, forecast: bool = False) -> list[str]:
    bounds = [f"{side}_{round(level * 100):d}" for level in cfg.conformal.levels for side in ("lower", "upper")]
    return ["season_year", "geo_id", "init_date", *(["forecast_date"] if forecast else []), "prediction", *bounds,
            "trend", "actual", "unit", "model", "interval_mode", "run_id", "created_at_utc"]


def delivery_frame(cfg: ExperimentConfig, geo: pd.DataFrame, national: pd.DataFrame, model: str, run_id: str,
                   created_at_utc: str, issue: Issue) -> pd.DataFrame:
    """Geo rows then NATIONAL rows per season; bounds from the delivered interval mode."""
    mode = cfg.conformal.delivered_mode
    rows = pd.concat([geo, national], ignore_index=True)
    out = rows[["season_year", "geo_id", "prediction", "trend", "actual"]].copy()
    out["init_date"] = out["season_year"].map(lambda season: f"{season}-{issue.init_md}") if issue.init_md else ""
    for level in cfg.conformal.levels:
        lo, hi = interval_columns(mode, level)
        pct = round(level * 100)
        out[f"lower_{pct}"], out[f"upper_{pct}"] = rows[lo], rows[hi]
    out = out.assign(unit=cfg.unit, model=model, interval_mode=mode, run_id=run_id, created_at_utc=created_at_utc)
    if issue.forecast_date is not None:
        out["forecast_date"] = issue.forecast_date
    out["_national"] = out["geo_id"].eq(NATIONAL)
    out = out.sort_values(["season_year", "_national", "geo_id"]).drop(columns="_national")
    return out[delivery_columns(cfg, issue.forecast_date is not None)].round(4).reset_index(drop=True)
