"""What one fit of each boosted model costs on an experiment's last test fold, and with fewer
histogram bins: the figures behind `max_bin` in configs/corn_usa.yaml
(docs/studies/skill_1990_2011.md, "Coarser histograms").

    python benchmarks/fit_cost.py [config] [--fold 2023]

One thread, best of 5 fits each, on the fold's training rows as the models see them.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {"lightgbm": [{}, {"max_bin": 127}, {"max_bin": 63}],
            "xgboost": [{}, {"max_bin": 128}, {"max_bin": 64}],
            "hist_gbm": [{}, {"max_bins": 127}, {"max_bins": 63}]}


def best_of(fn, repeats: int = 5) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "corn_usa.yaml"))
    parser.add_argument("--fold", default=None, help="a test fold (default: the last)")
    args = parser.parse_args()
    from hindcast_assets.config import load_config, model_feature_columns
    from hindcast_assets.core import hindcast as hc
    from hindcast_assets.core.data import load_experiment_data
    from hindcast_assets.core.features import model_inputs
    from hindcast_assets.core.geos import experiment_geos
    from hindcast_assets.models import registry

    cfg = load_config(args.config)
    data = load_experiment_data(cfg)
    geos = experiment_geos(cfg, data.yields)
    fold = hc.fold_of(cfg, data.yields, args.fold or cfg.test_folds[-1])
    train = hc.design_frame(cfg, data, geos, fold.train_seasons, hc.fit_detrender(cfg, data, geos, fold))
    inputs = model_inputs(cfg, train, hc.fit_fill_values(cfg, train))
    features, target = inputs[model_feature_columns(cfg)], inputs["residual"]
    print(f"{cfg.experiment_key} fold {fold.name}: {len(features):,} rows x {features.shape[1]} features\n")
    print("| model | params over the defaults | fit, s |\n|---|---|---|")
    for name, variants in VARIANTS.items():
        plugin = registry()[name]
        for extra in variants:
            params = dict(plugin.default_params) | extra
            print(f"| {name} | {extra or '(defaults)'} | {best_of(lambda: plugin.fit(features, target, params)):.3f} |")


if __name__ == "__main__":
    main()
