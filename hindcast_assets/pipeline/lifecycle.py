"""The model lifecycle (DESIGN.md §9), after the seed's retraining flow: check the newest
season's drift against the champion's training rows, evaluate the champion on the seasons it
has not seen, retrain (a fresh hindcast run_dir: the challenger) when drift or error crosses its
threshold, and promote only if the challenger beats the champion on the same rows by a margin.

Champion and challenger are compared out of sample on the same geo-seasons: for a season after
the champion's training, the champion's production model against the challenger's walk-forward
fold. With one new season the two were trained on the same seasons, so they tie; the gap opens
as the champion grows stale. Dagster-free: the launcher passes in how to run a hindcast.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from hindcast_assets.core.errors import UserError
from hindcast_assets.config import ConfigError, ExperimentConfig, feature_columns, regional_feature_columns
from hindcast_assets.core.data import ExperimentData, load_experiment_data, scored_seasons
from hindcast_assets.core.drift import DriftSummary, drift_markdown, drift_plot_png, measure_drift
from hindcast_assets.core.features import season_features
from hindcast_assets.core.metrics import rmse
from hindcast_assets.core.predictions import with_actual
from hindcast_assets.core.rundir import RunDir, UnsafeArtefactError, set_current
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.registry import CHALLENGER, CHAMPION, PROMOTED_AT_TAG, ModelVersion, Registry
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.pipeline.runlog import ManifestMismatchError, read_manifest, verify
from hindcast_assets.pipeline.tracking import Tracker, host_lock, run_name

FIRST_RUN = "first run: the experiment had no champion"


class ChampionUnusable(UserError, RuntimeError):
    """The registry names a champion whose run_dir is missing or corrupt: a failure to look
    into, never taken for "no champion yet" (which would promote whatever comes next)."""


class NoChampion(UserError, LookupError):
    """Asked for the champion of an experiment that has none yet."""


class PromotionError(UserError, ValueError):
    """A run_dir that cannot be promoted (incomplete, or not a hindcast)."""


@dataclass(frozen=True)
class Champion:
    version: ModelVersion
    result: ExperimentResult
    models: Any  # FoldModels of the production fold

    @property
    def cfg(self) -> ExperimentConfig:
        return self.result.cfg

    @property
    def trained_through(self) -> int:
        return self.version.trained_through


@dataclass
class RetrainingResult:
    """Every decision of the flow, typed (the seed's RetrainingResult)."""

    retrained: bool
    promoted: bool
    drift_summary: DriftSummary | None
    run_dir: str | None  # the challenger's when retrained, else the champion's
    mlflow_run_id: str | None  # the MLflow run recording this decision
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    champion_version: str | None = None  # after the decision

    def to_json(self) -> str:
        out = asdict(self)
        out["drift_summary"] = self.drift_summary.to_dict() if self.drift_summary else None
        return json.dumps(out, sort_keys=True, default=float)


# -- registering and promoting ---------------------------------------------------------------------

def _skill(result: ExperimentResult) -> dict[str, float]:
    table = result.skill()
    return {f"{r.level}.{'rmse' if r.predictor == 'model' else 'trend_rmse'}": float(r.rmse)
            for r in table.itertuples()}


def _promotable(rd: RunDir) -> ExperimentResult:
    result = ExperimentResult.from_run_dir(rd)
    if result.manifest is None or result.manifest.job != "hindcast" or result.complete is not True:
        raise PromotionError(f"{rd.root / store.MANIFEST_FILE}: job: only a complete hindcast run_dir can be "
                             f"promoted (complete it with `hindcast resume {rd}`)")
    return result


def register(rd: RunDir, registry: Registry) -> ModelVersion:
    """The run_dir's registry version (made once), tagged with its skill and training cutoff."""
    result = _promotable(rd)
    tracked = [r["mlflow_run_id"] for r in result.manifest.runs if r.get("mlflow_run_id")]
    return registry.register(result.cfg, rd, tracked[-1] if tracked else None,
                             result.production.train_seasons[-1], _skill(result))


def promote(rd: RunDir, reason: str, registry: Registry | None = None) -> ModelVersion:
    """Make the run_dir its experiment's champion, with the reason, and point the experiment's
    current run_dir at it (the forecast sensor follows)."""
    registry = registry or Registry()
    version = registry.record_promotion(register(rd, registry), reason)
    set_current(str(rd.root.parent), version.name, rd)
    return version


def promote_if_first(rd: RunDir) -> ModelVersion | None:
    """A completed hindcast is registered; it is promoted when its experiment has no champion."""
    registry = Registry()
    version = register(rd, registry)
    with host_lock(registry.tracker.uri, "champion", version.name):
        if registry.alias(version.name, CHAMPION) is None:
            return promote(rd, FIRST_RUN, registry)
    return None


def load_champion(key: str, registry: Registry | None = None) -> Champion | None:
    """The champion, its run_dir checked against its manifest and its production model loaded;
    None when there is none yet; ChampionUnusable when its files are missing or corrupt."""
    version = (registry or Registry()).alias(key, CHAMPION)
    if version is None:
        return None
    rd = RunDir(version.run_dir)
    try:
        manifest = read_manifest(rd)
        if manifest is None:
            raise FileNotFoundError(f"{rd.root / store.MANIFEST_FILE}: missing")
        verify(rd, manifest)
        return Champion(version, ExperimentResult.from_run_dir(rd), store.read_fold_models(rd, key, PRODUCTION))
    except (OSError, ValueError, ConfigError, UnsafeArtefactError, ManifestMismatchError) as exc:
        raise ChampionUnusable(f"champion of {key} (registry version {version.version}, {rd}) is unusable: "
                               f"{exc}") from None


def describe_champion(key: str) -> str:
    """`hindcast champion`: the champion's run_dir, version, skill and the decision that made it."""
    champion = load_champion(key)
    if champion is None:
        raise NoChampion(f"{key}: no champion in the MLflow registry yet; "
                         "`hindcast run hindcast --config ...` makes the first")
    v = champion.version
    skill = "; ".join(f"{k} {x:.2f}" for k, x in sorted(v.skill().items()))
    return "\n".join([f"champion of {key}: registered model {v.name} version {v.version}",
                      f"trained through {v.trained_through}; walk-forward skill: {skill}",
                      f"promoted {v.tags.get(PROMOTED_AT_TAG, '?')}: {v.reason}", v.run_dir])


# -- evaluating ------------------------------------------------------------------------------------

def champion_predictions(champion: Champion, data: ExperimentData, seasons: list[int]) -> pd.DataFrame:
    """The champion's out-of-sample predictions of `seasons`: its walk-forward hindcast where it
    tested the season, its production model for seasons after its training; in-sample seasons
    are left out."""
    cfg, geos = champion.cfg, champion.result.included_geos
    tested = champion.result.geo
    frames = [tested[tested["season_year"].isin(seasons)][["geo_id", "season_year", "actual", "prediction", "trend"]]]
    unseen = [s for s in seasons if s > champion.trained_through]
    if unseen:
        rows = season_features(data, cfg, geos, unseen).assign(init_date=f"as of {cfg.features.as_of}")
        preds = with_actual(champion.models.predict(cfg, rows), data.yields)
        frames.append(preds[["geo_id", "season_year", "actual", "prediction", "trend"]])
    out = pd.concat(frames, ignore_index=True)
    return out[out["actual"].notna()].reset_index(drop=True)


def scores(frame: pd.DataFrame) -> dict[str, float]:
    return {"rmse": rmse(frame["actual"], frame["prediction"]), "trend_rmse": rmse(frame["actual"], frame["trend"]),
            "n": float(len(frame)), "seasons": float(frame["season_year"].nunique())}


def season_drift(champion: Champion, data: ExperimentData, season: int) -> tuple[DriftSummary, pd.DataFrame,
                                                                                  pd.DataFrame]:
    """The season's end-of-season features against the champion's production training rows."""
    cfg, geos = champion.cfg, champion.result.included_geos
    trained = [s for s in champion.result.production.train_seasons if s != season]
    reference = season_features(data, cfg, geos, trained)
    current = season_features(data, cfg, geos, [season])
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    summary = measure_drift(reference, current, feature_columns(cfg), cfg.lifecycle.drift.p_value, now,
                            regional_feature_columns(cfg))
    return summary, reference, current


# -- the flow --------------------------------------------------------------------------------------

@dataclass
class Decision:
    """What the flow has found so far; becomes the RetrainingResult."""

    cfg: ExperimentConfig
    champion: Champion | None
    drift: DriftSummary | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    drift_rows: tuple[pd.DataFrame, pd.DataFrame] | None = None  # (reference, current), for the plot


def challenger_config(cfg: ExperimentConfig, newest: int) -> ExperimentConfig:
    """The config's hindcast extended to the newest season with yields, so the challenger tests
    every season the champion did not train on."""
    last = max(cfg.hindcast.last_test_year, newest)
    return cfg.model_copy(update={"hindcast": cfg.hindcast.model_copy(update={"last_test_year": last})})


def _needs_retraining(d: Decision, data: ExperimentData, force: bool) -> tuple[bool, list[int]]:
    """Drift and champion error on the seasons since the champion's training; the seasons to
    compare on."""
    rules, champion = d.cfg.lifecycle.retrain, d.champion
    seasons = scored_seasons(data.yields)
    new = [s for s in seasons if s > champion.trained_through]
    d.drift, *rows = season_drift(champion, data, seasons[-1])
    d.drift_rows = tuple(rows)
    d.metrics["drift_share"] = d.drift.dataset_drift_score
    drifted = d.drift.dataset_drift_score >= rules.drift_share
    d.reasons.append(f"season {seasons[-1]}: {d.drift.n_drifted} of {d.drift.total} features drifted "
                     f"({d.drift.dataset_drift_score:.0%}; retrain at {rules.drift_share:.0%})")
    if not new:
        d.reasons.append(f"no season with yields after the champion's training (through {champion.trained_through})")
        tested = sorted(int(f) for f in champion.result.hindcast if f != PRODUCTION)
        return force, tested[-rules.evaluation_seasons:]
    behind = seasons[-1] - champion.trained_through
    stale = rules.max_seasons_behind is not None and behind >= rules.max_seasons_behind
    d.reasons.append(f"the champion's training ends {behind} season{'s' * (behind > 1)} before the newest"
                     + (f" (retrain at {rules.max_seasons_behind})" if rules.max_seasons_behind else ""))
    hindcast_rmse = champion.version.skill().get("geo.rmse", float("nan"))
    now = scores(champion_predictions(champion, data, new))
    ratio = now["rmse"] / hindcast_rmse
    d.metrics |= {"champion_new_seasons": now, "champion_hindcast_rmse": hindcast_rmse, "champion_error_ratio": ratio}
    d.reasons.append(f"champion RMSE on {new[0]}-{new[-1]} {now['rmse']:.2f} vs {hindcast_rmse:.2f} in its hindcast "
                     f"(x{ratio:.2f}; retrain at x{rules.error_ratio:.2f}); trend {now['trend_rmse']:.2f}")
    return force or drifted or stale or ratio >= rules.error_ratio, new


def _compare(d: Decision, data: ExperimentData, challenger: ExperimentResult, seasons: list[int]) -> bool:
    """Champion and challenger on the same geo-seasons; True when the challenger wins by the margin."""
    ours = champion_predictions(d.champion, data, seasons)
    theirs = challenger.geo[challenger.geo["season_year"].isin(seasons)]
    keys = ["geo_id", "season_year"]
    both = ours.merge(theirs[[*keys, "prediction"]], on=keys, suffixes=("", "_challenger"))
    champ = scores(both)
    chall = scores(both.assign(prediction=both["prediction_challenger"]))
    margin = d.cfg.lifecycle.retrain.promote_margin
    d.metrics |= {"champion": champ, "challenger": chall, "compared_seasons": seasons}
    wins = chall["rmse"] < champ["rmse"] * (1 - margin)
    d.reasons.append(f"on {seasons[0]}-{seasons[-1]} ({int(champ['n'])} geo-seasons) challenger RMSE "
                     f"{chall['rmse']:.2f} vs champion {champ['rmse']:.2f}: "
                     + ("promoted" if wins else f"not promoted (needs {margin:.0%} lower)"))
    return wins


LaunchHindcast = Callable[[ExperimentConfig], RunDir]


def retraining_flow(cfg: ExperimentConfig, force: bool, launch: LaunchHindcast,
                    registry: Registry | None = None) -> tuple[RetrainingResult, Decision]:
    """Decide, retrain and promote as the module docstring says; raises ChampionUnusable."""
    registry = registry or Registry()
    d = Decision(cfg, load_champion(cfg.experiment_key, registry))
    if d.champion is None:
        rd = launch(cfg)  # the launcher promotes a first hindcast
        d.reasons.append(FIRST_RUN + ", so the new hindcast is promoted")
        version = registry.alias(cfg.experiment_key, CHAMPION)
        return RetrainingResult(True, True, None, str(rd), None, {}, "; ".join(d.reasons),
                                version.version if version else None), d
    data = load_experiment_data(cfg)
    retrain, seasons = _needs_retraining(d, data, force)
    if not retrain:
        d.reasons.append("not retrained")
        return _result(d, False, False, str(d.champion.result.run_dir), registry), d
    if force:
        d.reasons.append("retraining forced")
    rd = launch(challenger_config(cfg, scored_seasons(data.yields)[-1]))
    registry.set_alias(register(rd, registry), CHALLENGER)
    wins = _compare(d, data, ExperimentResult.from_run_dir(rd), seasons)
    if wins:
        promote(rd, "; ".join(d.reasons), registry)
    return _result(d, True, wins, str(rd), registry), d


def _result(d: Decision, retrained: bool, promoted: bool, run_dir: str, registry: Registry) -> RetrainingResult:
    champion = registry.alias(d.cfg.experiment_key, CHAMPION)
    return RetrainingResult(retrained, promoted, d.drift, run_dir, None, d.metrics, "; ".join(d.reasons),
                            champion.version if champion else None)


def record_decision(result: RetrainingResult, d: Decision, orchestrator_run_id: str, reports_dir: str,
                    tracker: Tracker | None = None) -> RetrainingResult:
    """The drift report (JSON, markdown, plot) and the decision written under `reports_dir` and
    logged to an MLflow run of their own, whose id the result then carries."""
    tracker = tracker or Tracker()
    cfg = d.cfg
    folder = RunDir(reports_dir)
    if result.drift_summary is not None:
        reference, current = d.drift_rows
        rules = cfg.lifecycle.drift
        title = f"{cfg.experiment_key}: drift of the newest season against the champion's training rows"
        report = folder.root / "drift.md"
        folder.write_text(report, drift_markdown(result.drift_summary, title, "champion training seasons",
                                                 "newest season", rules.warn_share, rules.error_share))
        folder.write_bytes(folder.root / "drift.png", drift_plot_png(reference, current, result.drift_summary, title))
        result.drift_summary = result.drift_summary.with_report(str(report))
        folder.write_text(folder.root / "drift.json", json.dumps(result.drift_summary.to_dict(), indent=2))
    run_id = tracker.run_for(orchestrator_run_id, cfg.mlflow_experiment,
                             run_name(cfg.experiment_key, "retrain", reports_dir.rstrip("/").rsplit("/", 1)[-1]), {"hindcast/kind": "retrain"},
                             {"force": "retraining forced" in result.reason})
    result.mlflow_run_id = run_id
    folder.write_text(folder.root / "decision.json", result.to_json())
    numbers = {k: v for k, v in result.metrics.items() if isinstance(v, int | float)}
    tracker.log(run_id, metrics={**numbers, "retrained": result.retrained, "promoted": result.promoted})
    tracker.client.set_tag(run_id, "decision", result.reason[:5000])
    tracker.client.log_artifacts(run_id, str(folder.root), "retraining")
    tracker.end(run_id, "FINISHED")
    return result

