"""Synthetic county-scale inputs with the schema of the bundled real data, for benchmarks.

`write_synthetic(folder, n_geos=3000, ...)` writes `yields.parquet` (geo_id, geo_name,
season_year, yield_bu_per_acre, harvested_acres), `indices.parquet` (geo_id, date, variable,
value: monthly values dated at month end, like NOAA nClimDiv); `write_config` writes an
experiment config over them. Seeded, so every size is reproducible.

What makes it realistic enough to time: geos nested in states with skewed areas; per-geo trends
with a break (the 1990s slope change of US corn); a yield departure driven by a few of the
monthly predictors (a heat-stress hinge, a rain optimum) plus noise; predictors with geo
climates, seasonal cycles and shared state weather; some values missing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

VARIABLES = ("tavg", "tmax", "tmin", "prcp", "pdsi", "vpd", "srad", "soilm", "wind", "rhum")
MONTHS = (4, 5, 6, 7, 8, 9)  # 10 variables x 6 months = 60 predictors
AS_OF = "10-01"


def _geos(rng: np.random.Generator, n_geos: int, n_states: int) -> pd.DataFrame:
    state = np.sort(rng.integers(0, n_states, n_geos))
    return pd.DataFrame({
        "geo_id": [f"S{s:02d}-{i:05d}" for i, s in enumerate(state)],
        "state": state,
        "base_area": rng.lognormal(10.5, 1.0, n_geos),
        "base_yield": rng.normal(80, 12, n_geos).clip(30),
        "slope_early": rng.normal(1.2, 0.3, n_geos),
        "slope_late": rng.normal(2.0, 0.4, n_geos),
        "break_year": rng.integers(1985, 1996, n_geos),
    })


def _weather(rng: np.random.Generator, geos: pd.DataFrame, seasons: np.ndarray) -> np.ndarray:
    """(geo, season, variable, month) array: geo climate + seasonal cycle + state and local weather."""
    n_g, n_s, n_v, n_m = len(geos), len(seasons), len(VARIABLES), len(MONTHS)
    n_states = int(geos["state"].max()) + 1
    climate = rng.normal(0, 1, (n_g, 1, n_v, 1))
    cycle = np.sin(np.linspace(0, np.pi, n_m))[None, None, None, :] * rng.normal(1, 0.2, (1, 1, n_v, 1))
    state_weather = rng.normal(0, 1, (n_states, n_s, n_v, n_m))[geos["state"].to_numpy()]
    local = rng.normal(0, 0.5, (n_g, n_s, n_v, n_m))
    return (climate + cycle + state_weather + local).astype(np.float64)


def _yields(rng: np.random.Generator, geos: pd.DataFrame, seasons: np.ndarray, weather: np.ndarray) -> np.ndarray:
    """Trend with a break plus a weather signal: heat in July-August hurts, rain near normal helps."""
    years = seasons[None, :] - 1970
    brk = geos["break_year"].to_numpy()[:, None] - 1970
    trend = (geos["base_yield"].to_numpy()[:, None] + geos["slope_early"].to_numpy()[:, None] * np.minimum(years, brk)
             + geos["slope_late"].to_numpy()[:, None] * np.maximum(years - brk, 0))
    v, m = VARIABLES.index, MONTHS.index
    heat = np.maximum(weather[:, :, v("tmax"), m(7)] - 0.5, 0) + np.maximum(weather[:, :, v("tmax"), m(8)] - 0.5, 0)
    rain = -(weather[:, :, v("prcp"), m(7)] ** 2) + 0.5 * weather[:, :, v("soilm"), m(6)]
    signal = -9.0 * heat + 3.0 * rain
    # a ruined season keeps 40 % of its trend: a floor of 5 bu/acre left a few very hot geos at 5 most
    # years, and the inputs' plausibility rule (issue 29) refused the 3,000-geo set
    return np.maximum(trend + signal + rng.normal(0, 6, trend.shape), 0.4 * trend)


def synthetic_frames(n_geos: int = 3000, n_seasons: int = 40, n_states: int = 12, missing: float = 0.01,
                     seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(yields, indices) frames in the real inputs' schema."""
    rng = np.random.default_rng(seed)
    seasons = np.arange(1972, 1972 + n_seasons)
    geos = _geos(rng, n_geos, n_states)
    weather = _weather(rng, geos, seasons)
    target = _yields(rng, geos, seasons, weather)
    area = geos["base_area"].to_numpy()[:, None] * rng.lognormal(0, 0.1, target.shape)
    yields = pd.DataFrame({
        "geo_id": np.repeat(geos["geo_id"].to_numpy(), len(seasons)),
        "geo_name": np.repeat(geos["geo_id"].to_numpy(), len(seasons)),
        "season_year": np.tile(seasons, n_geos).astype("int64"),
        "yield_bu_per_acre": target.ravel().round(1),
        "harvested_acres": area.ravel().round(-1),
    })
    g, s, vi, mi = np.meshgrid(np.arange(n_geos), np.arange(len(seasons)), np.arange(len(VARIABLES)),
                               np.arange(len(MONTHS)), indexing="ij")
    month_end = pd.to_datetime({"year": seasons[s.ravel()], "month": np.array(MONTHS)[mi.ravel()], "day": 1}) \
        + pd.offsets.MonthEnd(0)
    indices = pd.DataFrame({"geo_id": geos["geo_id"].to_numpy()[g.ravel()], "date": month_end.to_numpy(),
                            "variable": np.array(VARIABLES)[vi.ravel()], "value": weather.ravel().round(3)})
    yields = yields[rng.random(len(yields)) >= missing].reset_index(drop=True)
    indices = indices[rng.random(len(indices)) >= missing].reset_index(drop=True)
    return yields, indices


# Lighter than the shipped default (300 rounds): keeps `make bench` under 20 minutes, and makes the
# orchestration-overhead bar harder to meet, not easier (less model time to hide overhead in).
BENCH_MODEL_PARAMS = {"num_boost_round": 100}


def synthetic_config(folder: str, n_folds: int, n_seasons: int = 40, threads: int = 1) -> dict:
    last = 1972 + n_seasons - 1
    return {
        "experiment_key": "synthetic", "unit": "bu/acre",
        "description": "Synthetic county-scale benchmark data (benchmarks/synthetic.py)",
        "inputs": {"yields": f"{folder}/yields.parquet", "indices": f"{folder}/indices.parquet"},
        "columns": {"target": "yield_bu_per_acre", "area": "harvested_acres"},
        "geos": {"min_seasons": 10, "min_area_share": 0.0},
        "detrend": {"start_year": 1972, "min_seasons": 10},
        "features": {"as_of": AS_OF, "months": list(MONTHS), "variables": list(VARIABLES), "anomalies": False,
                     "fill_gaps": True},  # its weather has gaps on purpose (see the module docstring)
        "model": {"name": "lightgbm", "params": {**BENCH_MODEL_PARAMS, "num_threads": threads}},
        "bias_correction": {"enabled": True},
        # the orchestration figures keep issue 13's workload; the inner refits' cost is measured
        # by benchmarks/skill_study.py
        "conformal": {"national_residuals": "earlier_folds"},
        "hindcast": {"first_test_year": last - n_folds + 1, "last_test_year": last},
    }


def write_synthetic(folder: str | Path, n_geos: int = 3000, n_seasons: int = 40, seed: int = 0) -> Path:
    """Write the inputs (yields.parquet, indices.parquet) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    yields, indices = synthetic_frames(n_geos, n_seasons, seed=seed)
    yields.to_parquet(folder / "yields.parquet", index=False)
    indices.to_parquet(folder / "indices.parquet", index=False)
    return folder


def write_config(folder: str | Path, name: str, n_folds: int, n_seasons: int = 40, threads: int = 1) -> Path:
    """An experiment over the synthetic inputs in `folder`: `n_folds` test seasons ending at the last."""
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(synthetic_config(str(folder), n_folds, n_seasons, threads), sort_keys=False))
    return path
