"""The experiment's set-up and its per-fold model chain (DESIGN.md §5): config, geos, then per
fold detrender, fill values, models, predictions, ensembles and bias corrector. Fitting a fold
uses only seasons before its test season; `production` uses all."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import partial

import pandas as pd

from hindcast_assets.config import ExperimentConfig, ModelSpec, model_feature_columns
from hindcast_assets.core import hindcast as hc
from hindcast_assets.core import inner_folds
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core.data import ExperimentData
from hindcast_assets.core.features import model_inputs
from hindcast_assets.core.geos import experiment_geos
from hindcast_assets.core.ensembles import ensemble_predictions, fit_ensemble, member_table
from hindcast_assets.core.events import timed, training_event
from hindcast_assets.core.metrics import rmse
from hindcast_assets.core.skill_by_init import features_by_init_date
from hindcast_assets.core.splits import PRODUCTION, Fold
from hindcast_assets.core.warmup import warmup_predictions
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.records import StageRecord
from hindcast_assets.pipeline.store import RunDirView
from hindcast_assets.pipeline.workers import each_on_workers, upcoming_partition

events_log = logging.getLogger("hindcast_assets.events")


def emit(event: dict) -> dict:
    """A structured event as one JSON line in the Python log (and, through the record, the run's)."""
    events_log.info(json.dumps(event, sort_keys=True))
    return event


def config_resolved(view: RunDirView, _: None) -> StageRecord:
    """Writes the config the run was launched with (`view.launched_with`); never overwritten."""
    written = store.CONFIG.write(view.run_dir, view.launched_with or view.cfg)
    return StageRecord(None, [written], 1)


def included_geos(view: RunDirView, _: None) -> StageRecord:
    chosen = experiment_geos(view.cfg, view.data.yields)
    return StageRecord(None, [store.INCLUDED_GEOS.write(view.run_dir, chosen)], len(chosen))


def _by_init(cfg: ExperimentConfig, data: ExperimentData, geos: list[str]):
    """A season's feature rows at each init date (`features_by_init_date`), None without init dates."""
    return partial(features_by_init_date, cfg, data, geos) if cfg.has_skill_by_init else None


def warmup_preds(view: RunDirView, _: None) -> StageRecord:
    """The seasons before the first test season walked forward (`core/warmup.py`): residuals that
    give the first folds intervals."""
    cfg = view.cfg
    # in this process, not on the workers: at county scale starting them for five refits (and
    # sending them the inputs) cost more than it saved (benchmarks/README.md)
    warm = warmup_predictions(cfg, view.data, view.geos, _by_init(cfg, view.data, view.geos))
    written = [store.WARMUP_PREDS.write(view.run_dir, frame, key=view.key, scope=scope)
               for scope, frame in (("geo", warm.geo), ("national", warm.national))]
    end = warm.at(inner_folds.END_OF_SEASON).geo
    metrics = {"warmup_seasons": end["season_year"].nunique()}
    if len(end):  # none when no season before the first test season has enough training seasons
        metrics["warmup_geo_rmse"] = rmse(end["actual"], end["prediction"])
    return StageRecord(None, written, len(warm.geo), metrics)


def _where(view: RunDirView, fold: str) -> dict:
    return {"key": view.key, "fold": fold}


def detrender(view: RunDirView, fold_name: str) -> StageRecord:
    fold = hc.fold_of(view.cfg, view.data.yields, fold_name)
    trend = hc.fit_detrender(view.cfg, view.data, view.geos, fold)
    written = store.DETRENDER.write(view.run_dir, trend, **_where(view, fold_name))
    return StageRecord(fold_name, [written], len(trend.slopes), {"n_train_seasons": len(fold.train_seasons)})


def _train_frame(view: RunDirView, fold_name: str):
    fold = hc.fold_of(view.cfg, view.data.yields, fold_name)
    trend = store.DETRENDER.read(view.run_dir, **_where(view, fold_name))
    return fold, trend, hc.design_frame(view.cfg, view.data, view.geos, fold.train_seasons, trend)


def feature_fill_values(view: RunDirView, fold_name: str) -> StageRecord:
    _, _, train = _train_frame(view, fold_name)
    fill = hc.fit_fill_values(view.cfg, train)
    return StageRecord(fold_name, [store.FILL_VALUES.write(view.run_dir, fill, **_where(view, fold_name))], len(fill))


@dataclass(frozen=True)
class _Fitted:
    """A base model fitted (on a worker or here): its spec after any search, and what is written."""

    spec: ModelSpec
    search: dict | None
    saved: store.SavedModel
    train_rmse: float
    seconds: float


def _fit_member(cfg: ExperimentConfig, _data: ExperimentData, _geos: list[str],
                piece: tuple[str, pd.DataFrame, pd.DataFrame]) -> _Fitted:
    """One base model of a fold (`piece`: its name, the training rows' target and trend, the rows
    as the models see them), as a worker runs it: fitted, scored in sample and saved there."""
    name, truth, inputs = piece
    spec, search = hc.searched(cfg, cfg.model_specs[name], inputs)
    fitted, seconds = timed(lambda: hc.fit_model(cfg, spec, inputs))
    in_sample = rmse(truth["target"], truth["trend"] + fitted.predict(inputs))
    return _Fitted(spec, search, store.SavedModel.of(fitted), in_sample, seconds)


def model(view: RunDirView, fold_name: str) -> StageRecord:
    """Train every base model of the experiment once on this fold (under its own name, side by
    side on the worker processes), and the experiment's model also at the contract path."""
    fold, _, train = _train_frame(view, fold_name)
    fill = store.FILL_VALUES.read(view.run_dir, **_where(view, fold_name))
    cfg, inputs, truth = view.cfg, model_inputs(view.cfg, train, fill), train[["target", "trend"]]
    shapes = {name: {"experiment": view.key, "fold": fold_name, "model": name, "n_rows": len(train),
                     "n_features": len(spec.columns(model_feature_columns(cfg)))}
              for name, spec in cfg.model_specs.items()}
    events = [emit(training_event("training_started", **shape)) for shape in shapes.values()]
    fits = each_on_workers(_fit_member, [(name, truth, inputs) for name in shapes], (cfg, view.data, view.geos))
    written, metrics = [], {}
    for (name, shape), fit in zip(shapes.items(), fits):
        card = {"fold": fold_name, "train_seasons": [int(s) for s in fold.train_seasons], "n_rows": len(train),
                "train_rmse": fit.train_rmse, **({"search": fit.search} if fit.search else {})}
        for target in _targets(view, name):
            written += store.write_model(view.run_dir, view.key, fold_name, fit.saved, card, target)
        metrics[f"train_rmse_{name}"] = fit.train_rmse
        events.append(emit(training_event("training_complete", **shape, seconds=fit.seconds,
                                          metrics={"train_rmse": fit.train_rmse})))
    return StageRecord(fold_name, written, len(train), metrics, events)


def _targets(view: RunDirView, name: str) -> list[str | None]:
    """Where model `name`'s artefacts go: its own folder, and the contract paths if it is the
    experiment's model."""
    return [name, None] if name == view.cfg.model.name else [name]


def _wf_metrics(preds: pd.DataFrame, name: str) -> dict[str, float]:
    return {f"wf_rmse_{name}": rmse(preds["target"], preds["prediction"])}


def _write_preds(view: RunDirView, fold_name: str, frames: dict, name: str) -> list:
    return [artefact.write(view.run_dir, frame, key=view.key, fold=fold_name, member=store.member(target))
            for target in _targets(view, name) for artefact, frame in frames.items()]


def fold_preds(view: RunDirView, fold_name: str) -> StageRecord:
    """Every base model's in-sample and walk-forward predictions; the experiment's model's also
    at the contract paths, beside the test season's rows as the models saw them."""
    fold, trend, train = _train_frame(view, fold_name)
    fill = store.FILL_VALUES.read(view.run_dir, **_where(view, fold_name))
    cfg = view.cfg
    test = None if fold.is_production else hc.design_frame(cfg, view.data, view.geos, [fold.test_season], trend)
    train_inputs = model_inputs(cfg, train, fill)
    test_inputs = None if test is None else model_inputs(cfg, test, fill)
    written, metrics = [], {}
    for name in cfg.base_models:
        fitted = store.read_model(view.run_dir, view.key, fold_name, name)
        frames = {store.TRAIN_PREDS: hc.predictions(fitted, train, train_inputs, fold)}
        if test is not None:
            frames[store.WALK_FORWARD_PREDS] = hc.predictions(fitted, test, test_inputs, fold)
            metrics |= _wf_metrics(frames[store.WALK_FORWARD_PREDS], name)
        written += _write_preds(view, fold_name, frames, name)
    if test is not None:
        written.append(store.YEAR_DATA.write(view.run_dir, test_inputs, **_where(view, fold_name)))
        metrics["wf_rmse_trend"] = rmse(test["target"], test["trend"])
    return StageRecord(fold_name, written, len(train) + (0 if test is None else len(test)), metrics)


def _member_preds(view: RunDirView, fold_name: str, artefact: store.Artefact, members: list[str]) -> dict:
    return {m: artefact.read(view.run_dir, key=view.key, fold=fold_name, member=store.member(m)) for m in members}


def ensembles(view: RunDirView, fold_name: str) -> StageRecord:
    """Each ensemble from its members' fold predictions (fitted on earlier folds only)."""
    cfg, rd, key = view.cfg, view.run_dir, view.key
    earlier = pp.earlier_folds(cfg, fold_name)
    # each file the members wrote, and the ensemble's own of it
    files = {store.TRAIN_PREDS: store.ENSEMBLE_TRAIN_PREDS}
    if fold_name != PRODUCTION:
        files[store.WALK_FORWARD_PREDS] = store.ENSEMBLE_WALK_FORWARD_PREDS
    written, metrics, rows = [], {}, 0
    for name, spec in cfg.ensembles.items():
        history = [member_table(_member_preds(view, f, store.WALK_FORWARD_PREDS, spec.members)) for f in earlier]
        fitted = fit_ensemble(name, spec, pd.concat(history, ignore_index=True) if history else pd.DataFrame(),
                              len(earlier))
        first = store.MODEL_CARD.read(rd, key=key, fold=fold_name, member=store.member(spec.members[0]))
        card = {"fold": fold_name, "calibration_folds": earlier, "train_seasons": first["train_seasons"]}
        frames = {own: ensemble_predictions(fitted, member_table(_member_preds(view, fold_name, members, spec.members)))
                  for members, own in files.items()}
        for target in _targets(view, name):
            written += store.write_model(rd, key, fold_name, store.SavedModel.of(fitted), card, target)
        written += _write_preds(view, fold_name, frames, name)
        rows += sum(len(f) for f in frames.values())
        if store.ENSEMBLE_WALK_FORWARD_PREDS in frames:
            metrics |= _wf_metrics(frames[store.ENSEMBLE_WALK_FORWARD_PREDS], name)
    return StageRecord(fold_name, written, rows, metrics)


def bias_corrector(view: RunDirView, fold_name: str) -> StageRecord:
    walk_forward = store.read_walk_forward(view.run_dir, view.key, pp.earlier_folds(view.cfg, fold_name))
    corrector = pp.fit_bias_corrector(view.cfg, walk_forward, fold_name)
    written = store.BIAS_CORRECTOR.write(view.run_dir, corrector, **_where(view, fold_name))
    return StageRecord(fold_name, [written], corrector.n_residuals, {"bias_overall": corrector.overall})


def _block_national(cfg: ExperimentConfig, data: ExperimentData, geos: list[str], block: tuple[int, ...],
                    fold: Fold) -> pd.DataFrame:
    """One block's refit and national rows (`inner_folds.block_national`), as a worker runs it."""
    return inner_folds.block_national(cfg, data, geos, fold, block, inner_folds.combiner(cfg),
                                      _by_init(cfg, data, geos))


def _inner_pieces(cfg: ExperimentConfig, data: ExperimentData, fold_name: str) -> tuple[partial, list]:
    """A fold's inner refits as pieces for the workers: the function, and one block per piece."""
    fold = hc.fold_of(cfg, data.yields, fold_name)
    return partial(_block_national, fold=fold), inner_folds.season_blocks(fold.train_seasons, cfg.conformal.inner_blocks)


def inner_national(view: RunDirView, fold_name: str) -> StageRecord:
    """National predictions of the fold's training seasons by refits without their block, at the
    end of the season and at each init date: the residuals its national intervals are calibrated
    on (`core/inner_folds.py`; an ensemble's members blended with equal weights)."""
    cfg, after = view.cfg, upcoming_partition()
    ahead = None if after is None else _inner_pieces(cfg, view.data, after)
    rows = inner_folds.stacked_blocks(each_on_workers(*_inner_pieces(cfg, view.data, fold_name),
                                                      (cfg, view.data, view.geos), ahead=ahead))
    held = rows[rows["held_out"] & (rows["init_md"] == inner_folds.END_OF_SEASON)]
    written = store.INNER_NATIONAL.write(view.run_dir, rows, **_where(view, fold_name))
    return StageRecord(fold_name, [written], len(rows), {"inner_national_rmse": rmse(held["actual"], held["prediction"]),
                                                         "inner_national_seasons": len(held)})
