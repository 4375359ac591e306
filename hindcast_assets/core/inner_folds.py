"""National residuals from inside a fold's training seasons, for honest national intervals.

A national interval calibrated on earlier folds' national residuals has one residual per earlier
test season: none for the first folds, too few for a 90 % quantile for years. Inside a fold's
training seasons there are many more: split them into K contiguous blocks, refit the fold's
chain (detrender, fill values, the experiment's model members) without each block, and predict
the block's seasons as they were known at the end of the season and at every init date. Every
season before the test season then has one out-of-block national residual (the K-fold
cross-validation residuals of CV+, Barber et al. 2021, used here as split-conformal scores:
`benchmarks/national_interval_study.py` measured both), and the fold never sees its test season
or anything after it. Refits use the configured params (no `search`), and no bias correction.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hindcast_assets.config import ExperimentConfig, ModelSpec
from hindcast_assets.core import hindcast as hc
from hindcast_assets.core.aggregate import national_rows
from hindcast_assets.core.data import ExperimentData
from hindcast_assets.core.features import model_inputs
from hindcast_assets.core.ensembles import EnsembleModel, fit_ensemble
from hindcast_assets.core.predictions import FoldModels, with_actual
from hindcast_assets.core.splits import Fold

END_OF_SEASON = "end"  # the init_md label of rows built with the end-of-season features (features.as_of)


def uses_inner_folds(cfg: ExperimentConfig) -> bool:
    """National intervals from inner refits: configured, and there is a national scope (areas)."""
    return cfg.conformal.national_residuals == "inner_folds" and cfg.has_area


def season_blocks(seasons, k: int) -> list[tuple[int, ...]]:
    """`seasons` in at most `k` contiguous blocks of near-equal size, in order."""
    return [tuple(int(s) for s in b) for b in np.array_split(np.asarray(sorted(seasons)), min(k, len(seasons)))
            if len(b)]


def members(cfg: ExperimentConfig) -> dict[str, ModelSpec]:
    """The base models the experiment's model is made of."""
    spec = cfg.ensembles.get(cfg.model.name)
    names = spec.members if spec else [cfg.model.name]
    return {n: cfg.model_specs[n] for n in names}


def combiner(cfg: ExperimentConfig) -> EnsembleModel | None:
    """How the refits combine their members: the experiment's ensemble with equal weights (a
    stack's weights come from every earlier fold, which would hold each fold back for all of
    them); None when the experiment's model is a single base model."""
    spec = cfg.ensembles.get(cfg.model.name)
    return fit_ensemble(cfg.model.name, spec, pd.DataFrame(), 0) if spec else None


def refit_without(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], fold: Fold,
                  block: tuple[int, ...], combine: EnsembleModel | None) -> FoldModels:
    """The fold's chain refitted on its training seasons less `block` (no bias correction: its
    corrector is fitted on test seasons the block may hold). `combine`: the ensemble that combines
    the members (None: the experiment's model is a single base model)."""
    name = f"{fold.name}-without-{block[0]}-{block[-1]}" if block else fold.name
    inner = Fold(name, tuple(s for s in fold.train_seasons if s not in block), fold.test_season)
    trend = hc.fit_detrender(cfg, data, geos, inner)
    train = hc.design_frame(cfg, data, geos, inner.train_seasons, trend)
    return fitted_models(cfg, inner.name, trend, train, hc.fit_fill_values(cfg, train), combine)


def fitted_models(cfg: ExperimentConfig, name: str, trend, train: pd.DataFrame, fill: pd.DataFrame,
                  combine: EnsembleModel | None) -> FoldModels:
    """The experiment's members fitted on the design rows `train`, combined by `combine` (None: the
    experiment's model is a single base model), with no bias correction."""
    inputs = model_inputs(cfg, train, fill)
    fitted = {n: hc.fit_model(cfg, spec, inputs) for n, spec in members(cfg).items()}
    model = combine if combine is not None else fitted[cfg.model.name]
    return FoldModels(name, trend, fill, model, fitted if combine is not None else {})


def block_rows(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], seasons: list[int],
               trend, features_by_init) -> pd.DataFrame:
    """Feature rows of `seasons`: end of season, and at each init date if the experiment has them."""
    end = hc.design_frame(cfg, data, geos, seasons, trend).assign(init_md=END_OF_SEASON, init_date=END_OF_SEASON)
    init_rows = [features_by_init(s) for s in seasons] if features_by_init else []
    return pd.concat([end, *init_rows], ignore_index=True)


def geo_predictions(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], models: FoldModels,
                    seasons: list[int], features_by_init) -> pd.DataFrame:
    """Geo rows `init_md, geo_id, season_year, prediction, actual, ...` of `seasons` by `models`, at
    the end of the season and at each init date (`features_by_init`, None for none)."""
    rows = block_rows(cfg, data, geos, seasons, models.detrender, features_by_init)
    return with_actual(models.predict(cfg, rows), data.yields).assign(init_md=rows["init_md"].to_numpy())


def area_rule(cfg: ExperimentConfig, init_md: str) -> str:
    """The area weights of a national figure: the configured ones at the end of the season, the
    previous season's at an init date (what a forecaster has in season)."""
    return cfg.aggregation.area if init_md == END_OF_SEASON else "previous"


def national_of(cfg: ExperimentConfig, geo: pd.DataFrame, yields: pd.DataFrame) -> pd.DataFrame:
    """National rows `init_md, season_year, prediction, actual` of `geo_predictions` rows, each
    init date's weighted by its `area_rule`."""
    end, by = geo["init_md"] == END_OF_SEASON, ("init_md", "season_year")
    parts = [part for part in (geo[end], geo[~end]) if len(part)]
    frames = [national_rows(part, yields, area_rule(cfg, part["init_md"].iloc[0]), by=by) for part in parts]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*by, "prediction", "actual"])


def national_predictions(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], models: FoldModels,
                         seasons: list[int], features_by_init) -> pd.DataFrame:
    """National rows of `seasons` by `models` (`national_of` their `geo_predictions`)."""
    return national_of(cfg, geo_predictions(cfg, data, geos, models, seasons, features_by_init), data.yields)


def block_national(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], fold: Fold,
                   block: tuple[int, ...], combine: EnsembleModel | None, features_by_init,
                   with_test: bool = False) -> pd.DataFrame:
    """National rows of `block`'s seasons (`held_out`), and `with_test` of the test season, by the
    fold's chain refitted without `block`: one of `national_by_block`'s pieces, independent of the
    others (so they can run side by side)."""
    models = refit_without(cfg, data, geos, fold, block, combine)
    test = [fold.test_season] if with_test and not fold.is_production else []
    national = national_predictions(cfg, data, geos, models, [*block, *test], features_by_init)
    return national.assign(block=f"{block[0]}-{block[-1]}", held_out=national["season_year"].isin(block))


def stacked_blocks(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """`block_national` frames as one, held-out rows first, by init date and season."""
    out = pd.concat(frames, ignore_index=True)
    return out[["init_md", "season_year", "actual", "prediction", "block", "held_out"]].sort_values(
        ["held_out", "init_md", "season_year"], ascending=[False, True, True], kind="stable").reset_index(drop=True)


def national_by_block(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], fold: Fold, k: int,
                      combine: EnsembleModel | None, features_by_init, with_test: bool = False) -> pd.DataFrame:
    """National rows `init_md, season_year, actual, prediction, block, held_out` of every training
    season of `fold`, each predicted by the refit without its block (`held_out`), and `with_test`
    of the test season by every refit too (for CV+; then the rows depend on the test season).
    `features_by_init(season)`: the season's feature rows at each init date (None when the
    experiment has none)."""
    return stacked_blocks([block_national(cfg, data, geos, fold, block, combine, features_by_init, with_test)
                           for block in season_blocks(fold.train_seasons, k)])
