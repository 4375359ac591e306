"""The rules between the config and its inputs, declared once: the CLI preflight runs them before
anything is written, and the yields input's blocking `valid` check runs them before a UI run
reads anything. Each input's own rules (schema, keys, finite, plausible, dated) are in
`core/data.py`; these are the ones that need several inputs or the config's folds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import (ExperimentData, InputError, geo_names, load_experiment_data, load_input,
                                      scored_seasons)
from hindcast_assets.core.feature_names import monthly_feature_names
from hindcast_assets.core.features import KEYS, season_feature_table
from hindcast_assets.core.geos import experiment_geos
from hindcast_assets.core.hindcast import fold_of, modelled_seasons


def check_experiment(cfg: ExperimentConfig, source: str) -> None:
    """Every input valid and every rule between them kept; an InputError names the first broken."""
    data = load_experiment_data(cfg)
    for name in ("references", "yardstick"):
        load_input(cfg, name)
    geo_names(cfg)  # one name per geo: the reports name geos by it
    geos = experiment_geos(cfg, data.yields)
    _test_seasons_scored(cfg, data, source)
    _first_fold_trains(cfg, data, source)
    _test_seasons_weighted(cfg, data, geos)
    _features_cover(cfg, data, geos)


def experiment_problem(cfg: ExperimentConfig, source: str) -> str | None:
    """The message of the first broken rule, or None (the input checks' form)."""
    try:
        check_experiment(cfg, source)
    except InputError as exc:
        return str(exc)
    return None


def _test_seasons_scored(cfg: ExperimentConfig, data: ExperimentData, source: str) -> None:
    scored = scored_seasons(data.yields)
    unscored = [y for y in cfg.hindcast.test_years if y not in scored]
    if unscored:
        raise InputError(f"{source}: hindcast.last_test_year: test seasons {unscored[0]}-{unscored[-1]} have no "
                         f"yields in {cfg.inputs.yields} (its last season is {max(scored)})")


def _first_fold_trains(cfg: ExperimentConfig, data: ExperimentData, source: str) -> None:
    """The first fold has the seasons a trend needs: with fewer than `detrend.min_seasons` no geo
    gets a slope of its own and the trend would be flat, silently."""
    first = fold_of(cfg, data.yields, str(cfg.hindcast.first_test_year))
    needed = max(2, cfg.detrend.min_seasons)
    if len(first.train_seasons) < needed:
        since = f" from detrend.start_year {cfg.detrend.start_year}" if cfg.detrend.start_year else ""
        raise InputError(f"{source}: hindcast.first_test_year: fold {first.name} has {len(first.train_seasons)} "
                         f"training seasons{since}, fewer than detrend.min_seasons ({needed}); "
                         "start the test seasons later")


def _test_seasons_weighted(cfg: ExperimentConfig, data: ExperimentData, geos: list[str]) -> None:
    """Every test season has some area among the included geos: with none, its national figure
    (and the delivery's NATIONAL row) would be empty."""
    if not cfg.has_area:
        return
    rows = data.yields[data.yields["geo_id"].isin(geos) & data.yields["season_year"].isin(cfg.hindcast.test_years)]
    area = rows.groupby("season_year")["area"].sum(min_count=1)
    empty = [int(s) for s, a in area.items() if not a > 0]
    if empty:
        key = "columns.area" if cfg.columns.area else "inputs.weights"
        where = cfg.inputs.yields if cfg.columns.area else cfg.inputs.weights
        raise InputError(f"{where}: {key}: test season {empty[0]} has no area among the included geos "
                         f"({len(empty)} seasons); its national figure would be empty")


def feature_gaps(cfg: ExperimentConfig, data: ExperimentData, geos: list[str]) -> pd.DataFrame:
    """`geo_id, season_year, feature` for each weather (monthly variable) or static feature an
    included geo lacks in a season it has a yield in, from the detrending start on (every fold,
    production included, trains or tests on those rows)."""
    f = cfg.features
    needed = monthly_feature_names(f.variables, f.months) + list(f.static)
    if not needed:
        return pd.DataFrame({"geo_id": [], "season_year": [], "feature": []})
    seasons = modelled_seasons(data.yields, cfg)
    have = data.yields.loc[data.yields["geo_id"].isin(geos) & data.yields["season_year"].isin(seasons), KEYS]
    features = season_feature_table(data, cfg, geos)
    # each row's position in the wide table (-1: none) and the table's missing cells, a column at a
    # time: merging the table and melting it held copies of it (GBs at 10,000 county geos) to keep
    # the few per cent missing
    table = have.merge(features[KEYS].assign(position=np.arange(len(features))), on=KEYS, how="left")
    at = table["position"].fillna(-1).to_numpy(np.int64)
    missing = np.vstack([np.column_stack([features[c].isna().to_numpy() for c in needed]),
                         np.ones((1, len(needed)), dtype=bool)])  # the last row: a row the table lacks
    row, column = np.nonzero(missing[at])
    gaps = pd.DataFrame({k: table[k].to_numpy()[row] for k in KEYS} | {"feature": np.array(needed, dtype=object)[column]})
    order = {name: i for i, name in enumerate(needed)}
    return gaps.sort_values(KEYS + ["feature"], key=lambda c: c.map(order) if c.name == "feature" else c,
                            ignore_index=True)


def _features_cover(cfg: ExperimentConfig, data: ExperimentData, geos: list[str]) -> None:
    """Every included geo has its weather and static features for every season it is trained or
    tested on, unless `features.fill_gaps` says to fill them (the report then lists them): a gap
    would otherwise take the fill value without a word."""
    if cfg.features.fill_gaps:
        return
    gaps = feature_gaps(cfg, data, geos)
    if len(gaps):
        at, f = gaps.iloc[0], cfg.features
        url, key = ((cfg.inputs.static_features, "features.static") if at.feature in f.static
                    else (cfg.inputs.indices, "features.variables"))
        n = len(gaps[KEYS].drop_duplicates())
        raise InputError(f"{url}: {key}: geo_id={at.geo_id} has no {at.feature} in season {int(at.season_year)} "
                         f"({n} geo-seasons with a gap); every included geo needs its features for each season it "
                         "has a yield in, or set features.fill_gaps: true to fill them (the report lists them)")
