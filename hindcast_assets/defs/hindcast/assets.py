"""Hindcast assets of one experiment (DESIGN.md §5): config, geos and the per-fold model chain.

Fold assets are partitioned by fold (test season years, then `production`) and take a whole
partition range in one run (`BackfillPolicy.single_run()`): few runs, many partitions.
Each asset reads its inputs from the run_dir and writes its artefacts there; nothing passes
between assets in memory.
"""
from dagster import (AssetExecutionContext, AssetKey, AssetsDefinition, BackfillPolicy, MaterializeResult,
                     StaticPartitionsDefinition, asset)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import artefacts as art
from hindcast_assets.core import hindcast as hc
from hindcast_assets.core.geos import included_geos as select_geos
from hindcast_assets.core.metrics import rmse
from hindcast_assets.defs.hindcast.evaluation_assets import build_evaluation_assets
from hindcast_assets.defs.hindcast.fold_runs import FoldStep, fold_metrics_for_mlflow, run_folds, track
from hindcast_assets.defs.metadata import FoldRecord, artefact_metadata, fold_metadata
from hindcast_assets.defs.resources import MlflowTracking, RunDirResource


def fold_partitions(cfg: ExperimentConfig) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(cfg.folds)


def detrender_step(view: art.RunDirView, fold_name: str) -> FoldRecord:
    fold = hc.fold_of(view.cfg, view.data.yields, fold_name)
    detrender = hc.fit_detrender(view.cfg, view.data, view.geos, fold)
    written = art.write_detrender(view.run_dir, view.key, fold_name, detrender)
    return FoldRecord(fold_name, [written], len(detrender.slopes), {"n_train_seasons": len(fold.train_seasons)})


def _train_frame(view: art.RunDirView, fold_name: str):
    fold = hc.fold_of(view.cfg, view.data.yields, fold_name)
    detrender = art.read_detrender(view.run_dir, view.key, fold_name)
    return fold, detrender, hc.design_frame(view.cfg, view.data, view.geos, fold.train_seasons, detrender)


def fill_values_step(view: art.RunDirView, fold_name: str) -> FoldRecord:
    _, _, train = _train_frame(view, fold_name)
    fill = hc.fit_fill_values(view.cfg, train)
    return FoldRecord(fold_name, [art.write_fill_values(view.run_dir, view.key, fold_name, fill)], len(fill))


def model_step(view: art.RunDirView, fold_name: str) -> FoldRecord:
    fold, _, train = _train_frame(view, fold_name)
    fill = art.read_fill_values(view.run_dir, view.key, fold_name)
    model = hc.fit_model(view.cfg, train, fill)
    in_sample = rmse(train["target"], train["trend"] + model.predict(hc.model_inputs(view.cfg, train, fill)))
    card = {"fold": fold_name, "train_seasons": [int(s) for s in fold.train_seasons], "n_rows": len(train),
            "train_rmse": in_sample}
    written = art.write_model(view.run_dir, view.key, fold_name, model, card)
    return FoldRecord(fold_name, written, len(train), {"train_rmse": in_sample})


def fold_preds_step(view: art.RunDirView, fold_name: str) -> FoldRecord:
    fold, detrender, train = _train_frame(view, fold_name)
    fill = art.read_fill_values(view.run_dir, view.key, fold_name)
    model = art.read_model(view.run_dir, view.key, fold_name)
    rd, key = view.run_dir, view.key
    train_preds = hc.predictions(view.cfg, model, train, fill, fold)
    written = [art.write_preds(rd, key, fold_name, art.TRAIN_PREDS, train_preds)]
    if fold.is_production:
        return FoldRecord(fold_name, written, len(train))
    test = hc.design_frame(view.cfg, view.data, view.geos, [fold.test_season], detrender)
    preds = hc.predictions(view.cfg, model, test, fill, fold)
    written += [art.write_preds(rd, key, fold_name, art.WALK_FORWARD_PREDS, preds),
                art.write_preds(rd, key, fold_name, art.YEAR_DATA, hc.model_inputs(view.cfg, test, fill))]
    metrics = {"wf_rmse": rmse(preds["target"], preds["prediction"]),
               "wf_rmse_trend": rmse(preds["target"], preds["trend"])}
    return FoldRecord(fold_name, written, len(preds), metrics)


def build_hindcast_assets(cfg: ExperimentConfig) -> list[AssetsDefinition]:
    """The hindcast assets of one experiment, keyed `<experiment_key>/<name>`, in its own group."""
    key = cfg.experiment_key
    folds = fold_partitions(cfg)

    @asset(key=AssetKey([key, "config_resolved"]), group_name=key,
           description="The experiment config with defaults filled and env vars expanded; written once.")
    def config_resolved(context: AssetExecutionContext, run_dir: RunDirResource,
                        mlflow: MlflowTracking) -> MaterializeResult:
        rd = run_dir.for_experiment(key)
        written = art.write_config(rd, cfg)
        view = art.RunDirView(rd)
        track(context, mlflow, view, params=_flatten(cfg.resolved()))
        return MaterializeResult(metadata=artefact_metadata(rd, [written], 1))

    @asset(key=AssetKey([key, "included_geos"]), group_name=key, deps=[config_resolved],
           description="Geos modelled: enough seasons and area share before the first test season.")
    def included_geos(context: AssetExecutionContext, run_dir: RunDirResource) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        geos = select_geos(view.data.yields, view.cfg.geos, view.cfg.hindcast.first_test_year)
        if not geos:
            raise ValueError(f"{view.run_dir}: geos: no geo passes the inclusion rule {view.cfg.geos}")
        written = art.write_included_geos(view.run_dir, geos)
        return MaterializeResult(metadata=artefact_metadata(view.run_dir, [written], len(geos)))

    def fold_asset(name: str, step: FoldStep, deps: list, description: str) -> AssetsDefinition:
        @asset(key=AssetKey([key, name]), group_name=key, deps=deps, partitions_def=folds,
               backfill_policy=BackfillPolicy.single_run(), description=description)
        def _fold_asset(context: AssetExecutionContext, run_dir: RunDirResource,
                        mlflow: MlflowTracking) -> MaterializeResult:
            view = art.RunDirView(run_dir.for_experiment(key))
            records = run_folds(context, view, name, step)
            track(context, mlflow, view, metrics=fold_metrics_for_mlflow(records))
            return MaterializeResult(metadata=fold_metadata(view.run_dir, records))

        return _fold_asset

    geos_and_config = [config_resolved, included_geos]
    detrender = fold_asset("detrender", detrender_step, geos_and_config,
                           "Per-geo linear trend fitted on the fold's training seasons.")
    fill = fold_asset("feature_fill_values", fill_values_step, [detrender],
                      "Per-feature fill values (training-season medians).")
    model = fold_asset("model", model_step, [detrender, fill],
                       "The fold's model of the detrended target, in its native file format.")
    preds = fold_asset("fold_preds", fold_preds_step, [detrender, fill, model],
                       "In-sample, walk-forward (test season) predictions and the test rows as seen.")
    return [config_resolved, included_geos, detrender, fill, model, preds,
            *build_evaluation_assets(cfg, folds, preds)]


def production_chain(assets: list[AssetsDefinition]) -> list[AssetsDefinition]:
    """What fit-production materialises: config, geos and the model chain (no predictions)."""
    wanted = {"config_resolved", "included_geos", "detrender", "feature_fill_values", "model"}
    return [a for a in assets if a.key.path[-1] in wanted]


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        out |= _flatten(v, f"{name}.") if isinstance(v, dict) and v else {name: v}
    return out
