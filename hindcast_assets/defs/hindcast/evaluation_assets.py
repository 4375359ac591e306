"""Postprocessing, evaluation and delivery assets of one experiment (DESIGN.md §5):
bias_corrector (per fold), conformal, national, evaluation, hindcast_delivery, skill_by_init_date.

Each reads the fold predictions in the run_dir; for a fold, only earlier folds are used. The
work is in plain `*_step(view)` functions (the benchmarks' plain loop calls the same ones); the
assets only run them, attach metadata and track metrics.
"""
from dagster import (AllPartitionMapping, AssetDep, AssetExecutionContext, AssetKey, AssetsDefinition,
                     BackfillPolicy, MaterializeResult, PartitionsDefinition, asset)

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import artefacts as art
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core import report
from hindcast_assets.core.data import load_references
from hindcast_assets.core.delivery import delivery_file_name, delivery_frame
from hindcast_assets.core.evaluation import compare_models, evaluate
from hindcast_assets.core import skill_by_init as sbi
from hindcast_assets.defs.hindcast.fold_runs import run_folds, track
from hindcast_assets.defs.metadata import FoldRecord, StepRecord, fold_metadata, step_metadata
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


def conformal_step(view: art.RunDirView) -> StepRecord:
    geo, national = postprocessed(view)
    sidecars = pp.conformal_sidecars(view.cfg, geo, national)
    written = [view.run_dir.write_parquet(art.conformal_path(view.run_dir, m), t) for m, t in sidecars.items()]
    production = {f"q_{m}_{r.scope}_{round(r.level * 100)}": float(r.quantile) for m, t in sidecars.items()
                  for r in t[t["calibrated_for"] == "production"].itertuples()}
    return StepRecord(written, sum(map(len, sidecars.values())), production)


def national_step(view: art.RunDirView) -> StepRecord:
    geo, nat = postprocessed(view)
    sidecars = art.read_sidecars(view.run_dir, view.cfg.conformal.modes)
    rd = view.run_dir
    written = [rd.write_parquet(art.postprocessed_path(rd, "geo"), pp.with_intervals(geo, sidecars, "geo")),
               rd.write_parquet(art.postprocessed_path(rd, "national"), pp.with_intervals(nat, sidecars, "national"))]
    return StepRecord(written, len(nat))


def evaluation_step(view: art.RunDirView) -> StepRecord:
    rd, c, key = view.run_dir, view.cfg, view.key
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
    tables = {"skill": report.md_table(ev.headline()), "model_comparison": report.md_table(comparison),
              "coverage": report.md_table(ev.coverage, 3)}
    return StepRecord(written, len(geo), tables=tables, metrics=metrics)


def delivery_step(view: art.RunDirView) -> StepRecord:
    rd = view.run_dir
    model = art.read_model_card(rd, view.key, view.cfg.test_folds[-1])["model"]
    frame = delivery_frame(view.cfg, rd.read_parquet(art.postprocessed_path(rd, "geo")),
                           rd.read_parquet(art.postprocessed_path(rd, "national")), model, rd.root.name,
                           art.run_created_at(rd))
    path = rd.root / "delivery" / delivery_file_name(view.cfg, "Hindcast", art.run_stamp(rd))
    return StepRecord([rd.write_text(path, frame.to_csv(index=False))], len(frame))


def skill_by_init_step(view: art.RunDirView) -> StepRecord:
    rd, c, key = view.run_dir, view.cfg, view.key
    models = {f: art.read_fold_models(rd, key, f) for f in c.test_folds}
    geo = sbi.predictions_by_init_date(c, view.data, view.geos, models)
    national = sbi.national_by_init_date(geo, view.data.yields)
    sidecars = sbi.sidecars_by_init_date(c, geo, national)
    table = sbi.skill_by_init_date(c, geo, national, sidecars)
    reports = rd.root / "reports"
    written = [rd.write_parquet(art.conformal_by_init_path(rd, m), t) for m, t in sidecars.items()]
    written += [rd.write_text(reports / "skill_by_init_date.csv", table.to_csv(index=False)),
                rd.write_bytes(reports / "skill_by_init_date.png", report.skill_by_init_plot(c, table))]
    return StepRecord(written, len(table), tables={"skill_by_init_date": report.md_table(table)},
                      metrics={f"init_{r.init_md}_{r.level}_rmse": float(r.rmse) for r in table.itertuples()})


def has_skill_by_init(cfg: ExperimentConfig) -> bool:
    """Only monthly indices are known part-way through a season; static features never are."""
    return bool(cfg.inputs.indices) and not cfg.features.static


def whole_run_steps(cfg: ExperimentConfig) -> dict[str, object]:
    """The unpartitioned steps after the fold chain, in dependency order."""
    steps = {"conformal": conformal_step, "national": national_step, "evaluation": evaluation_step,
             "hindcast_delivery": delivery_step}
    return steps | ({"skill_by_init_date": skill_by_init_step} if has_skill_by_init(cfg) else {})


def build_evaluation_assets(cfg: ExperimentConfig, folds: PartitionsDefinition,
                            fold_preds: AssetsDefinition) -> list[AssetsDefinition]:
    """`fold_preds`: the asset whose fold predictions are final (fold_preds, or ensembles)."""
    key = cfg.experiment_key

    @asset(key=AssetKey([key, "bias_corrector"]), group_name=key, partitions_def=folds,
           backfill_policy=BackfillPolicy.single_run(),
           deps=[AssetDep(fold_preds, partition_mapping=AllPartitionMapping())],
           description="Per-fold bias correction from walk-forward residuals of earlier folds only.")
    def bias_corrector(context: AssetExecutionContext, run_dir: RunDirResource) -> MaterializeResult:
        view = art.RunDirView(run_dir.for_experiment(key))
        records = run_folds(context, view, "bias_corrector", bias_corrector_step)
        return MaterializeResult(metadata=fold_metadata(view.run_dir, records))

    def whole_run_asset(name: str, deps: list, description: str) -> AssetsDefinition:
        step = whole_run_steps(cfg)[name]

        @asset(key=AssetKey([key, name]), group_name=key, deps=deps, description=description)
        def _asset(context: AssetExecutionContext, run_dir: RunDirResource,
                   mlflow: MlflowTracking) -> MaterializeResult:
            view = art.RunDirView(run_dir.for_experiment(key))
            record = step(view)
            if record.metrics:
                track(context, mlflow, view, metrics=record.metrics)
            return MaterializeResult(metadata=step_metadata(view.run_dir, record))

        return _asset

    conformal = whole_run_asset("conformal", [AssetDep(bias_corrector, partition_mapping=AllPartitionMapping())],
                                "Conformal sidecars, one per residual mode: quantiles per scope, level and fold.")
    national = whole_run_asset("national", [conformal],
                               "Bias-corrected geo and area-weighted national hindcast with intervals.")
    evaluation = whole_run_asset("evaluation", [national],
                                 "Skill (model, uncorrected model, trend), coverage, plots and reports/report.md.")
    delivery = whole_run_asset("hindcast_delivery", [national],
                               "The client CSV: season x geo plus NATIONAL rows with intervals.")
    out = [bias_corrector, conformal, national, evaluation, delivery]
    if has_skill_by_init(cfg):
        out.append(whole_run_asset("skill_by_init_date", [conformal],
                                   "Walk-forward skill at each forecast init date (only data known by then), "
                                   "and conformal sidecars calibrated per init date for the forecasts."))
    return out
