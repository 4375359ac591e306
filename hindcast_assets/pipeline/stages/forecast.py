"""In-season forecast stages, one (season_year, init date) partition at a time (DESIGN.md §4
`forecast/`). A season is forecast by its own walk-forward fold where the run_dir has it (so a
replay of a past season never uses a model that saw it), else by production. Intervals come
only from the calibration for the forecast's init month-day (`calibration_by_init_date`); a
run_dir without it (a production-only fit) gives forecasts without intervals, and says so."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from hindcast_assets.config import feature_columns, regional_feature_columns
from hindcast_assets.core import forecast as fc
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core.aggregate import national_rows
from hindcast_assets.core.data import geo_names, load_input
from hindcast_assets.core.delivery import Issue, delivery_frame
from hindcast_assets.core.drift import DriftSummary, drift_markdown, drift_plot_png, drift_severity, measure_drift
from hindcast_assets.core.features import season_features
from hindcast_assets.core.indices_store import COLUMNS
from hindcast_assets.core.predictions import with_actual
from hindcast_assets.core.season_dates import ForecastDate
from hindcast_assets.core.season_report import Bands, ForecastReport, forecast_report_html
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.records import CheckVerdict, StageRecord
from hindcast_assets.pipeline.store import RunDirView


def indices(view: RunDirView, at: ForecastDate) -> StageRecord:
    source = view.data.indices
    if source is not None:
        fc.require_season_data(source, view.indices_url, view.geos, at)
    known = (fc.indices_known_at(source, view.geos, at) if source is not None
             else pd.DataFrame(columns=list(COLUMNS)).astype({"date": "datetime64[ns]"}))
    attrs = {"season_year": at.season_year, "init_date": str(at)}
    attrs |= {"vintages": fc.vintages(known)} if "vintage" in known.columns else {}
    written = store.FORECAST_INDICES.write(view.run_dir, (known, attrs), **store.forecast_fields(at))
    last = str(known["date"].max().date()) if len(known) else "none"
    return StageRecord(str(at), [written], len(known), note=f"latest value {last}")


def features(view: RunDirView, at: ForecastDate) -> StageRecord:
    known = store.FORECAST_INDICES.read(view.run_dir, **store.forecast_fields(at))
    frame = fc.forecast_features(view.cfg, known, view.geos, at)
    return StageRecord(str(at), [store.FORECAST_FEATURES.write(view.run_dir, frame, **store.forecast_fields(at))],
                       len(frame))


def drift(view: RunDirView, at: ForecastDate) -> StageRecord:
    """The features known at `at` against the training rows of the fold that forecasts the season
    (its own walk-forward fold for a past season, else production): the rows it learned from.
    The summary's timestamp is the as-of moment of the data, so a re-run writes the same bytes."""
    rd, fields, cfg = view.run_dir, store.forecast_fields(at), view.cfg
    fold = store.forecast_fold(rd, view.key, cfg, at.season_year)
    trained = store.MODEL_CARD.read(rd, key=view.key, fold=fold, member="")["train_seasons"]
    reference = season_features(view.data, cfg, view.geos, trained)
    current = store.FORECAST_FEATURES.read(rd, **fields)
    report = store.FORECAST_DRIFT_REPORT.path(rd, **fields)
    summary = measure_drift(reference, current, feature_columns(cfg), cfg.lifecycle.drift.p_value,
                            f"{at.date}T00:00:00+00:00", regional_feature_columns(cfg)).with_report(str(report))
    title = f"{view.key}: features known at {at} against fold {fold}'s training seasons"
    rules = cfg.lifecycle.drift
    markdown = drift_markdown(summary, title, f"{len(trained)} training seasons of fold {fold}",
                              f"season {at.season_year} as of {at}", rules.warn_share, rules.error_share)
    plot = drift_plot_png(reference, current, summary, title)
    written = [store.FORECAST_DRIFT_REPORT.write(rd, markdown, **fields),
               store.FORECAST_DRIFT_PLOT.write(rd, plot, **fields),
               store.FORECAST_DRIFT.write(rd, summary.to_dict(), **fields)]  # last: the check reads it
    return StageRecord(str(at), written, summary.total, {"drift_share": summary.dataset_drift_score,
                                                         "n_drifted": float(summary.n_drifted)},
                       note=f"{summary.n_drifted} of {summary.total} features drifted against fold {fold}",
                       plots={"drift": plot})


def drift_verdict(view: RunDirView, at: ForecastDate) -> CheckVerdict:
    """WARN or ERROR when the drifted share passes the config's thresholds (read from the summary)."""
    summary = DriftSummary.from_dict(store.FORECAST_DRIFT.read(view.run_dir, **store.forecast_fields(at)))
    rules = view.cfg.lifecycle.drift
    severity = drift_severity(summary, rules.warn_share, rules.error_share)
    worst = ", ".join(summary.drifted()[:5]) or "none"
    return CheckVerdict(severity, f"{summary.n_drifted} of {summary.total} features drifted "
                                  f"({summary.dataset_drift_score:.0%}; WARN above {rules.warn_share:.0%}, ERROR above "
                                  f"{rules.error_share:.0%}); most drifted: {worst}",
                        {"dataset_drift_score": summary.dataset_drift_score, "n_drifted": summary.n_drifted,
                         "total": summary.total, "report_path": summary.report_path or "",
                         "not_yet_known": len(summary.not_known)})


def preds(view: RunDirView, at: ForecastDate) -> StageRecord:
    rd = view.run_dir
    fold = store.forecast_fold(rd, view.key, view.cfg, at.season_year)
    models = store.read_fold_models(rd, view.key, fold)
    rows = store.FORECAST_FEATURES.read(rd, **store.forecast_fields(at))
    out = with_actual(models.predict(view.cfg, rows), view.data.yields)
    written = store.FORECAST_PREDS.write(rd, out, **store.forecast_fields(at))
    return StageRecord(str(at), [written], len(out), {"bias_corrected": float(models.bias_corrected)},
                       note=f"fold {fold}")


def calibration(view: RunDirView, at: ForecastDate) -> dict[str, pd.DataFrame]:
    """Sidecars calibrated for this init month-day; none where the run_dir has no such calibration."""
    out = {}
    for mode in view.cfg.conformal.modes:
        table = store.CONFORMAL_BY_INIT_DATE.read_optional(view.run_dir, mode=mode)
        if table is not None:
            out[mode] = table[table["init_md"] == str(at.init)]
    return {mode: table for mode, table in out.items() if not table.empty}


def _with_intervals(view: RunDirView, frame: pd.DataFrame, at: ForecastDate, scope: str) -> pd.DataFrame:
    """Bounds for every configured mode and level (empty where uncalibrated), so the columns of a
    forecast never depend on what the run_dir holds."""
    out = pp.with_intervals(frame, calibration(view, at), scope)
    for mode in view.cfg.conformal.modes:
        for level in view.cfg.conformal.levels:
            for column in pp.interval_columns(mode, level):
                if column not in out:
                    out[column] = np.nan
    return out


def national(view: RunDirView, at: ForecastDate) -> StageRecord:
    geo = store.FORECAST_PREDS.read(view.run_dir, **store.forecast_fields(at))
    nat = _with_intervals(view, national_rows(geo, view.data.yields, "previous"), at, "national")
    written = store.FORECAST_NATIONAL.write(view.run_dir, nat, **store.forecast_fields(at))
    calibrated = bool(calibration(view, at))
    return StageRecord(str(at), [written], len(nat), {"national_prediction": float(nat["prediction"].iloc[0])},
                       note="intervals calibrated for this init date" if calibrated else
                       "no intervals: the run_dir has no calibration for this init date")


def delivery(view: RunDirView, at: ForecastDate) -> StageRecord:
    rd, fields = view.run_dir, store.forecast_fields(at)
    geo = _with_intervals(view, store.FORECAST_PREDS.read(rd, **fields), at, "geo")
    national = store.read_national(store.FORECAST_NATIONAL, rd, view.cfg, geo, **fields)
    made = dt.datetime.now(dt.timezone.utc).date().isoformat()  # the day this forecast was made
    frame = delivery_frame(view.cfg, geo, national, geo["model"].iloc[0], rd.root.name, store.run_created_at(rd),
                           Issue(str(at.init), made))
    written = store.FORECAST_DELIVERY.write(rd, frame.to_csv(index=False), prefix=view.cfg.delivery_prefix,
                                            key=view.key, **fields)
    return StageRecord(str(at), [written], len(frame))


def _so_far(view: RunDirView, at: ForecastDate) -> pd.DataFrame:
    """This season's national forecasts in the run_dir up to `at`'s, each by its init month-day."""
    rd, season = view.run_dir, str(at.season_year)
    dates = sorted(f["date"] for f in store.FORECAST_NATIONAL.recorded(rd)
                   if f["season"] == season and f["date"] < str(at))
    frames = [store.FORECAST_NATIONAL.read(rd, season=season, date=d).assign(init_md=d[5:]) for d in dates]
    now = store.FORECAST_NATIONAL.read(rd, **store.forecast_fields(at)).assign(init_md=str(at.init))
    return pd.concat([*frames, now], ignore_index=True)


def report(view: RunDirView, at: ForecastDate) -> StageRecord:
    """forecast.html: the number and its intervals, the season so far, drift, the states by name."""
    c, rd, fields = view.cfg, view.run_dir, store.forecast_fields(at)
    yardstick = load_input(c, "yardstick")
    if yardstick is not None:  # only reports out by this init date: USDA's come out mid-month of their month-day
        yardstick = yardstick[(yardstick["season_year"] == at.season_year) & (yardstick["init_md"] < str(at.init))]
    drift = store.FORECAST_DRIFT.read_optional(rd, **fields)  # the check may not have run yet
    summary = None if drift is None else DriftSummary.from_dict(drift)
    drifted = "Drift: not measured yet." if summary is None else \
        (f"Drift: {summary.n_drifted} of {summary.total} features differ from the training seasons' (KS test); "
         f"most: {', '.join(summary.drifted()[:5]) or 'none'}.")
    page = forecast_report_html(ForecastReport(
        title=f"{c.description or view.key}: forecast of {at.season_year} as of {at}", unit=c.unit,
        season_year=at.season_year, init_date=str(at), bands=Bands(c.conformal.modes[0], c.conformal.levels),
        so_far=_so_far(view, at), geo=_with_intervals(view, store.FORECAST_PREDS.read(rd, **fields), at, "geo"),
        names=geo_names(c), yardstick=yardstick, yardstick_name=c.yardstick_name or "", drift=drifted,
        facts={"experiment": view.key, "run_dir": rd.root.name, "season": str(at.season_year), "init date": str(at),
               "fold": store.forecast_fold(rd, view.key, c, at.season_year)}))
    return StageRecord(str(at), [store.FORECAST_REPORT_HTML.write(rd, page, **fields)], 1)
