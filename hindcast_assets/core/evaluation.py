"""Hindcast evaluation: skill tables (model, model without bias correction, trend), interval
coverage, plots and a readable report. Reads postprocessed frames only."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hindcast_assets.core.metrics import full_skill
from hindcast_assets.core.postprocess import interval_columns

PREDICTORS = {"model": "prediction", "model_uncorrected": "prediction_raw", "trend": "trend"}


def skill_table(frame: pd.DataFrame, by: list[str] | None = None, actual: str = "actual") -> pd.DataFrame:
    """Skill of each predictor (rows) overall or per group."""
    groups = frame.groupby(by) if by else [((), frame)]
    rows = []
    for keys, g in groups:
        keys = keys if isinstance(keys, tuple) else (keys,)
        for name, column in PREDICTORS.items():
            rows.append({**dict(zip(by or [], keys)), "predictor": name, **full_skill(g[actual], g[column])})
    return pd.DataFrame(rows)


def coverage_table(frame: pd.DataFrame, modes, levels, scope: str, actual: str = "actual") -> pd.DataFrame:
    """Empirical coverage and mean width per mode and level, over the rows that have an interval."""
    rows = []
    for mode in modes:
        for level in levels:
            lo, hi = interval_columns(mode, level)
            has = frame[lo].notna() & frame[actual].notna()
            inside = (frame.loc[has, actual] >= frame.loc[has, lo]) & (frame.loc[has, actual] <= frame.loc[has, hi])
            rows.append({"scope": scope, "mode": mode, "level": level, "n": int(has.sum()),
                         "n_without_interval": int((~has).sum()),
                         "coverage": float(inside.mean()) if has.any() else np.nan,
                         "mean_width": float((frame.loc[has, hi] - frame.loc[has, lo]).mean()) if has.any() else np.nan})
    return pd.DataFrame(rows)


@dataclass
class Evaluation:
    geo: pd.DataFrame
    by_fold: pd.DataFrame
    by_geo: pd.DataFrame
    national: pd.DataFrame
    national_vs_reference: pd.DataFrame | None
    coverage: pd.DataFrame
    no_interval_folds: dict[str, list[str]]

    def headline(self) -> pd.DataFrame:
        """State and national skill of model, uncorrected model and trend side by side."""
        frames = [self.geo.assign(level="geo"), self.national.assign(level="national")]
        if self.national_vs_reference is not None:
            frames.append(self.national_vs_reference.assign(level="national vs reference"))
        return pd.concat(frames, ignore_index=True)[["level", "predictor", "rmse", "mae", "mape", "nrmse",
                                                     "r2", "bias", "n"]]


def evaluate(geo: pd.DataFrame, national: pd.DataFrame, modes, levels,
             reference: pd.DataFrame | None) -> Evaluation:
    """`reference`: the config's national reference figures (`season_year, reference`) or None.
    An experiment without areas has no national rows, and then no national skill or coverage."""
    scopes = {"geo": geo, "national": national} if len(national) else {"geo": geo}
    vs_ref = None
    if reference is not None and "national" in scopes:
        merged = national.merge(reference, on="season_year", how="inner")
        vs_ref = skill_table(merged, actual="reference")
    coverage = pd.concat([coverage_table(frame, modes, levels, scope) for scope, frame in scopes.items()],
                         ignore_index=True)
    missing = {}
    for scope, frame in scopes.items():
        lo, _ = interval_columns(modes[0], max(levels))
        missing[scope] = sorted(frame.loc[frame[lo].isna(), "fold"].astype(str).unique().tolist())
    return Evaluation(geo=skill_table(geo), by_fold=skill_table(geo, ["fold"]), by_geo=skill_table(geo, ["geo_id"]),
                      national=skill_table(national) if "national" in scopes else skill_table(geo).iloc[:0],
                      national_vs_reference=vs_ref, coverage=coverage,
                      no_interval_folds=missing)


def compare_models(cfg, walk_forward: dict[str, dict[str, pd.DataFrame]], yields: pd.DataFrame) -> pd.DataFrame:
    """Every configured model and ensemble against the trend: geo and national RMSE and MAPE and
    geo interval coverage, all without bias correction so the models compare on equal terms."""
    from hindcast_assets.core import postprocess as pp
    from hindcast_assets.core.bias import BiasCorrector
    from hindcast_assets.core.metrics import mape, rmse

    none = BiasCorrector.fit(pd.DataFrame(), 0.0, 1, enabled=False)
    rows = []
    for name, folds in walk_forward.items():
        geo = pp.corrected_geo_preds(folds, {f: none for f in folds})
        national = pp.national_preds(cfg, geo, yields)
        sidecars = pp.conformal_sidecars(cfg, geo, national)
        covered = coverage_table(pp.with_intervals(geo, sidecars, "geo"), cfg.conformal.modes[:1],
                                 cfg.conformal.levels, "geo")
        row = {"model": name, "primary": name == cfg.model.name,
               "geo_rmse": rmse(geo["actual"], geo["prediction"]), "geo_mape": mape(geo["actual"], geo["prediction"]),
               "national_rmse": rmse(national["actual"], national["prediction"]),
               "national_mape": mape(national["actual"], national["prediction"])}
        rows.append(row | {f"geo_coverage_{round(r.level * 100)}": r.coverage for r in covered.itertuples()})
        trend = {"geo_rmse": rmse(geo["actual"], geo["trend"]), "geo_mape": mape(geo["actual"], geo["trend"]),
                 "national_rmse": rmse(national["actual"], national["trend"]),
                 "national_mape": mape(national["actual"], national["trend"])}
    rows.append({"model": "trend (baseline)", "primary": False, **trend})
    return pd.DataFrame(rows)
