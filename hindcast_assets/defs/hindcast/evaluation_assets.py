"""Postprocessing, evaluation and delivery assets of one experiment (DESIGN.md §5):
bias_corrector (per fold), conformal, national, evaluation, hindcast_delivery.

Each reads the fold predictions in the run_dir; for a fold, only earlier folds are used.
"""
from dagster import (AllPartitionMapping, AssetDep, AssetExecutionContext, AssetKey, AssetsDefinition,
                     BackfillPolicy, MaterializeResult, MetadataValue, PartitionsDefinition, asset)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import artefacts as art
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core import report
from hindcast_assets.core.data import load_references
from hindcast_assets.core.delivery import delivery_file_name, delivery_frame
from hindcast_assets.core.evaluation import compare_models, evaluate
from hindcast_assets.core import skill_by_init as sbi
from hindcast_assets.defs.hindcast.fold_runs import run_folds, track
from hindcast_assets.defs.metadata import FoldRecord, artefact_metadata, fold_metadata
from hindcast_assets.defs.resources import MlflowTracking, RunDirResource


def bias_corrector_step(view: art.RunDirView, fold: str) -> FoldRecord:
    walk_forward = art.read_walk_forward(view.run_dir, view.key, pp.earlier_folds(view.cfg, fold))
    corrector = pp.fit_bias_corrector(view.cfg, walk_forward, fold)
    written = art.write_bias_corrector(view.run_dir, view.key, fold, corrector)
    return FoldRecord(fold, [written], corrector.n_residuals, {"bias_overall": corrector.overall})


def postprocessed(view: art.RunDirView):
    """Bias-corrected geo walk-forward predictions of every test fold, and their national rows."""
    rd, key, folds = view.run_dir, view.key, view.cfg.test_folds
    correctors = {f: art.read_bias_corrector(rd, key, f) for f in folds}
    geo = pp.corrected_geo_preds(art.read_walk_forward(rd, key, folds), correctors)
    return geo, pp.national_preds(view.cfg, geo, view.data.yields)


def build_evaluation_assets(cfg: ExperimentConfig, folds: PartitionsDefinition,
                            fold_preds: AssetsDefinition) -> list[AssetsDefinition]:
    """`fold_preds`: the asset whose fold predictions are final (fold_preds, or ensembles)."""
    key = cfg.experiment_key

    @asset(key=AssetKey([key, "bias_corrector"]), group_name=key, partitions_def=folds,
           backfill_policy=BackfillPolicy.single_run(),
           deps=[AssetDep(fold_preds, partition_mapping=AllPartitionMapping())],
           description="Per-fold bias correction from walk-forward residuals of earlier folds only.")
    def bias_corrector(context: AssetExecutionContext, run_dir: RunDirResource,
                       mlflow: MlflowTracking) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        records = run_folds(context, view, "bias_corrector", bias_corrector_step)
        return MaterializeResult(metadata=fold_metadata(view.run_dir, records))

    @asset(key=AssetKey([key, "conformal"]), group_name=key,
           deps=[AssetDep(bias_corrector, partition_mapping=AllPartitionMapping())],
           description="Conformal sidecars, one per residual mode: quantiles per scope, level and fold.")
    def conformal(context: AssetExecutionContext, run_dir: RunDirResource) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        geo, national = postprocessed(view)
        sidecars = pp.conformal_sidecars(view.cfg, geo, national)
        written = [view.run_dir.write_parquet(art.conformal_path(view.run_dir, m), t) for m, t in sidecars.items()]
        production = {f"q_{m}_{r.scope}_{round(r.level * 100)}": float(r.quantile) for m, t in sidecars.items()
                      for r in t[t["calibrated_for"] == "production"].itertuples()}
        return MaterializeResult(metadata=artefact_metadata(view.run_dir, written, sum(map(len, sidecars.values())),
                                                            **production))

    @asset(key=AssetKey([key, "national"]), group_name=key, deps=[conformal],
           description="Bias-corrected geo and area-weighted national hindcast with intervals.")
    def national(context: AssetExecutionContext, run_dir: RunDirResource) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        geo, nat = postprocessed(view)
        sidecars = art.read_sidecars(view.run_dir, view.cfg.conformal.modes)
        rd = view.run_dir
        written = [rd.write_parquet(art.postprocessed_path(rd, "geo"), pp.with_intervals(geo, sidecars, "geo")),
                   rd.write_parquet(art.postprocessed_path(rd, "national"),
                                    pp.with_intervals(nat, sidecars, "national"))]
        return MaterializeResult(metadata=artefact_metadata(rd, written, len(nat)))

    @asset(key=AssetKey([key, "evaluation"]), group_name=key, deps=[national],
           description="Skill (model, uncorrected model, trend), coverage, plots and reports/report.md.")
    def evaluation(context: AssetExecutionContext, run_dir: RunDirResource,
                   mlflow: MlflowTracking) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        rd, c = view.run_dir, view.cfg
        geo = rd.read_parquet(art.postprocessed_path(rd, "geo"))
        nat = rd.read_parquet(art.postprocessed_path(rd, "national"))
        ev = evaluate(geo, nat, c.conformal.modes, c.conformal.levels, load_references(c))
        comparison = compare_models(c, {m: art.read_walk_forward(rd, key, c.test_folds, m) for m in c.model_names},
                                    view.data.yields)
        reports = rd.root / "reports"
        written = [rd.write_text(reports / f"{name}.csv", frame.to_csv(index=False)) for name, frame in [
            ("skill", ev.headline()), ("skill_by_fold", ev.by_fold), ("skill_by_geo", ev.by_geo),
            ("coverage", ev.coverage), ("model_comparison", comparison)]]
        written += [rd.write_bytes(reports / "national_hindcast.png", report.national_plot(c, nat)),
                    rd.write_bytes(reports / "error_by_season.png", report.error_plot(c, nat)),
                    rd.write_bytes(reports / "coverage.png", report.coverage_plot(ev.coverage)),
                    rd.write_text(reports / "report.md", report.report_markdown(c, ev, rd.root.name, comparison))]
        metrics = {f"{r.level.replace(' ', '_')}_{m}_{r.predictor}": float(getattr(r, m))
                   for r in ev.headline().itertuples() for m in ("rmse", "mape")}
        metrics |= {f"coverage_{r.scope}_{r.mode}_{round(r.level * 100)}": float(r.coverage)
                    for r in ev.coverage.itertuples()}
        track(context, mlflow, view, metrics=metrics)
        return MaterializeResult(metadata=artefact_metadata(rd, written, len(geo)) | {
            "skill": MetadataValue.md(report.md_table(ev.headline())),
            "model_comparison": MetadataValue.md(report.md_table(comparison)),
            "coverage": MetadataValue.md(report.md_table(ev.coverage, 3))})

    @asset(key=AssetKey([key, "hindcast_delivery"]), group_name=key, deps=[national],
           description="The client CSV: season x geo plus NATIONAL rows with intervals.")
    def hindcast_delivery(context: AssetExecutionContext, run_dir: RunDirResource) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        rd = view.run_dir
        stamp = art.run_stamp(rd)
        created = art.run_created_at(rd)
        model = art.read_model_card(rd, key, view.cfg.test_folds[-1])["model"]
        frame = delivery_frame(view.cfg, rd.read_parquet(art.postprocessed_path(rd, "geo")),
                               rd.read_parquet(art.postprocessed_path(rd, "national")), model, rd.root.name, created)
        path = rd.root / "delivery" / delivery_file_name(view.cfg, "Hindcast", stamp)
        written = rd.write_text(path, frame.to_csv(index=False))
        return MaterializeResult(metadata=artefact_metadata(rd, [written], len(frame)))

    if not cfg.inputs.indices or cfg.features.static:  # nothing is known earlier in the season
        return [bias_corrector, conformal, national, evaluation, hindcast_delivery]

    @asset(key=AssetKey([key, "skill_by_init_date"]), group_name=key, deps=[conformal],
           description="Walk-forward skill at each forecast init date (only data known by then), and "
                       "conformal sidecars calibrated per init date for the forecasts.")
    def skill_by_init_date(context: AssetExecutionContext, run_dir: RunDirResource,
                           mlflow: MlflowTracking) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        rd, c = view.run_dir, view.cfg
        models = {f: art.read_fold_models(rd, key, f) for f in c.test_folds}
        geo = sbi.predictions_by_init_date(c, view.data, view.geos, models)
        national = sbi.national_by_init_date(geo, view.data.yields)
        sidecars = sbi.sidecars_by_init_date(c, geo, national)
        table = sbi.skill_by_init_date(c, geo, national, sidecars)
        reports = rd.root / "reports"
        written = [rd.write_parquet(art.conformal_by_init_path(rd, m), t) for m, t in sidecars.items()]
        written += [rd.write_text(reports / "skill_by_init_date.csv", table.to_csv(index=False)),
                    rd.write_bytes(reports / "skill_by_init_date.png", report.skill_by_init_plot(c, table))]
        track(context, mlflow, view, metrics={f"init_{r.init_md}_{r.level}_rmse": float(r.rmse)
                                              for r in table.itertuples()})
        return MaterializeResult(metadata=artefact_metadata(rd, written, len(table)) | {
            "skill_by_init_date": MetadataValue.md(report.md_table(table))})

    return [bias_corrector, conformal, national, evaluation, hindcast_delivery, skill_by_init_date]
