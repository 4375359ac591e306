"""Which national interval is honest with few folds (issue 14)? Measured on the walk-forward folds
of an experiment (default corn_usa) with the experiment's model, without bias correction, so the
methods differ only in their residuals, at the end of the season and at every init date:

- `forward`: split-conformal on earlier folds' national residuals (>= 5 folds; the old method);
- `inner`: split-conformal on the out-of-block national residuals of the fold's training seasons
  (`core/inner_folds.py`: K contiguous blocks, each refitted without its block);
- `cv_plus`: CV+ (Barber et al. 2021) on the same refits: the bounds are quantiles of
  mu_-b(x_test) -/+ |R_s| over training seasons s, mu_-b the refit without s's block;
- `pooled`: `inner` and `forward` residuals together;
- `correlated`: the issue's other option, geo residuals aggregated with their measured cross-geo
  correlation: each geo's residual sd and the mean pairwise correlation, both over the earlier
  folds' and the warm-up seasons' walk-forward geo residuals, give the national sd under the
  test season's weights, and the interval is +/- Student's t (seasons - 1 degrees of freedom).

`python benchmarks/national_interval_study.py [config] [--blocks K]` prints coverage and mean
width per method, init date and level, and writes the per-season rows to --out (CSV).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import t

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hindcast_assets.config import load_config  # noqa: E402
from hindcast_assets.core import hindcast as hc  # noqa: E402
from hindcast_assets.core import inner_folds  # noqa: E402
from hindcast_assets.core.aggregate import aggregation_weights  # noqa: E402
from hindcast_assets.core.conformal import conformal_quantile  # noqa: E402
from hindcast_assets.core.data import load_experiment_data  # noqa: E402
from hindcast_assets.core.geos import included_geos  # noqa: E402
from hindcast_assets.core.skill_by_init import features_by_init_date  # noqa: E402
from hindcast_assets.core.warmup import warmup_predictions  # noqa: E402

LEVELS = (0.8, 0.9)
METHODS = ("forward", "inner", "cv_plus", "pooled", "correlated")


def cv_plus(mu_test: np.ndarray, r: np.ndarray, level: float) -> tuple[float, float]:
    """CV+ bounds: the floor(a(n+1))-th smallest of mu - R and ceil((1-a)(n+1))-th of mu + R."""
    n, alpha = len(r), 1 - level
    lo_rank, hi_rank = math.floor(alpha * (n + 1)), math.ceil((1 - alpha) * (n + 1))
    if lo_rank < 1 or hi_rank > n:
        return float("nan"), float("nan")
    return float(np.sort(mu_test - r)[lo_rank - 1]), float(np.sort(mu_test + r)[hi_rank - 1])


def correlated_sd(history: pd.DataFrame, weights: pd.Series) -> tuple[float, int]:
    """(national residual sd, seasons) from geo residuals `history` (geo_id, season_year,
    residual): var = sum_i (w_i s_i)^2 + rho * sum_{i != j} w_i s_i w_j s_j, s_i each geo's
    root-mean-square residual, rho the mean of the geos' pairwise (uncentred) correlations."""
    e = history.pivot_table(index="season_year", columns="geo_id", values="residual")
    sigma = np.sqrt((e ** 2).mean())
    z = (e / sigma).fillna(0.0).to_numpy()
    seen = e.notna().to_numpy(float)
    corr = (z.T @ z) / np.maximum(seen.T @ seen, 1)
    off = ~np.eye(len(corr), dtype=bool)
    rho = float(corr[off].mean())
    ws = (weights.reindex(e.columns).fillna(0.0) / weights.sum() * sigma).to_numpy()
    var = float((ws ** 2).sum() + rho * (ws.sum() ** 2 - (ws ** 2).sum()))
    return math.sqrt(max(var, 0.0)), len(e)


def correlated_bounds(history: pd.DataFrame, test_geo: pd.DataFrame, rule: str, yields: pd.DataFrame,
                      prediction: float, level: float) -> tuple[float, float]:
    """`correlated` bounds around `prediction` under the test season's weights (`rule`)."""
    weights = aggregation_weights(test_geo, yields, rule).set_axis(test_geo["geo_id"].to_numpy())
    sd, n = correlated_sd(history, weights)
    if n < 3:
        return float("nan"), float("nan")
    half = float(t.ppf((1 + level) / 2, n - 1)) * sd
    return prediction - half, prediction + half


def study(config: str, k: int) -> pd.DataFrame:
    cfg = load_config(config)
    data = load_experiment_data(cfg)
    geos = included_geos(data.yields, cfg.geos, cfg.hindcast.first_test_year)
    combine = inner_folds.combiner(cfg)
    by_init = partial(features_by_init_date, cfg, data, geos) if cfg.has_skill_by_init else None
    rows, forward = [], {}
    warm = warmup_predictions(cfg, data, geos, by_init).geo
    geo_history = {md: [g.assign(residual=g["actual"] - g["prediction"])] for md, g in warm.groupby("init_md")}
    for name in cfg.test_folds:
        fold = hc.fold_of(cfg, data.yields, name)
        models = inner_folds.refit_without(cfg, data, geos, fold, (), combine)  # the fold itself
        outer_geo = inner_folds.geo_predictions(cfg, data, geos, models, [fold.test_season], by_init)
        outer = inner_folds.national_of(cfg, outer_geo, data.yields)
        inner = inner_folds.national_by_block(cfg, data, geos, fold, k, combine, by_init, with_test=True)
        for md, test in outer.groupby("init_md"):
            test, test_geo = test.iloc[0], outer_geo[outer_geo["init_md"] == md]
            held = inner[inner["held_out"] & (inner["init_md"] == md)]
            r = (held["actual"] - held["prediction"]).abs().to_numpy()
            mu = inner[~inner["held_out"] & (inner["init_md"] == md)].set_index("block")["prediction"]
            mu_test = held["block"].map(mu).to_numpy(float)
            past = np.asarray(forward.get(md, []))
            row = {"init_md": md, "season_year": fold.test_season, "actual": test["actual"],
                   "prediction": test["prediction"], "n_inner": len(r), "n_forward": len(past)}
            for level in LEVELS:
                pct = round(level * 100)
                pools = {"forward": past if len(past) >= 5 else [], "inner": r, "pooled": np.concatenate([r, past])}
                for method, pool in pools.items():
                    q = conformal_quantile(pool, level) if len(pool) else float("nan")
                    row[f"{method}_lo_{pct}"], row[f"{method}_hi_{pct}"] = test["prediction"] - q, test["prediction"] + q
                row[f"cv_plus_lo_{pct}"], row[f"cv_plus_hi_{pct}"] = cv_plus(mu_test, r, level)
                row[f"correlated_lo_{pct}"], row[f"correlated_hi_{pct}"] = correlated_bounds(
                    pd.concat(geo_history.get(md, []), ignore_index=True), test_geo,
                    inner_folds.area_rule(cfg, md), data.yields, test["prediction"], level)
            rows.append(row)
            forward.setdefault(md, []).append(abs(test["actual"] - test["prediction"]))
            geo_history.setdefault(md, []).append(test_geo.assign(residual=test_geo["actual"] - test_geo["prediction"]))
        end = inner[inner["held_out"] & (inner["init_md"] == inner_folds.END_OF_SEASON)]
        print(f"{name}: inner |R| median {(end['actual'] - end['prediction']).abs().median():.1f} over {len(end)}",
              file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (md, method, level) in [(md, m, lv) for md in sorted(frame["init_md"].unique()) for m in METHODS for lv in LEVELS]:
        f, pct = frame[frame["init_md"] == md], round(level * 100)
        lo, hi = f[f"{method}_lo_{pct}"], f[f"{method}_hi_{pct}"]
        has = lo.notna()
        inside = (f["actual"] >= lo) & (f["actual"] <= hi)
        out.append({"init_md": md, "method": method, "level": level, "n_seasons": int(has.sum()),
                    "without_interval": int((~has).sum()), "coverage": float(inside[has].mean()),
                    "mean_width": float((hi - lo)[has].mean())})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "corn_usa.yaml"))
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--out", default="/tmp/national_interval_study.csv")
    args = parser.parse_args()
    started = time.perf_counter()
    frame = study(args.config, args.blocks)
    frame.to_csv(args.out, index=False)
    end = frame[frame["init_md"] == inner_folds.END_OF_SEASON]
    rmse = float(np.sqrt(((end["actual"] - end["prediction"]) ** 2).mean()))
    print(f"{args.config}, {args.blocks} blocks: national RMSE {rmse:.2f} (no bias correction), "
          f"{time.perf_counter() - started:.0f} s")
    print(summary(frame).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
