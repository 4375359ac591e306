"""National intervals from inner refits (issue 14): on synthetic data whose national noise is
known, the walk-forward intervals cover about as often as they say and are about as wide as the
noise makes them; the blocks are contiguous and never hold the test season. The warm-up seasons
before the first test season are walked forward on seasons before each only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.config import config_from_dict
from hindcast_assets.core import hindcast as hc
from hindcast_assets.core import inner_folds, warmup
from hindcast_assets.core.conformal import conformal_quantile
from hindcast_assets.core.data import load_experiment_data

SEASONS = np.arange(1920, 2012)
N_GEOS, COMMON_SD, LOCAL_SD = 8, 6.0, 2.0
NATIONAL_SD = float(np.hypot(COMMON_SD, LOCAL_SD / np.sqrt(N_GEOS)))  # equal areas: the mean of the geos


def _synthetic(folder) -> dict:
    """Trend + a known July rain effect + a season shock common to every geo + local noise."""
    rng = np.random.default_rng(7)
    geos = [f"G{i}" for i in range(N_GEOS)]
    rain = rng.normal(0, 1, (N_GEOS, len(SEASONS)))
    shock = rng.normal(0, COMMON_SD, len(SEASONS))
    yields = 100 + 1.5 * (SEASONS - 1920) + 5 * rain + shock + rng.normal(0, LOCAL_SD, rain.shape)
    pd.DataFrame({"geo_id": np.repeat(geos, len(SEASONS)), "season_year": np.tile(SEASONS, N_GEOS),
                  "yield": yields.ravel(), "area": 1000.0}).to_parquet(folder / "yields.parquet")
    pd.DataFrame({"geo_id": np.repeat(geos, len(SEASONS)), "variable": "prcp", "value": rain.ravel(),
                  "date": np.tile(pd.to_datetime([f"{s}-07-31" for s in SEASONS]), N_GEOS)}
                 ).to_parquet(folder / "indices.parquet")
    return {"experiment_key": "synthetic", "unit": "t/ha",
            "inputs": {"yields": str(folder / "yields.parquet"), "indices": str(folder / "indices.parquet")},
            "columns": {"target": "yield", "area": "area"}, "geos": {"min_seasons": 10},
            "detrend": {"start_year": 1920},
            "features": {"as_of": "10-01", "months": [7], "variables": ["prcp"], "anomalies": False},
            "model": {"name": "ridge", "params": {}}, "conformal": {"inner_blocks": 5},
            "hindcast": {"first_test_year": 1960, "last_test_year": 2011}}


def test_season_blocks_are_contiguous_and_cover_every_season_once():
    assert inner_folds.season_blocks(range(1970, 1981), 3) == [tuple(range(1970, 1974)), tuple(range(1974, 1978)),
                                                               tuple(range(1978, 1981))]
    assert inner_folds.season_blocks([1990, 1991], 5) == [(1990,), (1991,)]


def test_walk_forward_national_intervals_cover_at_their_level_on_known_noise(tmp_path):
    cfg = config_from_dict(_synthetic(tmp_path), str(tmp_path / "synthetic.yaml"))
    data = load_experiment_data(cfg)
    geos = sorted(data.yields["geo_id"].unique())
    inside, half_widths = {0.8: [], 0.9: []}, {0.8: [], 0.9: []}
    for name in cfg.test_folds:
        fold = hc.fold_of(cfg, data.yields, name)
        inner = inner_folds.national_by_block(cfg, data, geos, fold, cfg.conformal.inner_blocks, None, None)
        assert inner["held_out"].all() and inner["season_year"].max() < fold.test_season
        assert sorted(inner["season_year"]) == list(fold.train_seasons)  # one residual per training season
        models = inner_folds.refit_without(cfg, data, geos, fold, (), None)
        test = inner_folds.national_predictions(cfg, data, geos, models, [fold.test_season], None).iloc[0]
        for level in inside:
            q = conformal_quantile((inner["actual"] - inner["prediction"]).abs(), level)
            inside[level].append(abs(test["actual"] - test["prediction"]) <= q)
            half_widths[level].append(q)
    # 52 test seasons: a binomial count, so within about two standard errors of the level
    assert np.mean(inside[0.8]) == pytest.approx(0.8, abs=0.11)
    assert np.mean(inside[0.9]) == pytest.approx(0.9, abs=0.08)
    # as wide as the known national noise makes them (normal quantiles), give or take estimation
    assert np.mean(half_widths[0.8]) == pytest.approx(1.2816 * NATIONAL_SD, rel=0.2)
    assert np.mean(half_widths[0.9]) == pytest.approx(1.6449 * NATIONAL_SD, rel=0.2)


def test_the_warmup_walks_forward_over_the_seasons_before_the_first_test_season(tmp_path):
    raw = _synthetic(tmp_path)
    cfg = config_from_dict(raw, str(tmp_path / "synthetic.yaml"))
    data = load_experiment_data(cfg)
    folds = warmup.warmup_folds(cfg, data.yields)
    assert [f.test_season for f in folds] == [1955, 1956, 1957, 1958, 1959]  # conformal.warmup_seasons: 5
    assert all(f.train_seasons == tuple(range(1920, f.test_season)) for f in folds)  # only seasons before it
    raw["conformal"]["warmup_seasons"] = 100  # more than there are: from the first with detrend.min_seasons (10)
    assert warmup.warmup_folds(config_from_dict(raw, str(tmp_path / "s.yaml")), data.yields)[0].test_season == 1930
    raw["conformal"]["warmup_seasons"] = 0
    assert warmup.warmup_folds(config_from_dict(raw, str(tmp_path / "s.yaml")), data.yields) == []

    geos = sorted(data.yields["geo_id"].unique())
    warm = warmup.warmup_predictions(cfg, data, geos, None)
    geo, national = warm.geo, warm.national
    assert len(geo) == 5 * N_GEOS and set(geo["init_md"]) == {inner_folds.END_OF_SEASON}
    assert national["season_year"].tolist() == [1955, 1956, 1957, 1958, 1959]
    by_season = geo.groupby("season_year")[["prediction", "actual"]].mean()  # equal areas: the plain mean
    np.testing.assert_allclose(national[["prediction", "actual"]].to_numpy(), by_season.to_numpy())
