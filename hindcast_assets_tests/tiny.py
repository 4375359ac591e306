"""A tiny synthetic experiment in corn_usa's input layout, for tests of behaviour rather than skill.

Four states, yields 1975-2012 and the live season 2013 (weather to September, condition to
October, USDA's national forecasts and estimate), made by a known rule: a linear trend per state,
hotter Julys cost yield, a better August condition adds some, plus seeded noise. A full hindcast
of it (three test seasons and production) takes seconds, a real corn_usa one minutes; the
stages, files and checks are the same, so run_dir layout, records, sensors, backfills, reuse and
the scale-out paths are tested on it. Skill and the real data's own quirks are tested on
corn_usa (`input_dir`, `small_config`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

# geo_id: (name, harvested acres, yield in 1975, bu/acre a season)
STATES = {"US-17": ("Illinois", 11.0e6, 95.0, 1.9), "US-19": ("Iowa", 12.5e6, 100.0, 2.0),
          "US-31": ("Nebraska", 8.5e6, 90.0, 1.8), "US-01": ("Alabama", 0.3e6, 60.0, 1.2)}
BELT = ["US-17", "US-19", "US-31"]  # the states the condition index is made of (as corn_usa's 8 of 41)
FIRST_SEASON, LAST_FINAL, LIVE = 1975, 2012, 2013  # yields through LAST_FINAL; LIVE has weather only
VINTAGE = "synthetic-20131001"
FOLDER = "us_state_corn"  # corn_usa's input folder, so its config reads these files unchanged
HEAT_COST, CONDITION_GAIN, NOISE = 5.0, 0.6, 2.0  # bu/acre per degree of July tmax, per point of August cci


def _weather(rng: np.random.Generator) -> pd.DataFrame:
    """Monthly tavg/tmax/tmin (degC) and prcp (mm) per state, dated at each month's end, from the
    January before the first season to September of the live season."""
    months = pd.date_range(f"{FIRST_SEASON - 1}-01-31", f"{LIVE}-09-30", freq="ME")
    rows = []
    for geo in STATES:
        tavg = 12 - 14 * np.cos(2 * np.pi * (months.month.to_numpy() - 1) / 12) + rng.normal(0, 1.5, len(months))
        prcp = 80 + 20 * np.sin(2 * np.pi * months.month.to_numpy() / 12) + rng.normal(0, 15, len(months))
        for variable, values in {"tavg": tavg, "tmax": tavg + 6, "tmin": tavg - 6, "prcp": np.clip(prcp, 0, None)}.items():
            rows.append(pd.DataFrame({"geo_id": geo, "date": months, "variable": variable,
                                      "value": np.round(values, 2), "vintage": VINTAGE}))
    return pd.concat(rows, ignore_index=True)


def _condition(rng: np.random.Generator) -> pd.DataFrame:
    """The region's weekly crop condition (cci, ge_pct), June to early October, from 1986."""
    weeks = [d for s in range(1986, LIVE + 1) for d in pd.date_range(f"{s}-06-01", f"{s}-10-04", freq="W-SUN")]
    cci = np.round(68 + rng.normal(0, 4, len(weeks)), 2)
    return pd.concat([pd.DataFrame({"date": weeks, "variable": "cci", "value": cci}),
                      pd.DataFrame({"date": weeks, "variable": "ge_pct", "value": np.round(cci - 5, 2)})],
                     ignore_index=True)


def _yields(weather: pd.DataFrame, condition: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    july = weather[(weather["variable"] == "tmax") & (weather["date"].dt.month == 7)]
    heat = july.set_index(["geo_id", july["date"].dt.year])["value"]
    august = condition[(condition["variable"] == "cci") & (condition["date"].dt.month == 8)]
    cci = august.groupby(august["date"].dt.year)["value"].mean()
    rows = []
    for geo, (name, acres, start, slope) in STATES.items():
        for season in range(FIRST_SEASON, LIVE + 1):
            anomaly = heat[(geo, season)] - heat.xs(geo).mean()
            gain = CONDITION_GAIN * (cci.get(season, cci.mean()) - cci.mean())
            value = start + slope * (season - FIRST_SEASON) - HEAT_COST * anomaly + gain + rng.normal(0, NOISE)
            rows.append((geo, name, season, round(float(value), 1), acres * (1 + 0.01 * (season % 5))))
    return pd.DataFrame(rows, columns=["geo_id", "geo_name", "season_year", "yield_bu_per_acre", "harvested_acres"])


def _national(yields: pd.DataFrame) -> pd.Series:
    weighted = yields.assign(w=yields["yield_bu_per_acre"] * yields["harvested_acres"]).groupby("season_year")
    return (weighted["w"].sum() / weighted["harvested_acres"].sum()).round(1)


def _usda(national: pd.Series, rng: np.random.Generator) -> pd.DataFrame:
    """USDA-like national forecasts from 1995, closer to the final with each report."""
    rows = [(s, month, f"{s}-{i + 8:02d}-12", f"{i + 8:02d}-01", round(float(national[s] + rng.normal(0, 6 - 1.5 * i)), 1))
            for s in range(1995, LIVE + 1) for i, month in enumerate(["Aug", "Sep", "Oct", "Nov"])]
    return pd.DataFrame(rows, columns=["season_year", "report_month", "release_date", "init_md", "forecast"])


def write_inputs(root: Path, seed: int = 0) -> Path:
    """The tiny experiment's input files under `root/us_state_corn/` (corn_usa's layout); `root`."""
    rng = np.random.default_rng(seed)
    weather, condition = _weather(rng), _condition(rng)
    everything = _yields(weather, condition, rng)
    national = _national(everything)
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    everything[everything["season_year"] <= LAST_FINAL].to_parquet(folder / "yields.parquet", index=False)
    weather.to_parquet(folder / "indices.parquet", index=False)
    condition.to_parquet(folder / "crop_condition.parquet", index=False)
    pd.DataFrame({"season_year": national.index, "yield_bu_per_acre": national.to_numpy(),
                  "source": "acre-weighted synthetic state yields"}).to_parquet(folder / "national_reference.parquet",
                                                                                  index=False)
    _usda(national, rng).to_csv(folder / "usda_forecasts.csv", index=False)
    return root


# Three test seasons and production, LightGBM alone: what `small_config` is on the real data.
TINY = {"hindcast": {"first_test_year": 2009, "last_test_year": 2011}, "model": {"name": "lightgbm", "params": {}},
        "compare": {}, "ensembles": {}, "forecast": {"last_season_year": LIVE},
        "features": {"regional": {"variables": ["cci"], "geos": BELT}}}


# LightGBM at 10,000 rounds (about 1 s a fit here) and intervals without refits (national ones
# from earlier folds, no warm-up seasons): seconds of fits to kill or interrupt a run in
SLOW_FITS = {"model": {"name": "lightgbm", "params": {"num_boost_round": 10000}},
             "conformal": {"national_residuals": "earlier_folds", "warmup_seasons": 0}}

MODEL_SETS = ("compare", "ensembles")  # the tiny experiment's are its own: corn_usa's are not merged in


def write_config(folder: Path, **overrides) -> Path:
    """corn_usa's config for the tiny inputs (`TINY`, then `overrides` as `conftest.write_config`
    takes them; compared models and ensembles are TINY's or the overrides', never corn_usa's)."""
    from hindcast_assets_tests.conftest import merged, write_config as corn_usa_config

    raw = merged(TINY, overrides)
    return corn_usa_config(folder, **raw, replacing=MODEL_SETS)
