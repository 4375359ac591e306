"""Whole-run stages after the fold chain (DESIGN.md §5): conformal sidecars, the bias-corrected
national hindcast, evaluation reports, the client CSV, and the hindcast by init date with its
per-init-date calibration (what the forecasts' intervals come from)."""
from __future__ import annotations

import io

import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core import report
from hindcast_assets.core import skill_by_init as sbi
from hindcast_assets.core.aggregate import NO_NATIONAL
from hindcast_assets.core.data import geo_names, load_input, load_references, qc_excluded
from hindcast_assets.core.delivery import Issue, delivery_frame
from hindcast_assets.core.evaluation import Evaluation, compare_models, evaluate
from hindcast_assets.core.inner_folds import END_OF_SEASON, uses_inner_folds
from hindcast_assets.core.preflight import feature_gaps
from hindcast_assets.core.season_report import SeasonReport, season_report_html
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.core.warmup import NO_WARMUP, Warmup, has_warmup
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.records import StageRecord
from hindcast_assets.pipeline.store import RunDirView


def _corrected(view: RunDirView) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bias-corrected geo walk-forward predictions of every test fold, and their national rows."""
    rd, key, folds = view.run_dir, view.key, view.cfg.test_folds
    correctors = {f: store.BIAS_CORRECTOR.read(rd, key=key, fold=f) for f in folds}
    geo = pp.corrected_geo_preds(store.read_walk_forward(rd, key, folds), correctors)
    return geo, pp.national_preds(view.cfg, geo, view.data.yields)


def _by_scope(cfg: ExperimentConfig, geo: pd.DataFrame, national: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The frames a stage writes per scope: no national one without areas (no file, chart or line)."""
    return {"geo": geo, "national": national} if cfg.has_area else {"geo": geo}


def _write_sidecars(view: RunDirView, artefact: store.Artefact, sidecars: dict[str, pd.DataFrame]) -> list:
    return [artefact.write(view.run_dir, table, mode=mode) for mode, table in sidecars.items()]


def _inner(view: RunDirView) -> dict[str, pd.DataFrame] | None:
    """Every fold's inner national residual rows, when the national intervals use them."""
    c = view.cfg
    if not uses_inner_folds(c):
        return None
    return {f: store.INNER_NATIONAL.read(view.run_dir, key=view.key, fold=f) for f in [*c.test_folds, PRODUCTION]}


def _warmup(view: RunDirView) -> Warmup:
    """The warm-up seasons' rows (`core/warmup.py`), when the experiment has them."""
    if not has_warmup(view.cfg):
        return NO_WARMUP
    return Warmup(*(store.WARMUP_PREDS.read(view.run_dir, key=view.key, scope=s) for s in ("geo", "national")))


def conformal(view: RunDirView, _: None) -> StageRecord:
    inner, warmup = _inner(view), _warmup(view)
    pools = pp.inner_pools(inner, END_OF_SEASON) if inner is not None else None
    sidecars = pp.conformal_sidecars(view.cfg, *_corrected(view), pools, warmup.at(END_OF_SEASON))
    production = {f"q_{m}_{r.scope}_{round(r.level * 100)}": float(r.quantile) for m, t in sidecars.items()
                  for r in t[t["calibrated_for"] == PRODUCTION].itertuples()}
    return StageRecord(None, _write_sidecars(view, store.CONFORMAL, sidecars), sum(map(len, sidecars.values())),
                       production)


def national(view: RunDirView, _: None) -> StageRecord:
    """The postprocessed geo rows, and the national ones where the config has areas (without, no
    national file, chart or line is made)."""
    geo, nat = _corrected(view)
    sidecars = {m: store.CONFORMAL.read(view.run_dir, mode=m) for m in view.cfg.conformal.modes}
    written = [store.POSTPROCESSED.write(view.run_dir, pp.with_intervals(frame, sidecars, scope), scope=scope)
               for scope, frame in _by_scope(view.cfg, geo, nat).items()]
    return StageRecord(None, written, len(nat), note="" if view.cfg.has_area else NO_NATIONAL)


def _postprocessed(view: RunDirView) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The postprocessed geo and national rows; without areas no rows of the national scope."""
    geo = store.POSTPROCESSED.read(view.run_dir, scope="geo")
    return geo, store.read_national(store.POSTPROCESSED, view.run_dir, view.cfg, geo, scope="national")


def evaluation(view: RunDirView, _: None) -> StageRecord:
    rd, c, key = view.run_dir, view.cfg, view.key
    geo, nat = _postprocessed(view)
    ev = _evaluated(view, geo, nat)
    comparison = compare_models(c, {m: store.read_walk_forward(rd, key, c.test_folds, m) for m in c.model_names},
                                view.data.yields)
    tables = {"skill": ev.headline(), "skill_by_fold": ev.by_fold, "skill_by_geo": ev.by_geo,
              "coverage": ev.coverage, "model_comparison": comparison}
    written = [store.REPORT_TABLE.write(rd, frame.to_csv(index=False), name=name) for name, frame in tables.items()]
    plots = {"national_hindcast": report.national_plot(c, nat), "error_by_season": report.error_plot(c, nat)} \
        if c.has_area else {}
    plots["coverage"] = report.coverage_plot(ev.coverage)
    written += [store.REPORT_PLOT.write(rd, png, name=name) for name, png in plots.items()]
    metrics = {f"{r.level.replace(' ', '_')}_{m}_{r.predictor}": float(getattr(r, m))
               for r in ev.headline().itertuples() for m in ("rmse", "mape")}
    metrics |= {f"coverage_{r.scope}_{r.mode}_{round(r.level * 100)}": float(r.coverage)
                for r in ev.coverage.itertuples()}
    shown = {name: tables[name] for name in ("skill", "model_comparison", "coverage")}
    return StageRecord(None, written, len(geo), metrics, tables=shown, plots=plots)


def hindcast_delivery(view: RunDirView, _: None) -> StageRecord:
    rd, key = view.run_dir, view.key
    model = store.card_name(store.MODEL_CARD.read(rd, key=key, fold=view.cfg.test_folds[-1], member=""))
    frame = delivery_frame(view.cfg, *_postprocessed(view), model, rd.root.name, store.run_created_at(rd),
                           Issue(view.cfg.features.as_of or ""))
    written = store.HINDCAST_DELIVERY.write(rd, frame.to_csv(index=False), prefix=view.cfg.delivery_prefix,
                                            key=key, stamp=store.run_stamp(rd))
    return StageRecord(None, [written], len(frame))


def features_by_init_date(view: RunDirView, fold_name: str) -> StageRecord:
    """The fold's test season as known at each init month-day (per fold, so fold chunks make it
    side by side; production has no test season)."""
    if fold_name == PRODUCTION:
        return StageRecord(fold_name, [], 0, note="no test season")
    rows = sbi.features_by_init_date(view.cfg, view.data, view.geos, int(fold_name))
    return StageRecord(fold_name, [store.FEATURES_BY_INIT_DATE.write(view.run_dir, rows, fold=fold_name)], len(rows))


def fold_preds_by_init_date(view: RunDirView, fold_name: str) -> StageRecord:
    """The fold's test season predicted by the fold from its features at each init month-day: an
    artefact of its own so a fold copied from another run_dir brings it (issue 30: the fan-in
    of a retrain then only reads)."""
    if fold_name == PRODUCTION:
        return StageRecord(fold_name, [], 0, note="no test season")
    rd = view.run_dir
    features = store.FEATURES_BY_INIT_DATE.read(rd, fold=fold_name)
    preds = sbi.fold_predictions_by_init_date(view.cfg, view.data.yields, features,
                                              store.read_fold_models(rd, view.key, fold_name))
    return StageRecord(fold_name, [store.FOLD_PREDS_BY_INIT_DATE.write(rd, preds, key=view.key, fold=fold_name)],
                       len(preds))


def calibration_by_init_date(view: RunDirView, _: None) -> StageRecord:
    """Every test season's predictions at each init month-day, and conformal sidecars per init
    month-day from their residuals."""
    rd, c = view.run_dir, view.cfg
    geo = pd.concat([store.FOLD_PREDS_BY_INIT_DATE.read(rd, key=view.key, fold=f) for f in c.test_folds],
                    ignore_index=True)
    national = sbi.national_by_init_date(geo, view.data.yields)
    written = [store.PREDS_BY_INIT_DATE.write(rd, frame, scope=scope)
               for scope, frame in _by_scope(c, geo, national).items()]
    written += _write_sidecars(view, store.CONFORMAL_BY_INIT_DATE,
                               sbi.sidecars_by_init_date(c, geo, national, _inner(view), _warmup(view)))
    return StageRecord(None, written, len(geo))


def skill_by_init_date(view: RunDirView, _: None) -> StageRecord:
    rd, c = view.run_dir, view.cfg
    geo = store.PREDS_BY_INIT_DATE.read(rd, scope="geo")
    national = store.read_national(store.PREDS_BY_INIT_DATE, rd, c, geo, scope="national")
    sidecars = {m: store.CONFORMAL_BY_INIT_DATE.read(rd, mode=m) for m in c.conformal.modes}
    table = sbi.skill_by_init_date(c, geo, national, sidecars)
    plots = {"skill_by_init_date": report.skill_by_init_plot(c, table)}
    written = [store.INIT_DATE_TABLE.write(rd, table.to_csv(index=False), name="skill_by_init_date"),
               *(store.INIT_DATE_PLOT.write(rd, png, name=name) for name, png in plots.items())]
    metrics = {f"init_{r.init_md}_{r.level}_rmse": float(r.rmse) for r in table.itertuples()}
    tables = {"skill_by_init_date": table}
    yardstick, reference = load_input(c, "yardstick"), load_references(c)
    if yardstick is not None:
        tables["yardstick"] = sbi.against_yardstick(national, yardstick, reference)
        metrics |= {f"init_{r.init_md}_yardstick_rmse": float(r.rmse_yardstick) for r in tables["yardstick"].itertuples()}
    if not national.empty:
        shown = sorted({AUGUST_1, c.forecast.init_dates[-1]} & set(c.forecast.init_dates))
        tables["seasons"] = sbi.season_by_season(national, yardstick, reference, shown)
    written += [store.INIT_DATE_TABLE.write(rd, tables[name].to_csv(index=False), name=name)
                for name in ("yardstick", "seasons") if name in tables]
    return StageRecord(None, written, len(table), metrics, tables=tables, plots=plots)


AUGUST_1 = "08-01"  # the season table's in-season date: USDA's first survey-based forecast of the season


def _national_by_init_date(view: RunDirView) -> pd.DataFrame:
    """The national forecast of every test season at each init date, with the intervals that init
    date's calibration gives (what a forecast made then would have shown); none without them."""
    c, rd = view.cfg, view.run_dir
    if not (c.has_skill_by_init and c.has_area):
        return pd.DataFrame(columns=["init_md", "season_year", "prediction", "trend"])
    national = store.PREDS_BY_INIT_DATE.read(rd, scope="national")
    sidecars = {m: store.CONFORMAL_BY_INIT_DATE.read(rd, mode=m) for m in c.conformal.modes}
    return sbi.with_intervals_by_init(national, sidecars, "national")


def _facts(view: RunDirView) -> dict[str, str]:
    c, rd = view.cfg, view.run_dir
    model = store.card_name(store.MODEL_CARD.read(rd, key=view.key, fold=c.test_folds[-1], member=""))
    return {"experiment": c.experiment_key, "run_dir": rd.root.name, "model": model,
            "test seasons": f"{c.test_folds[0]}-{c.test_folds[-1]}",
            "intervals": f"{c.conformal.modes[0]} conformal, {', '.join(f'{lv:.0%}' for lv in c.conformal.levels)}",
            "reference": c.reference_name or "-", "yardstick": c.yardstick_name or "-"}


def _report_table(artefact: store.Artefact, rd, name: str) -> pd.DataFrame | None:
    """A report table the run_dir has (verified), as a frame; None where its stage did not write it."""
    text = artefact.read_optional(rd, name=name)
    return None if text is None else pd.read_csv(io.StringIO(text))


def _evaluated(view: RunDirView, geo: pd.DataFrame, national: pd.DataFrame) -> Evaluation:
    """Skill and coverage of the postprocessed rows (against the config's reference figures)."""
    c = view.cfg
    return evaluate(geo, national, c.conformal.modes, c.conformal.levels, load_references(c))


def season_report(view: RunDirView, _: None) -> StageRecord:
    """reports/report.html, the season as an analyst reads it (core/season_report.py), and
    reports/report.md, its headline and tables with the evaluation's detail."""
    c, rd = view.cfg, view.run_dir
    geo, national = _postprocessed(view)
    page = SeasonReport(
        title=c.description, run_name=rd.root.name, unit=c.unit, mode=c.conformal.modes[0], levels=c.conformal.levels,
        national=national, by_init=_national_by_init_date(view), geo=geo, names=geo_names(c),
        yardstick=load_input(c, "yardstick"), yardstick_name=c.yardstick_name or "", reference=load_references(c),
        skill=_report_table(store.REPORT_TABLE, rd, "skill"),
        coverage=_report_table(store.REPORT_TABLE, rd, "coverage"),
        skill_by_init=_report_table(store.INIT_DATE_TABLE, rd, "skill_by_init_date"),
        against_yardstick=_report_table(store.INIT_DATE_TABLE, rd, "yardstick"), facts=_facts(view))
    parts = report.MarkdownParts(
        _evaluated(view, geo, national), _report_table(store.REPORT_TABLE, rd, "model_comparison"), qc_excluded(c),
        feature_gaps(c, view.data, view.geos) if c.features.fill_gaps else None,
        _report_table(store.INIT_DATE_TABLE, rd, "seasons"))
    written = [store.REPORT_HTML.write(rd, season_report_html(page)),
               store.REPORT.write(rd, report.report_markdown(c, page, parts))]
    return StageRecord(None, written, len(national))
