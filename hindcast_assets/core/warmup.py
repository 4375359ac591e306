"""Walk-forward predictions of the seasons just before the first test season, for intervals only.

Geo intervals are calibrated on earlier folds' residuals (pooled over geos), so the first
`conformal.min_folds` test seasons had none (corn_usa: 1990-94, 115 of 506 state-seasons). The
fold chain walked forward over the `conformal.warmup_seasons` seasons before the first test
season, each predicted by a refit on the seasons before it as a test season is, gives them
residuals of the same kind without touching a test season. They stand in only until a fold has
`min_folds` earlier ones: kept in every pool, a warm-up holding a shock (corn_usa_county: 1993)
widened every later interval. Residuals from inside the training seasons would not do: a
held-out block has a trend fitted on both sides of it and under-covers. Both measured by
`benchmarks/geo_interval_study.py`. Not used for bias correction: measured, it made corn_usa
worse (state / national RMSE 13.26 / 8.28 -> 13.30 / 8.36).
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import hindcast as hc
from hindcast_assets.core import inner_folds
from hindcast_assets.core.data import ExperimentData
from hindcast_assets.core.splits import Fold

GEO_COLUMNS = ["init_md", "geo_id", "season_year", "actual", "prediction"]


@dataclass(frozen=True)
class Warmup:
    """The warm-up seasons' rows `init_md, season_year, actual, prediction` per scope (None: none)."""
    geo: pd.DataFrame | None
    national: pd.DataFrame | None

    def at(self, init_md: str) -> Warmup:
        """The rows of one init month-day (`inner_folds.END_OF_SEASON` for the end of the season)."""
        return Warmup(*(None if f is None else f[f["init_md"] == init_md] for f in (self.geo, self.national)))


NO_WARMUP = Warmup(None, None)


def has_warmup(cfg: ExperimentConfig) -> bool:
    return cfg.conformal.warmup_seasons > 0


def warmup_folds(cfg: ExperimentConfig, yields: pd.DataFrame) -> list[Fold]:
    """Folds of the last `conformal.warmup_seasons` modelled seasons before the first test season,
    each with at least `detrend.min_seasons` training seasons (fewer: no trend worth scoring)."""
    n = cfg.conformal.warmup_seasons
    before = [s for s in hc.modelled_seasons(yields, cfg) if s < cfg.hindcast.first_test_year]
    folds = [hc.fold_of(cfg, yields, str(s)) for s in before]
    usable = [f for f in folds if len(f.train_seasons) >= cfg.detrend.min_seasons]
    return usable[-n:] if n else []


def warmup_predictions(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], features_by_init) -> Warmup:
    """Geo rows `GEO_COLUMNS` and national rows of the warm-up seasons at the end of the season
    and at each init date (`features_by_init(season)`, None for none), each season by the fold
    chain refitted on the seasons before it (members blended as in `inner_folds`, no bias
    correction)."""
    combine = inner_folds.combiner(cfg)
    parts = [inner_folds.geo_predictions(cfg, data, geos, inner_folds.refit_without(cfg, data, geos, f, (), combine),
                                         [f.test_season], features_by_init)[GEO_COLUMNS]
             for f in warmup_folds(cfg, data.yields)]
    geo = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=GEO_COLUMNS)
    return Warmup(geo, inner_folds.national_of(cfg, geo, data.yields))
