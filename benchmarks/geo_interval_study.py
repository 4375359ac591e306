"""Would state intervals gain from the inner refits as national ones did (issue 14)? Measured on
the walk-forward folds of an experiment (default corn_usa) with the experiment's model, without
bias correction, at the end of the season:

- `earlier folds`: split-conformal on earlier folds' state residuals, pooled over states (the
  pipeline's geo scope; none before `conformal.min_folds` earlier folds);
- `+ warm-up`: the same, the pool with the `conformal.warmup_seasons` seasons before the first
  test season too, each predicted by a refit on the seasons before it (`core/warmup.py`): for the
  folds with fewer than `conformal.min_folds` earlier ones (`first folds`, the pipeline's geo
  scope since it was measured here), or for every fold (`always`);
- `inner`: split-conformal on the out-of-block state residuals of the fold's training seasons
  (`core/inner_folds.py`: K contiguous blocks, each refitted without its block).

    python benchmarks/geo_interval_study.py [config] [--blocks K]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hindcast_assets.config import ExperimentConfig, load_config  # noqa: E402
from hindcast_assets.core import hindcast as hc  # noqa: E402
from hindcast_assets.core import inner_folds, warmup  # noqa: E402
from hindcast_assets.core.conformal import calibrate, conformal_quantile  # noqa: E402
from hindcast_assets.core.data import ExperimentData, load_experiment_data  # noqa: E402
from hindcast_assets.core.geos import included_geos  # noqa: E402
from hindcast_assets.core.predictions import FoldModels  # noqa: E402

LEVELS = (0.8, 0.9)


def end_of_season(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], models: FoldModels,
                  seasons: list[int]) -> pd.DataFrame:
    """State rows `season_year, actual, prediction` of `seasons` by `models`, end of season."""
    return inner_folds.geo_predictions(cfg, data, geos, models, seasons, None)


def walk_forward_quantiles(cfg: ExperimentConfig, test: pd.DataFrame, warm: pd.DataFrame) -> pd.DataFrame:
    """Per test season, level and way of pooling walk-forward residuals, the pipeline's quantile
    (`conformal.calibrate`, absolute scores): earlier folds; with the warm-up for the first folds
    (the pipeline); with the warm-up for every fold."""
    targets = [(str(s), int(s)) for s in sorted(test["season_year"].unique())]
    c = cfg.conformal
    ways = {"earlier folds": calibrate(test, targets, "absolute", LEVELS, "geo", c.min_folds),
            "+ warm-up, first folds": calibrate(test, targets, "absolute", LEVELS, "geo", c.min_folds, warm),
            "+ warm-up, always": calibrate(pd.concat([warm, test]), targets, "absolute", LEVELS, "geo", c.min_folds)}
    return pd.concat([t.assign(method=way, season_year=t["calibrated_for"].astype(int)) for way, t in ways.items()]
                     ).rename(columns={"quantile": "q"})[["season_year", "level", "method", "q"]]


def study(config: str, k: int) -> pd.DataFrame:
    """Per test season and level, the test states' absolute errors beside each method's quantile."""
    cfg = load_config(config)
    data = load_experiment_data(cfg)
    geos = included_geos(data.yields, cfg.geos, cfg.hindcast.first_test_year)
    combine = inner_folds.combiner(cfg)
    tests, quantiles = [], []
    for name in cfg.test_folds:
        fold = hc.fold_of(cfg, data.yields, name)
        held = pd.concat([end_of_season(cfg, data, geos, inner_folds.refit_without(cfg, data, geos, fold, b, combine),
                                        list(b)) for b in inner_folds.season_blocks(fold.train_seasons, k)])
        own = inner_folds.refit_without(cfg, data, geos, fold, (), combine)
        tests.append(end_of_season(cfg, data, geos, own, [fold.test_season]))
        quantiles += [{"season_year": fold.test_season, "level": lv, "method": "inner",
                       "q": conformal_quantile((held["actual"] - held["prediction"]).abs(), lv)} for lv in LEVELS]
    test = pd.concat(tests, ignore_index=True)
    test["error"] = (test["actual"] - test["prediction"]).abs()
    pooled = walk_forward_quantiles(cfg, test, warmup.warmup_predictions(cfg, data, geos, None).geo)
    return test[["geo_id", "season_year", "error"]].merge(pd.concat([pd.DataFrame(quantiles), pooled]),
                                                          on="season_year")


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    def one(g: pd.DataFrame) -> pd.Series:
        has = g["q"].notna()
        return pd.Series({"state_seasons": int(has.sum()), "without_interval": int((~has).sum()),
                          "coverage": float((g["error"] <= g["q"])[has].mean()),
                          "mean_width": float(2 * g.loc[has, "q"].mean())})
    return frame.groupby(["method", "level"])[["error", "q"]].apply(one).reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "corn_usa.yaml"))
    parser.add_argument("--blocks", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    frame = study(args.config, args.blocks)
    print(summary(frame).to_markdown(index=False, floatfmt=("", ".1f", ".0f", ".0f", ".3f", ".1f")))
    print(f"{args.config}, {args.blocks} blocks: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
