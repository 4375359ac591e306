"""In-season forecasts at an init date, from the production fold of a run_dir.

Training/forecast consistency: the production model is fitted on end-of-season features; at an
init date the months not yet ended are unknown, and they take the geo's training climatology
(its fill value), so their anomaly features are zero ("an average rest of season"). The same
as-of feature function as the hindcast builds the known months. Static season features are
never known at an init date and are refused.
Measured against a model per init date (corn_usa, LightGBM, state RMSE 1990-2011): 1 Jun 17.12 vs
17.87, 1 Jul 16.32 vs 16.56, 1 Aug 14.58 vs 14.37, 1 Sep 14.08 vs 14.07, 1 Oct equal.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.aggregate import aggregation_weights, national_from_geo
from hindcast_assets.core.ensembles import EnsembleModel
from hindcast_assets.core.features import KEYS, monthly_features_as_of

NATIONAL = "NATIONAL"


class ForecastError(ValueError):
    """A forecast that cannot be made; the message says what is missing."""


def parse_init_date(value: str, season_year: int | None = None) -> dt.date:
    try:
        date = dt.date.fromisoformat(value)
    except ValueError:
        raise ForecastError(f"init_date: {value!r} is not a date in YYYY-MM-DD form") from None
    if season_year is not None and date.year != season_year:
        raise ForecastError(f"init_date: {value} is not in season {season_year} (the season is its calendar year)")
    return date


def indices_known_at(indices: pd.DataFrame, geos: list[str], season_year: int, init: dt.date) -> pd.DataFrame:
    """The season's predictor rows as known at `init`: dated in the season year, strictly before it."""
    rows = indices[indices["geo_id"].isin(geos) & (indices["date"].dt.year == season_year)
                   & (indices["date"] < pd.Timestamp(init))]
    return rows.sort_values(["geo_id", "variable", "date"]).reset_index(drop=True)


def forecast_features(cfg: ExperimentConfig, known: pd.DataFrame, geos: list[str], season_year: int,
                      init: dt.date) -> pd.DataFrame:
    """Feature rows per geo from the known values only (unknown months stay NaN here)."""
    if cfg.features.static:
        raise ForecastError(f"features.static: {cfg.features.static} are whole-season values, never known at "
                            "an init date; this experiment cannot forecast in season")
    frame = pd.DataFrame({"geo_id": sorted(geos), "season_year": season_year})
    f = cfg.features
    if f.variables:
        monthly = monthly_features_as_of(known, [season_year], init.strftime("%m-%d"), f.variables, f.months)
        frame = frame.merge(monthly, on=KEYS, how="left")
    return frame.assign(init_date=init.isoformat())


def combine(model, member_residuals: dict[str, np.ndarray]) -> np.ndarray:
    """The experiment's detrended prediction: a base model's own, or its ensemble's combination."""
    if isinstance(model, EnsembleModel):
        return model.predict(pd.DataFrame(member_residuals))
    return next(iter(member_residuals.values()))


def national_forecast(geo: pd.DataFrame, yields: pd.DataFrame) -> pd.DataFrame:
    """Area-weighted by each geo's latest earlier season's area (what a forecaster has in season)."""
    weights = aggregation_weights(geo, yields, "previous")
    out = national_from_geo(geo, ["prediction", "prediction_raw", "trend"], weights)
    return out.rename(columns={"weight": "area"}).assign(geo_id=NATIONAL, init_date=geo["init_date"].iloc[0])


def available_init_dates(latest: dt.date, init_month_days: list[str], season_years: list[int]) -> list[str]:
    """Init dates of the latest season whose data is complete: every value dated before the init
    date is in (the data runs through the day before it or later)."""
    from hindcast_assets.config import parse_month_day

    season = latest.year
    if season not in season_years:
        return []
    dates = [dt.date(season, *parse_month_day(md)) for md in init_month_days]
    return [d.isoformat() for d in sorted(dates) if d - dt.timedelta(days=1) <= latest]


def predict_rows(cfg: ExperimentConfig, fold_models: tuple, rows: pd.DataFrame) -> pd.DataFrame:
    """Geo predictions for feature rows (`geo_id, season_year, <features>`; unknown months NaN)
    from one fold's (detrender, fill values, model, members, bias corrector)."""
    from hindcast_assets.core.hindcast import model_inputs

    detrender, fill, model, members, bias = fold_models
    rows = rows.assign(trend=detrender.trend(rows["geo_id"], rows["season_year"]))
    inputs = model_inputs(cfg, rows, fill)
    residuals = {name: m.predict(inputs) for name, m in (members or {cfg.model.name: model}).items()}
    out = rows[["geo_id", "season_year", "init_date", "trend"]].copy()
    out["pred_residual"] = combine(model, residuals)
    out["prediction_raw"] = out["trend"] + out["pred_residual"]
    out["bias"] = bias.bias(out["geo_id"]) if bias is not None else 0.0
    out["prediction"] = out["prediction_raw"] + out["bias"]
    return out.assign(model=model.name if isinstance(model, EnsembleModel) else model.plugin.name)
