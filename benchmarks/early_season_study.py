"""Early-season skill (issue 14): three ways to predict a season at an init date, by each walk-forward
fold's own fits, scored against the fold's trend over the test seasons.

    python benchmarks/early_season_study.py [config] [--init-dates 06-01 07-01 ...]

- `fill`: what the pipeline does. The end-of-season models; months not yet known take the fold's
  fill values (each geo's training climatology).
- `scenarios`: the end-of-season models; months not yet known take each training season's own
  values of the geo in turn, and the predictions are averaged (no Jensen gap from a non-linear
  model evaluated at the mean weather).
- `masked models`: per-init-date models, fitted on the training seasons' rows as they were known
  at the init date (unknown months filled as at prediction).
- `fill, best scale in hindsight`: not a forecast but a bound: the `fill` residuals times the one
  factor per init date that minimises the state RMSE over the test seasons' own outcomes. No way
  of shrinking or stretching the fill forecast toward or away from trend can do better.

No bias correction in any, so the rows compare the three ways and not the corrector. A fold uses
only seasons before its test season.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hindcast_assets.config import ExperimentConfig, feature_columns, load_config  # noqa: E402
from hindcast_assets.core import hindcast as hc  # noqa: E402
from hindcast_assets.core import inner_folds  # noqa: E402
from hindcast_assets.core.aggregate import national_rows  # noqa: E402
from hindcast_assets.core.data import ExperimentData, load_experiment_data  # noqa: E402
from hindcast_assets.core.geos import included_geos  # noqa: E402
from hindcast_assets.core.metrics import rmse  # noqa: E402
from hindcast_assets.core.predictions import FoldModels  # noqa: E402
from hindcast_assets.core.skill_by_init import features_by_init_date  # noqa: E402

WAYS = ("trend", "fill", "fill, best scale in hindsight", "scenarios", "masked models")


def residuals(cfg: ExperimentConfig, models: FoldModels, rows: pd.DataFrame) -> np.ndarray:
    """The predicted residual of each row, as the pipeline's fold models predict it."""
    return models.predict(cfg, rows)["pred_residual"].to_numpy(float)


def scenario_residuals(cfg: ExperimentConfig, models: FoldModels, rows: pd.DataFrame,
                       train: pd.DataFrame) -> np.ndarray:
    """Per row of `rows`, the mean predicted residual over the training seasons' weather as the
    scenarios of the months not yet known."""
    columns = feature_columns(cfg)
    scenarios = rows.drop(columns=columns).merge(train[["geo_id", *columns]], on="geo_id")
    known = rows.set_index("geo_id")[columns]
    for c in columns:
        scenarios[c] = scenarios["geo_id"].map(known[c]).fillna(scenarios[c])
    mean = pd.Series(residuals(cfg, models, scenarios)).groupby(scenarios["geo_id"].to_numpy()).mean()
    return rows["geo_id"].map(mean).to_numpy(float)


def at_init(rows: pd.DataFrame, md: str) -> pd.DataFrame:
    return rows[rows["init_md"] == md].reset_index(drop=True)


def fold_rows(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], season: int,
              init_dates: list[str]) -> pd.DataFrame:
    """The test season's geo rows at each init date, predicted the three ways."""
    fold = hc.fold_of(cfg, data.yields, str(season))
    trend = hc.fit_detrender(cfg, data, geos, fold)
    train = hc.design_frame(cfg, data, geos, fold.train_seasons, trend)
    fill = hc.fit_fill_values(cfg, train)
    combine = inner_folds.combiner(cfg)
    models = inner_folds.fitted_models(cfg, fold.name, trend, train, fill, combine)
    test = features_by_init_date(cfg, data, geos, season)
    out = []
    for md in init_dates:
        rows = at_init(test, md)
        rows = rows.assign(trend=trend.trend(rows["geo_id"], rows["season_year"]))
        masked = pd.concat([at_init(features_by_init_date(cfg, data, geos, s), md) for s in fold.train_seasons],
                           ignore_index=True)
        masked = masked.merge(train[["geo_id", "season_year", "residual"]], on=["geo_id", "season_year"])
        masked_models = inner_folds.fitted_models(cfg, fold.name, trend, masked, fill, combine)
        by_way = {"trend": 0.0, "fill": residuals(cfg, models, rows),
                  "scenarios": scenario_residuals(cfg, models, rows, train),
                  "masked models": residuals(cfg, masked_models, rows)}
        out += [rows[["geo_id", "season_year", "init_md", "trend"]].assign(way=way, prediction=rows["trend"] + r)
                for way, r in by_way.items()]
    return pd.concat(out, ignore_index=True)


def best_scale_in_hindsight(geo: pd.DataFrame) -> pd.DataFrame:
    """The `fill` rows with their residual scaled per init date by the least-squares factor against
    the actual residuals (sum r * (y - trend) / sum r^2): a bound, fitted on the outcomes."""
    fill = geo[geo["way"] == "fill"]
    r, y = fill["prediction"] - fill["trend"], fill["actual"] - fill["trend"]
    scale = (r * y).groupby(fill["init_md"]).sum() / (r * r).groupby(fill["init_md"]).sum()
    print("best scale in hindsight per init date:", scale.round(2).to_dict())
    return fill.assign(way=WAYS[2], prediction=fill["trend"] + r * fill["init_md"].map(scale))


def scores(cfg: ExperimentConfig, data: ExperimentData, geo: pd.DataFrame) -> pd.DataFrame:
    """State and national RMSE per init date and way (national with the previous season's areas,
    as in season)."""
    geo = geo.merge(data.yields[["geo_id", "season_year", "target"]].rename(columns={"target": "actual"}),
                    on=["geo_id", "season_year"])
    geo = pd.concat([geo, best_scale_in_hindsight(geo)], ignore_index=True)
    national = national_rows(geo, data.yields, "previous", by=("init_md", "way", "season_year"))
    state = geo.groupby(["init_md", "way"])[["actual", "prediction"]].apply(lambda g: rmse(g["actual"], g["prediction"]))
    nat = national.groupby(["init_md", "way"])[["actual", "prediction"]].apply(lambda g: rmse(g["actual"], g["prediction"]))
    table = pd.DataFrame({"state_rmse": state, "national_rmse": nat}).reset_index()
    table["way"] = pd.Categorical(table["way"], WAYS)
    return table.sort_values(["init_md", "way"]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "corn_usa.yaml"))
    parser.add_argument("--init-dates", nargs="*", default=["06-01", "07-01", "08-01"])
    args = parser.parse_args()
    cfg = load_config(args.config)
    data = load_experiment_data(cfg)
    geos = included_geos(data.yields, cfg.geos, cfg.hindcast.first_test_year)
    started = time.perf_counter()
    geo = pd.concat([fold_rows(cfg, data, geos, s, args.init_dates) for s in cfg.hindcast.test_years],
                    ignore_index=True)
    print(scores(cfg, data, geo).to_markdown(index=False, floatfmt=".2f"))
    print(f"{len(cfg.hindcast.test_years)} folds in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
