"""From fold predictions to the final hindcast: bias correction, national aggregation and
conformal intervals, each fitted for a fold only on folds before it."""
from __future__ import annotations

import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.aggregate import national_rows
from hindcast_assets.core.bias import BiasCorrector
from hindcast_assets.core.conformal import calibrate, calibrate_on, interval
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.core.warmup import NO_WARMUP, Warmup


def earlier_folds(cfg: ExperimentConfig, fold: str) -> list[str]:
    """Test folds strictly before `fold` (every test fold for production)."""
    if fold == PRODUCTION:
        return cfg.test_folds
    return [f for f in cfg.test_folds if int(f) < int(fold)]


def fit_bias_corrector(cfg: ExperimentConfig, walk_forward: dict[str, pd.DataFrame], fold: str) -> BiasCorrector:
    """Bias corrector of `fold` from the walk-forward residuals of earlier folds only."""
    earlier = earlier_folds(cfg, fold)
    frames = [walk_forward[f] for f in earlier]
    past = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["geo_id", "residual"])
    residuals = past.assign(residual=past["target"] - past["prediction"]) if frames else past
    bc = cfg.bias_correction
    return BiasCorrector.fit(residuals, bc.shrinkage, bc.min_folds, bc.enabled, tuple(earlier))


def corrected_geo_preds(walk_forward: dict[str, pd.DataFrame], correctors: dict[str, BiasCorrector]) -> pd.DataFrame:
    """Walk-forward geo predictions with each fold's own bias correction applied."""
    frames = [correctors[fold].apply(wf) for fold, wf in walk_forward.items()]
    return pd.concat(frames, ignore_index=True).rename(columns={"target": "actual"})


def national_preds(cfg: ExperimentConfig, geo: pd.DataFrame, yields: pd.DataFrame) -> pd.DataFrame:
    """National rows per season, predictions weighted by the configured area rule."""
    return national_rows(geo, yields, cfg.aggregation.area)


def calibration_targets(cfg: ExperimentConfig) -> list[tuple[str, int | None]]:
    return [(f, int(f)) for f in cfg.test_folds] + [(PRODUCTION, None)]


def conformal_sidecars(cfg: ExperimentConfig, geo: pd.DataFrame, national: pd.DataFrame,
                       national_pools: dict[str, pd.DataFrame] | None = None,
                       warmup: Warmup = NO_WARMUP) -> dict[str, pd.DataFrame]:
    """One sidecar per mode: quantiles per scope (geo, national), level and calibrated-for fold.
    `national_pools`: each fold's own national residual rows (`inner_pools`), else the national
    rows of earlier folds as for geos. `warmup`: rows of the seasons before the first test season,
    for the folds with fewer than `conformal.min_folds` earlier ones."""
    c = cfg.conformal
    out = {}
    for mode in c.modes:
        geo_rows = calibrate(geo, calibration_targets(cfg), mode, c.levels, "geo", c.min_folds, warmup.geo)
        nat = (calibrate_on(national_pools, mode, c.levels, "national") if national_pools is not None
               else calibrate(national, calibration_targets(cfg), mode, c.levels, "national", c.min_folds,
                              warmup.national))
        out[mode] = pd.concat([geo_rows, nat], ignore_index=True)
    return out


def inner_pools(inner: dict[str, pd.DataFrame], init_md: str) -> dict[str, pd.DataFrame]:
    """Per fold, its held-out national rows (`core/inner_folds.py`) at one init month-day."""
    return {fold: rows[rows["held_out"] & (rows["init_md"] == init_md)] for fold, rows in inner.items()}


def interval_columns(mode: str, level: float) -> tuple[str, str]:
    pct = f"{round(level * 100):d}"
    return f"lower_{mode}_{pct}", f"upper_{mode}_{pct}"


def with_intervals(frame: pd.DataFrame, sidecars: dict[str, pd.DataFrame], scope: str) -> pd.DataFrame:
    """Add lower/upper bounds per mode and level, each row using its own fold's quantile."""
    out = frame.copy()
    for mode, sidecar in sidecars.items():
        table = sidecar[sidecar["scope"] == scope]
        for level, rows in table.groupby("level"):
            q = out["fold"].map(dict(zip(rows["calibrated_for"], rows["quantile"]))).to_numpy(float)
            lo, hi = interval_columns(mode, level)
            out[lo], out[hi] = interval(out["prediction"], q, mode)
    return out
