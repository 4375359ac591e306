"""What the crop condition buys (issue 28): every test season 1990-2023 predicted by its own
walk-forward fold at each init date, under config variants that differ in how the condition
enters, scored at state level and nationally against the reference.

    python benchmarks/condition_study.py [config] [--only NAME ...] [--out results.csv]

Each fold fits the pipeline's own chain (detrender, fill values, the model's members blended with
equal weights, as the inner refits do) on seasons before its test season; no bias correction and
no intervals, so the rows compare the ways the condition enters and nothing else (the pipeline's
figures, bias-corrected, are in the README). National figures weight the states by their previous
season's areas, as a forecaster would in season. A variant is chosen a priori, never on the test
seasons' outcomes; the table only measures.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from hindcast_assets.config import ExperimentConfig, config_from_dict  # noqa: E402
from hindcast_assets.core import hindcast as hc  # noqa: E402
from hindcast_assets.core import inner_folds  # noqa: E402
from hindcast_assets.core.aggregate import national_rows  # noqa: E402
from hindcast_assets.core.data import load_experiment_data, load_references  # noqa: E402
from hindcast_assets.core.geos import included_geos  # noqa: E402
from hindcast_assets.core.metrics import rmse  # noqa: E402
from hindcast_assets.core.predictions import with_actual  # noqa: E402
from hindcast_assets.core.skill_by_init import features_by_init_date  # noqa: E402
import skill_study  # noqa: E402
from skill_study import DROP, chosen, study_args  # noqa: E402

NO_CONDITION = {**skill_study.NO_CONDITION, DROP: ["compare.condition", "ensembles.stack", "ensembles.blend"]}
EVERY_GEO = {"features": {"regional": {"geos": []}}}
TREES = ["lightgbm", "xgboost", "hist_gbm"]
WEATHER = ["tavg", "tmax", "tmin", "prcp"]


def blend(*members: str) -> dict:
    return {"model": {"name": "study_blend"},
            "ensembles": {"study_blend": {"method": "blend_avg", "members": list(members)}}}


VARIANTS: dict[str, list[dict]] = {  # overlays on the experiment's config, not cumulative
    "no condition (trees on weather)": [NO_CONDITION, blend(*TREES)],
    "trees, condition on every geo": [EVERY_GEO, blend(*TREES)],
    "trees, condition on its 8 states": [blend(*TREES)],
    "trees + condition ridge (the default)": [blend(*TREES, "condition")],
    "trees on weather only + condition ridge": [
        {"compare": {t: {"features": WEATHER} for t in TREES}}, blend(*TREES, "condition")],
    "lightgbm + condition ridge": [blend("lightgbm", "condition")],
    "condition ridge alone": [{"model": {"name": "condition"}}],
}


def predictions(cfg: ExperimentConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Geo rows of every test season at each init date, and their national rows with the reference."""
    data = load_experiment_data(cfg)
    geos = included_geos(data.yields, cfg.geos, cfg.hindcast.first_test_year)
    combine, frames = inner_folds.combiner(cfg), []
    for season in cfg.hindcast.test_years:
        fold = hc.fold_of(cfg, data.yields, str(season))
        trend = hc.fit_detrender(cfg, data, geos, fold)
        train = hc.design_frame(cfg, data, geos, fold.train_seasons, trend)
        models = inner_folds.fitted_models(cfg, fold.name, trend, train, hc.fit_fill_values(cfg, train), combine)
        rows = features_by_init_date(cfg, data, geos, season)
        frames.append(models.predict(cfg, rows).assign(init_md=rows["init_md"].to_numpy()))
    geo = with_actual(pd.concat(frames, ignore_index=True), data.yields)
    national = national_rows(geo, data.yields, "previous", by=("init_md", "season_year"))
    reference = load_references(cfg).set_index("season_year")["reference"]
    return geo, national.assign(reference=national["season_year"].map(reference))


def figures(cfg: ExperimentConfig, geo: pd.DataFrame, national: pd.DataFrame) -> dict:
    row = {}
    for md in cfg.forecast.init_dates:
        g, n = geo[geo["init_md"] == md], national[national["init_md"] == md]
        row[f"state {md}"] = rmse(g["actual"], g["prediction"])
        row[f"national {md}"] = rmse(n["reference"], n["prediction"])
    august = national[(national["init_md"] == "08-01") & (national["season_year"] >= 1995)]
    row["national 08-01, 1995-2023"] = rmse(august["reference"], august["prediction"])
    row["2012 at 08-01"] = float(national[(national["init_md"] == "08-01") & (national["season_year"] == 2012)]
                                 ["prediction"].iloc[0])
    end = national[national["init_md"] == cfg.forecast.init_dates[-1]]
    row["trend: state"] = rmse(geo["actual"], geo["trend"])
    row["trend: national"] = rmse(end["reference"], end["trend"])
    return row


def main() -> None:
    args = study_args(__doc__, "/tmp/condition_study.csv")
    rows = []
    for name, raw in chosen(args, VARIANTS).items():
        cfg = config_from_dict(raw, f"{args.config} ({name})")
        started = time.perf_counter()
        row = {"variant": name, **figures(cfg, *predictions(cfg)), "seconds": time.perf_counter() - started}
        rows.append(row)
        print(pd.Series(row).to_string(), flush=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)
    print(pd.DataFrame(rows).set_index("variant").T.to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()
