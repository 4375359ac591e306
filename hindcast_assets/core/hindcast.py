"""One fold of the walk-forward hindcast as plain stage functions.

Each stage takes what the previous one left in the run_dir (detrender, fill values, model), so
the Dagster assets and a plain loop (benchmarks) run the very same code.
"""
from __future__ import annotations

import pandas as pd

from hindcast_assets.config import ExperimentConfig, ModelSpec, feature_columns, model_feature_columns
from hindcast_assets.core.data import ExperimentData, scored_seasons
from hindcast_assets.core.detrend import LinearTrend
from hindcast_assets.core.features import KEYS, season_feature_table
from hindcast_assets.core.features import fit_fill_values as _fit_fill_values
from hindcast_assets.core.frames import prediction_frame
from hindcast_assets.core.splits import Fold, walk_forward_fold
from hindcast_assets.models import TrainedModel, train_one


def modelled_seasons(yields: pd.DataFrame, cfg: ExperimentConfig) -> list[int]:
    """Seasons with a target from the detrending start year on: what folds train on."""
    start = cfg.detrend.start_year
    return [s for s in scored_seasons(yields) if start is None or s >= start]


def fold_of(cfg: ExperimentConfig, yields: pd.DataFrame, name: str) -> Fold:
    return walk_forward_fold(name, modelled_seasons(yields, cfg), cfg.hindcast.rolling_window)


def _rows(yields: pd.DataFrame, geos: list[str], seasons) -> pd.DataFrame:
    return yields[yields["geo_id"].isin(geos) & yields["season_year"].isin(list(seasons))]


def fit_detrender(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], fold: Fold) -> LinearTrend:
    """Per-geo trend from the fold's training seasons only."""
    train = _rows(data.yields, geos, fold.train_seasons)
    return LinearTrend.fit(train, start_year=cfg.detrend.start_year, min_seasons=cfg.detrend.min_seasons)


def design_frame(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], seasons,
                 detrender: LinearTrend) -> pd.DataFrame:
    """Rows `geo_id, season_year, target, area, trend, residual, <features>` for the seasons asked.

    Geo-seasons with no yield row are dropped: there is nothing to train on or score there.
    """
    rows = _rows(data.yields, geos, seasons)
    frame = rows.merge(season_feature_table(data, cfg, geos), on=KEYS, how="left")
    frame.insert(4, "trend", detrender.trend(frame["geo_id"], frame["season_year"]))
    frame.insert(5, "residual", frame["target"] - frame["trend"])
    return frame  # numbered 0..n-1 by the merge (`reset_index` copied every row again)


def fit_fill_values(cfg: ExperimentConfig, train: pd.DataFrame) -> pd.DataFrame:
    return _fit_fill_values(train, feature_columns(cfg))


def fit_model(cfg: ExperimentConfig, spec: ModelSpec, inputs: pd.DataFrame) -> TrainedModel:
    """A base model on the fold's training rows as the models see them (`model_inputs`, built once
    for all of a fold's models), on the feature groups its spec names: the one training entry
    point for every model."""
    columns = spec.columns(model_feature_columns(cfg))
    return train_one(spec.plugin, inputs[columns], inputs["residual"], spec.params, alias=spec.name)


def predictions(model: TrainedModel, frame: pd.DataFrame, inputs: pd.DataFrame, fold: Fold) -> pd.DataFrame:
    """Predictions for the rows of `frame` (`inputs`: as the models see them): trend + predicted
    residual, beside the actual target."""
    return prediction_frame(frame, model.predict(inputs), model.name, fold.name)


def searched(cfg: ExperimentConfig, spec: ModelSpec, inputs: pd.DataFrame) -> tuple[ModelSpec, dict | None]:
    """`spec`, its params tuned inside the training seasons (`inputs`: their rows as the models see
    them) when the config asks to search it."""
    if spec.name not in cfg.search.models:
        return spec, None
    from hindcast_assets.core.search import search_params

    s = cfg.search
    params, summary = search_params(spec.plugin, spec.params, inputs, spec.columns(model_feature_columns(cfg)),
                                    s.trials, s.validation_seasons)
    return spec.with_params(params), summary
