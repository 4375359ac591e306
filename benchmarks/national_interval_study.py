"""Which national interval is honest with few folds (issue 14)? Measured on the walk-forward folds
of an experiment (default corn_usa), with the experiment's model (a blend: the mean of its members),
without bias correction, so the methods differ only in their residuals:

- `forward`: the current one: split-conformal on earlier folds' national residuals (>= 5 folds);
- `inner`: split-conformal on out-of-block national residuals inside the fold's training
  seasons (K contiguous blocks of seasons, each refitted without its block: detrender, fill
  values, models), so every fold from the first has one residual per training season;
- `cv_plus`: CV+ (Barber et al. 2021) on the same refits: the bounds are quantiles of
  mu_-b(x) -/+ R_s over training seasons s, mu_-b the refit without s's block;
- `pooled`: `inner` and `forward` residuals together.

`python benchmarks/national_interval_study.py [config] [--blocks K]` prints coverage and mean
width per method and level, and writes the per-season rows to --out (CSV).
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hindcast_assets.config import load_config  # noqa: E402
from hindcast_assets.core import hindcast as hc  # noqa: E402
from hindcast_assets.core.aggregate import national_rows  # noqa: E402
from hindcast_assets.core.data import load_experiment_data  # noqa: E402
from hindcast_assets.core.geos import included_geos  # noqa: E402
from hindcast_assets.core.splits import Fold  # noqa: E402

LEVELS = (0.8, 0.9)


def members(cfg) -> dict[str, dict]:
    spec = cfg.ensembles.get(cfg.model.name)
    return {m: cfg.base_models.get(m, {}) for m in spec.members} if spec else {cfg.model.name: cfg.model.params}


def fit_predict(cfg, data, geos, fold: Fold, seasons) -> pd.DataFrame:
    """Geo predictions for `seasons` from models fitted on `fold.train_seasons` only."""
    trend = hc.fit_detrender(cfg, data, geos, fold)
    train = hc.design_frame(cfg, data, geos, fold.train_seasons, trend)
    fill = hc.fit_fill_values(cfg, train)
    rows = hc.design_frame(cfg, data, geos, seasons, trend)
    inputs = hc.model_inputs(cfg, rows, fill)
    residual = np.mean([hc.fit_model(cfg, m, p, train, fill).predict(inputs) for m, p in members(cfg).items()], axis=0)
    return rows[["geo_id", "season_year", "target", "area", "trend"]].assign(
        prediction=rows["trend"].to_numpy() + residual, actual=rows["target"])


def blocks(seasons: tuple[int, ...], k: int) -> list[tuple[int, ...]]:
    return [tuple(b) for b in np.array_split(np.asarray(seasons), min(k, len(seasons))) if len(b)]


def conformal_q(scores, level: float) -> float:
    s = np.sort(np.asarray(scores, float))
    rank = math.ceil((len(s) + 1) * level - 1e-9)
    return float(s[rank - 1]) if 1 <= rank <= len(s) else float("nan")


def cv_plus(mu_test: np.ndarray, r: np.ndarray, level: float) -> tuple[float, float]:
    """CV+ bounds: the floor(a(n+1))-th smallest of mu - R and ceil((1-a)(n+1))-th of mu + R."""
    n, alpha = len(r), 1 - level
    lo_rank, hi_rank = math.floor(alpha * (n + 1)), math.ceil((1 - alpha) * (n + 1))
    if lo_rank < 1 or hi_rank > n:
        return float("nan"), float("nan")
    return float(np.sort(mu_test - r)[lo_rank - 1]), float(np.sort(mu_test + r)[hi_rank - 1])


def study(config: str, k: int) -> pd.DataFrame:
    cfg = load_config(config)
    data = load_experiment_data(cfg)
    geos = included_geos(data.yields, cfg.geos, cfg.hindcast.first_test_year)
    rows, forward = [], []
    for name in cfg.test_folds:
        fold = hc.fold_of(cfg, data.yields, name)
        test = fold.test_season
        nat = national_rows(fit_predict(cfg, data, geos, fold, [test]), data.yields, "actual").iloc[0]
        inner_r, mu_test = [], []
        for block in blocks(fold.train_seasons, k):
            inner = Fold(f"{name}-inner", tuple(s for s in fold.train_seasons if s not in block), test)
            geo = fit_predict(cfg, data, geos, inner, [*block, test])
            n = national_rows(geo, data.yields, "actual").set_index("season_year")
            inner_r += list((n.loc[list(block), "actual"] - n.loc[list(block), "prediction"]).abs())
            mu_test += [n.loc[test, "prediction"]] * len(block)
        inner_r, mu_test = np.asarray(inner_r), np.asarray(mu_test)
        row = {"season_year": test, "actual": nat["actual"], "prediction": nat["prediction"],
               "n_inner": len(inner_r), "n_forward": len(forward)}
        for level in LEVELS:
            pct = round(level * 100)
            pools = {"forward": forward if len(forward) >= 5 else [], "inner": inner_r,
                     "pooled": np.concatenate([inner_r, forward])}
            for method, pool in pools.items():
                q = conformal_q(pool, level) if len(pool) else float("nan")
                row[f"{method}_lo_{pct}"], row[f"{method}_hi_{pct}"] = nat["prediction"] - q, nat["prediction"] + q
            row[f"cv_plus_lo_{pct}"], row[f"cv_plus_hi_{pct}"] = cv_plus(mu_test, inner_r, level)
        rows.append(row)
        forward.append(abs(nat["actual"] - nat["prediction"]))
        print(f"{name}: national {nat['prediction']:.1f} vs {nat['actual']:.1f}; inner |R| median "
              f"{np.median(inner_r):.1f} over {len(inner_r)}", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for method in ("forward", "inner", "cv_plus", "pooled"):
        for level in LEVELS:
            pct = round(level * 100)
            lo, hi = frame[f"{method}_lo_{pct}"], frame[f"{method}_hi_{pct}"]
            has = lo.notna()
            inside = (frame["actual"] >= lo) & (frame["actual"] <= hi)
            out.append({"method": method, "level": level, "n_seasons": int(has.sum()),
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
    rmse = float(np.sqrt(((frame["actual"] - frame["prediction"]) ** 2).mean()))
    print(f"{args.config}, {args.blocks} blocks: national RMSE {rmse:.2f} (no bias correction), "
          f"{time.perf_counter() - started:.0f} s")
    print(summary(frame).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
