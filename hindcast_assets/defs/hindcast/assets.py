"""Hindcast assets of one experiment (DESIGN.md §5): config, geos and the per-fold model chain.

Fold assets are partitioned by fold (test season years, then `production`) and take a whole
partition range in one run (`BackfillPolicy.single_run()`): few runs, many partitions.
Each asset reads its inputs from the run_dir and writes its artefacts there; nothing passes
between assets in memory.
"""
import pandas as pd
from dagster import (AllPartitionMapping, AssetDep, AssetExecutionContext, AssetKey, AssetsDefinition, BackfillPolicy, MaterializeResult,
                     StaticPartitionsDefinition, asset)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import artefacts as art
from hindcast_assets.core import hindcast as hc
from hindcast_assets.core.geos import included_geos as select_geos
from hindcast_assets.core.ensembles import ensemble_predictions, fit_ensemble, member_table
from hindcast_assets.core.events import timed, training_event
from hindcast_assets.core.features import model_feature_columns
from hindcast_assets.core.metrics import rmse
from hindcast_assets.core.postprocess import earlier_folds
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.defs.hindcast.evaluation_assets import build_evaluation_assets
from hindcast_assets.defs.hindcast.fold_runs import FoldStep, emit, fold_metrics_for_mlflow, run_folds, track
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
    """Train every base model of the experiment once on this fold (under its own name), and the
    experiment's model also at the contract path."""
    fold, _, train = _train_frame(view, fold_name)
    fill = art.read_fill_values(view.run_dir, view.key, fold_name)
    written, metrics, events = [], {}, []
    for name, params in view.cfg.base_models.items():
        shape = {"experiment": view.key, "fold": fold_name, "model": name, "n_rows": len(train),
                 "n_features": len(model_feature_columns(view.cfg))}
        events.append(emit(training_event("training_started", **shape)))
        params, search = hc.searched_params(view.cfg, name, params, train, fill)
        model, seconds = timed(lambda: hc.fit_model(view.cfg, name, params, train, fill))
        in_sample = rmse(train["target"], train["trend"] + model.predict(hc.model_inputs(view.cfg, train, fill)))
        card = {"fold": fold_name, "train_seasons": [int(s) for s in fold.train_seasons], "n_rows": len(train),
                "train_rmse": in_sample, **({"search": search} if search else {})}
        written += art.write_model(view.run_dir, view.key, fold_name, model, card, name)
        if name == view.cfg.model.name:
            written += art.write_model(view.run_dir, view.key, fold_name, model, card)
        metrics[f"train_rmse_{name}"] = in_sample
        events.append(emit(training_event("training_complete", **shape, seconds=seconds,
                                          metrics={"train_rmse": in_sample})))
    return FoldRecord(fold_name, written, len(train), metrics, events)


def _wf_metrics(preds, name: str) -> dict[str, float]:
    return {f"wf_rmse_{name}": rmse(preds["target"], preds["prediction"])}


def fold_preds_step(view: art.RunDirView, fold_name: str) -> FoldRecord:
    """Every base model's in-sample and walk-forward predictions; the experiment's model's also
    at the contract paths, beside the test season's rows as the models saw them."""
    fold, detrender, train = _train_frame(view, fold_name)
    fill = art.read_fill_values(view.run_dir, view.key, fold_name)
    rd, key, cfg = view.run_dir, view.key, view.cfg
    test = None if fold.is_production else hc.design_frame(cfg, view.data, view.geos, [fold.test_season], detrender)
    written, metrics = [], {}
    for name in cfg.base_models:
        model = art.read_model(rd, key, fold_name, name)
        frames = {art.TRAIN_PREDS: hc.predictions(cfg, model, train, fill, fold)}
        if test is not None:
            frames[art.WALK_FORWARD_PREDS] = hc.predictions(cfg, model, test, fill, fold)
            metrics |= _wf_metrics(frames[art.WALK_FORWARD_PREDS], name)
        for target in {name, None} if name == cfg.model.name else {name}:
            written += [art.write_preds(rd, key, fold_name, file, frame, target) for file, frame in frames.items()]
    if test is not None:
        written.append(art.write_preds(rd, key, fold_name, art.YEAR_DATA, hc.model_inputs(cfg, test, fill)))
        metrics["wf_rmse_trend"] = rmse(test["target"], test["trend"])
    return FoldRecord(fold_name, written, len(train) + (0 if test is None else len(test)), metrics)


def ensembles_step(view: art.RunDirView, fold_name: str) -> FoldRecord:
    """Each ensemble from its members' fold predictions (fitted on earlier folds only)."""
    rd, key, cfg = view.run_dir, view.key, view.cfg
    earlier = earlier_folds(cfg, fold_name)
    files = [art.TRAIN_PREDS] + ([] if fold_name == PRODUCTION else [art.WALK_FORWARD_PREDS])
    written, metrics = [], {}
    for name, spec in cfg.ensembles.items():
        history = [member_table({m: art.read_preds(rd, key, f, art.WALK_FORWARD_PREDS, m) for m in spec.members})
                   for f in earlier]
        model = fit_ensemble(name, spec, pd.concat(history, ignore_index=True) if history else pd.DataFrame(),
                             len(earlier))
        card = {"fold": fold_name, "calibration_folds": earlier}
        frames = {file: ensemble_predictions(model, member_table(
            {m: art.read_preds(rd, key, fold_name, file, m) for m in spec.members})) for file in files}
        for target in {name, None} if name == cfg.model.name else {name}:
            written += art.write_ensemble(rd, key, fold_name, model, card, target)
            written += [art.write_preds(rd, key, fold_name, file, frame, target) for file, frame in frames.items()]
        if art.WALK_FORWARD_PREDS in frames:
            metrics |= _wf_metrics(frames[art.WALK_FORWARD_PREDS], name)
    return FoldRecord(fold_name, written, sum(len(f) for f in frames.values()) if cfg.ensembles else 0, metrics)


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
    chain = [config_resolved, included_geos, detrender, fill, model, preds]
    if cfg.ensembles:
        chain.append(fold_asset("ensembles", ensembles_step,
                                [AssetDep(preds, partition_mapping=AllPartitionMapping())],
                                "Ensembles of the base models' fold predictions (stacking on earlier folds)."))
    return chain + build_evaluation_assets(cfg, folds, chain[-1])


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
