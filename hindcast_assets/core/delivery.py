"""Client delivery CSVs: one row per season and geo plus NATIONAL rows, documented columns."""
from __future__ import annotations

import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.aggregate import NATIONAL
from hindcast_assets.core.postprocess import interval_columns


def delivery_columns(cfg: ExperimentConfig) -> list[str]:
    bounds = [f"{side}_{round(level * 100):d}" for level in cfg.conformal.levels for side in ("lower", "upper")]
    return ["season_year", "geo_id", "prediction", *bounds, "actual", "unit", "model", "interval_mode",
            "run_id", "created_at_utc"]


def delivery_frame(cfg: ExperimentConfig, geo: pd.DataFrame, national: pd.DataFrame, model: str, run_id: str,
                   created_at_utc: str) -> pd.DataFrame:
    """Geo rows then NATIONAL rows per season; bounds from the delivered interval mode."""
    mode = cfg.conformal.delivered_mode
    rows = pd.concat([geo, national], ignore_index=True)
    out = rows[["season_year", "geo_id", "prediction", "actual"]].copy()
    for level in cfg.conformal.levels:
        lo, hi = interval_columns(mode, level)
        pct = round(level * 100)
        out[f"lower_{pct}"], out[f"upper_{pct}"] = rows[lo], rows[hi]
    out = out.assign(unit=cfg.unit, model=model, interval_mode=mode, run_id=run_id, created_at_utc=created_at_utc)
    out["_national"] = out["geo_id"].eq(NATIONAL)
    out = out.sort_values(["season_year", "_national", "geo_id"]).drop(columns="_national")
    return out[delivery_columns(cfg)].round(4).reset_index(drop=True)
