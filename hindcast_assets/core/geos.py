"""Which geos an experiment models: enough history and a material share of the area."""
from __future__ import annotations

import pandas as pd

from hindcast_assets.config import ExperimentConfig, GeoRule
from hindcast_assets.core.data import InputError


def included_geos(yields: pd.DataFrame, rule: GeoRule, before_season: int) -> list[str]:
    """Geos with `min_seasons` seasons of target before `before_season` and at least
    `min_area_share` of the total area over the last `judged_on_last_seasons` of those seasons.

    Judged only on seasons before the first test season, so no test season picks the geos.
    """
    past = yields[(yields["season_year"] < before_season) & yields["target"].notna()]
    counts = past.groupby("geo_id")["season_year"].nunique()
    keep = counts >= rule.min_seasons
    if rule.min_area_share > 0:  # (a config without areas has none: see ExperimentConfig)
        recent_seasons = sorted(past["season_year"].unique())[-rule.judged_on_last_seasons:]
        recent = past[past["season_year"].isin(recent_seasons)]
        share = recent.groupby("geo_id")["area"].sum() / recent["area"].sum()
        keep &= share.reindex(counts.index, fill_value=0.0) >= rule.min_area_share
    return sorted(counts[keep].index)


def experiment_geos(cfg: ExperimentConfig, yields: pd.DataFrame) -> list[str]:
    """The geos the experiment models (`included_geos` before its first test season); an
    InputError naming the yields when none passes, for the preflight and the stage alike."""
    chosen = included_geos(yields, cfg.geos, cfg.hindcast.first_test_year)
    if not chosen:
        raise InputError(f"{cfg.inputs.yields}: geos: no geo passes the inclusion rule before "
                         f"{cfg.hindcast.first_test_year}")
    return chosen
