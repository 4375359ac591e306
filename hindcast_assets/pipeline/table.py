"""The stage table: the pipeline described once (DESIGN.md §5, §7).

Each row names a stage, how it is partitioned, the stages and inputs it reads, the artefacts it
writes and its function. The Dagster assets (`defs/assets.py`), the plain loop (`loop.py`),
the jobs and docs/architecture.md are generated from it. Rows are in dependency order, and
every stage but `config_resolved` also reads the run_dir's config (an edge added for all).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import configured_inputs
from hindcast_assets.core.inner_folds import uses_inner_folds
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.core.warmup import has_warmup
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.stages import evaluation, folds, forecast
from hindcast_assets.pipeline.store import Artefact


class Partitioning(str, Enum):
    NONE = "none"
    FOLD = "fold"  # test season years, then production
    FORECAST = "season_year x init_date"


# External inputs (DESIGN.md §2), by their config key under `inputs:`.
YIELDS, INDICES, REGIONAL, STATIC, REFERENCES, YARDSTICK, WEIGHTS = (
    "yields", "indices", "regional", "static_features", "references", "yardstick", "weights")
WEATHER = (INDICES, REGIONAL)  # dated predictors: per geo, and a region's series (the crop condition)
YIELD_ROWS = (YIELDS, WEIGHTS)  # the yields rows, their area from the weights where the yields have none
DATA = (*YIELD_ROWS, *WEATHER, STATIC)  # what a stage reads when it builds features


@dataclass(frozen=True)
class Upstream:
    stage: str
    all_partitions: bool = False  # reads every partition (e.g. earlier folds), not just its own


@dataclass(frozen=True)
class Stage:
    name: str
    partitioning: Partitioning
    run: Callable[..., Any]  # (RunDirView, partition) -> StageRecord
    writes: tuple[Artefact, ...]
    description: str
    upstream: tuple[Upstream, ...] = ()
    inputs: tuple[str, ...] = ()
    fit_production: bool = False  # part of the production-only fit
    check_of: str | None = None  # a check of that stage's asset (shown as its asset check), not an asset
    verdict: Callable[..., Any] | None = field(default=None, repr=False)  # (view, partition) -> CheckVerdict
    when: Callable[[ExperimentConfig], bool] = field(default=lambda cfg: True, repr=False)
    # A whole-run stage that reads only the seasons up to a fixed one: that season (a fold stage
    # reads up to its test season, `through_test_season`). Such partitions may be copied from
    # another run_dir with the same determinants (pipeline/reuse.py).
    reads_through: Callable[[ExperimentConfig, Any], int | None] | None = field(default=None, repr=False)

    @property
    def reuse_horizon(self) -> Callable[[ExperimentConfig, Any], int | None] | None:
        """The last season whose input rows a partition reads (None: every season), for a reusable
        stage; None for the others."""
        return through_test_season if self.partitioning is Partitioning.FOLD else self.reads_through

    @property
    def group(self) -> str:
        return "forecast" if self.partitioning is Partitioning.FORECAST else "hindcast"


def through_test_season(_: ExperimentConfig, fold: str) -> int | None:
    """A fold reads its training seasons and its test season; production reads every season."""
    return None if fold == PRODUCTION else int(fold)


def before_first_test_season(cfg: ExperimentConfig, _: None) -> int:
    return cfg.hindcast.first_test_year - 1


def partition_id(stage: str, partition: Any) -> str:
    """`stage` for a whole-run stage, `stage[partition]` otherwise: the manifest's key."""
    return stage if partition is None else f"{stage}[{partition}]"


def _up(*names: str, all_partitions: bool = False) -> tuple[Upstream, ...]:
    return tuple(Upstream(n, all_partitions) for n in names)


def has_ensembles(cfg: ExperimentConfig) -> bool:
    return bool(cfg.ensembles)


def forecasts_in_season(cfg: ExperimentConfig) -> bool:
    """Only monthly indices are known part-way through a season; static features never are."""
    return not cfg.features.static


def has_skill_by_init(cfg: ExperimentConfig) -> bool:
    return cfg.has_skill_by_init


FOLD, NONE, FORECAST = Partitioning.FOLD, Partitioning.NONE, Partitioning.FORECAST
CONFIG_STAGE = "config_resolved"  # every other stage reads the config it writes
FINAL_FOLD_PREDS = _up("fold_preds", "ensembles", all_partitions=True)  # the walk-forward of every model
FITTED = _up("detrender", "feature_fill_values", "model", "ensembles", "bias_corrector", all_partitions=True)

STAGES: tuple[Stage, ...] = (
    Stage(CONFIG_STAGE, NONE, folds.config_resolved, (store.CONFIG,),
          "The experiment config with defaults filled and env vars expanded; written once.", fit_production=True),
    Stage("included_geos", NONE, folds.included_geos, (store.INCLUDED_GEOS,),
          "Geos modelled: enough seasons and area share before the first test season.",
          inputs=YIELD_ROWS, fit_production=True),
    Stage("warmup_preds", NONE, folds.warmup_preds, (store.WARMUP_PREDS,),
          "The seasons before the first test season, each predicted by a refit on the seasons before it "
          "(end of season and each init date): residuals for the first folds' intervals.",
          _up("included_geos"), DATA, when=has_warmup, reads_through=before_first_test_season),
    Stage("detrender", FOLD, folds.detrender, (store.DETRENDER,),
          "Per-geo linear trend fitted on the fold's training seasons.",
          _up("included_geos"), YIELD_ROWS, fit_production=True),
    Stage("feature_fill_values", FOLD, folds.feature_fill_values, (store.FILL_VALUES,),
          "Per-feature fill values: each geo's training climatology.",
          _up("included_geos", "detrender"), DATA, fit_production=True),
    Stage("model", FOLD, folds.model, (store.MODEL_FILE, store.MODEL_CARD),
          "Every base model of the fold, in its native file format, with its card.",
          _up("included_geos", "detrender", "feature_fill_values"), DATA, fit_production=True),
    Stage("fold_preds", FOLD, folds.fold_preds, (store.TRAIN_PREDS, store.WALK_FORWARD_PREDS, store.YEAR_DATA),
          "In-sample and walk-forward (test season) predictions, and the test rows as the models saw them.",
          _up("included_geos", "detrender", "feature_fill_values", "model"), DATA),
    Stage("features_by_init_date", FOLD, evaluation.features_by_init_date, (store.FEATURES_BY_INIT_DATE,),
          "The fold's test season as known at each init month-day (nothing on or after it): what the "
          "calibration by init date predicts from.", _up("included_geos"), DATA, when=has_skill_by_init),
    Stage("inner_national", FOLD, folds.inner_national, (store.INNER_NATIONAL,),
          "National predictions of the fold's training seasons by refits without their block (end of "
          "season and each init date): the residuals of its national intervals.",
          _up("included_geos"), DATA, when=uses_inner_folds),
    Stage("ensembles", FOLD, folds.ensembles, (store.ENSEMBLE_MODEL_FILE, store.ENSEMBLE_MODEL_CARD,
                                               store.ENSEMBLE_TRAIN_PREDS, store.ENSEMBLE_WALK_FORWARD_PREDS),
          "Ensembles of the base models' fold predictions (stacking fitted on earlier folds only).",
          _up("model") + _up("fold_preds", all_partitions=True), when=has_ensembles),
    Stage("bias_corrector", FOLD, folds.bias_corrector, (store.BIAS_CORRECTOR,),
          "Per-fold bias correction from walk-forward residuals of earlier folds only.", FINAL_FOLD_PREDS),
    Stage("fold_preds_by_init_date", FOLD, evaluation.fold_preds_by_init_date, (store.FOLD_PREDS_BY_INIT_DATE,),
          "The fold's test season re-predicted by its own fitted artefacts with only what was known at each "
          "init date.", _up("features_by_init_date", "detrender", "feature_fill_values", "model", "ensembles",
                            "bias_corrector"), YIELD_ROWS, when=has_skill_by_init),
    Stage("conformal", NONE, evaluation.conformal, (store.CONFORMAL,),
          "Conformal sidecars, one per residual mode: quantiles per scope, level and fold.",
          FINAL_FOLD_PREDS + _up("bias_corrector", "inner_national", all_partitions=True) + _up("warmup_preds"),
          YIELD_ROWS),
    Stage("national", NONE, evaluation.national, (store.POSTPROCESSED,),
          "Bias-corrected geo and area-weighted national hindcast with intervals.",
          FINAL_FOLD_PREDS + _up("bias_corrector", all_partitions=True) + _up("conformal"), YIELD_ROWS),
    Stage("evaluation", NONE, evaluation.evaluation, (store.REPORT_TABLE, store.REPORT_PLOT),
          "Skill (model, uncorrected model, trend), coverage, models compared and their plots.",
          FINAL_FOLD_PREDS + _up("national"), (*YIELD_ROWS, REFERENCES)),
    Stage("hindcast_delivery", NONE, evaluation.hindcast_delivery, (store.HINDCAST_DELIVERY,),
          "The client CSV: season x geo plus NATIONAL rows with intervals.",
          _up("model", all_partitions=True) + _up("national")),
    Stage("calibration_by_init_date", NONE, evaluation.calibration_by_init_date,
          (store.PREDS_BY_INIT_DATE, store.CONFORMAL_BY_INIT_DATE),
          "Every test season's predictions at each init date, and conformal sidecars per init date from "
          "their residuals (the forecasts' intervals).",
          _up("fold_preds_by_init_date", "inner_national", all_partitions=True) + _up("warmup_preds"),
          YIELD_ROWS,
          when=has_skill_by_init),
    Stage("skill_by_init_date", NONE, evaluation.skill_by_init_date, (store.INIT_DATE_TABLE, store.INIT_DATE_PLOT),
          "RMSE, MAPE and interval coverage at each forecast init date, model against trend (and against "
          "the yardstick's forecasts where configured).",
          _up("calibration_by_init_date"), (REFERENCES, YARDSTICK), when=has_skill_by_init),
    Stage("season_report", NONE, evaluation.season_report, (store.REPORT_HTML, store.REPORT),
          "reports/report.html: the headline, each season's national forecast by init date with its "
          "intervals beside the yardstick's, the national hindcast, the states by name, coverage; "
          "reports/report.md: the same headline and tables with the evaluation's detail.",
          _up("model", all_partitions=True) + _up("national", "evaluation", "calibration_by_init_date",
                                                  "skill_by_init_date"),
          (*YIELD_ROWS, REFERENCES, YARDSTICK)),
    Stage("forecast_indices", FORECAST, forecast.indices, (store.FORECAST_INDICES,),
          "The season's predictor values known at the init date (nothing on or after it).",
          _up("included_geos"), WEATHER, when=forecasts_in_season),
    Stage("forecast_features", FORECAST, forecast.features, (store.FORECAST_FEATURES,),
          "Features as of the init date, by the hindcast's as-of feature function.",
          _up("included_geos", "forecast_indices"), when=forecasts_in_season),
    Stage("forecast_drift", FORECAST, forecast.drift, (store.FORECAST_DRIFT, store.FORECAST_DRIFT_REPORT,
                                                       store.FORECAST_DRIFT_PLOT),
          "Drift of the features known at the init date against the forecasting fold's training rows (KS test "
          "per feature): an asset check of the features, WARN or ERROR by the drifted share.",
          _up("included_geos", "forecast_features") + _up("model", all_partitions=True), DATA,
          when=forecasts_in_season,
          check_of="forecast_features", verdict=forecast.drift_verdict),
    Stage("forecast_preds", FORECAST, forecast.preds, (store.FORECAST_PREDS,),
          "Geo forecasts from the season's own walk-forward fold, else production (bias-corrected where fitted).",
          _up("forecast_features") + FITTED, YIELD_ROWS, when=forecasts_in_season),
    Stage("forecast_national", FORECAST, forecast.national, (store.FORECAST_NATIONAL,),
          "Area-weighted national forecast (previous season's areas) with intervals for its init date.",
          _up("forecast_preds", "calibration_by_init_date"), YIELD_ROWS,
          when=lambda cfg: forecasts_in_season(cfg) and cfg.has_area),
    Stage("forecast_delivery", FORECAST, forecast.delivery, (store.FORECAST_DELIVERY,),
          "The client CSV of the forecast: the hindcast delivery's columns and the day it was made.",
          _up("forecast_preds", "forecast_national", "calibration_by_init_date"), when=forecasts_in_season),
    Stage("forecast_report", FORECAST, forecast.report, (store.FORECAST_REPORT_HTML,),
          "forecast.html: the national number with its intervals, the season's earlier forecasts beside the "
          "yardstick's, the drift check's verdict where it has run, the states by name.",
          _up("forecast_preds", "forecast_national", "calibration_by_init_date") + _up("model", all_partitions=True),
          (*YIELD_ROWS, YARDSTICK), when=forecasts_in_season),
)


def stage_table(cfg: ExperimentConfig) -> list[Stage]:
    """The stages of one experiment: rows that apply to its config, edges to stages it has and
    inputs it configures."""
    present = [s for s in STAGES if s.when(cfg)]
    names = {s.name for s in present}
    configured = set(configured_inputs(cfg))
    return [replace(s, upstream=tuple(u for u in s.upstream if u.stage in names),
                    inputs=tuple(i for i in s.inputs if i in configured)) for s in present]


def asset_stages(stages: list[Stage]) -> list[Stage]:
    """The stages that are assets (the others are checks of one)."""
    return [s for s in stages if s.check_of is None]


def stage_partitions(stage: Stage, folds: list[str]) -> list:
    """The partitions a job over `folds` runs a stage over (forecasts aside)."""
    return folds if stage.partitioning is Partitioning.FOLD else [None]


def hindcast_stages(cfg: ExperimentConfig) -> list[Stage]:
    return [s for s in stage_table(cfg) if s.partitioning is not Partitioning.FORECAST]


def fit_production_stages(cfg: ExperimentConfig) -> list[Stage]:
    return [s for s in stage_table(cfg) if s.fit_production]


def forecast_stages(cfg: ExperimentConfig) -> list[Stage]:
    return [s for s in stage_table(cfg) if s.partitioning is Partitioning.FORECAST]


def graph_shape(cfg: ExperimentConfig) -> dict[str, Any]:
    """What in a config decides which assets, partitions and inputs exist: a run_dir whose config
    differs from the code location's in any of these is refused (README, "One source of truth")."""
    return {"experiment_key": cfg.experiment_key, "hindcast.first_test_year": cfg.hindcast.first_test_year,
            "hindcast.last_test_year": cfg.hindcast.last_test_year, "model.name": cfg.model.name,
            "compare": sorted(cfg.compare), "ensembles": sorted(cfg.ensembles), "features.static": cfg.features.static,
            "forecast.init_dates": cfg.forecast.init_dates, "forecast season years": cfg.forecast_season_years,
            **{f"inputs.{k}": v for k, v in cfg.inputs.model_dump().items()}}


def shape_difference(ours: ExperimentConfig, theirs: ExperimentConfig) -> tuple[str, Any, Any] | None:
    """The first graph-shaping key on which two configs differ, with both values."""
    a, b = graph_shape(ours), graph_shape(theirs)
    return next(((k, a[k], b[k]) for k in a if a[k] != b[k]), None)


def stage_writing(cfg: ExperimentConfig, path: str) -> Stage:
    """The one stage of `cfg` that writes the run_dir-relative `path` (and so its asset,
    `<key>/<stage>`, or the asset it checks)."""
    writers = [s for s in stage_table(cfg) if any(a.matches(path, cfg) for a in s.writes)]
    if len(writers) != 1:
        raise LookupError(f"{path}: written by {[s.name for s in writers] or 'no stage'}; one was expected")
    return writers[0]


def _written(artefact) -> str:
    domain = artefact.domain
    return f"`{artefact.template}`" + (f" ({domain.name}: {domain.meaning})" if domain else "")


def markdown(cfg: ExperimentConfig) -> str:
    """The stage table as docs/architecture.md shows it: stage -> function, partitions, reads, writes."""
    lines = ["| stage (asset `<key>/<stage>`) | function | partitions | reads | writes |", "|---|---|---|---|---|"]
    for s in stage_table(cfg):
        reads = [f"{u.stage}{' (all)' if u.all_partitions else ''}" for u in s.upstream] + [f"*{i}*" for i in s.inputs]
        function = f"`{s.run.__module__.removeprefix('hindcast_assets.')}.{s.run.__name__}`"
        writes = "<br>".join(_written(a) for a in s.writes)
        lines.append(f"| `{s.name}` | {function} | {s.partitioning.value} | {', '.join(reads) or '-'} | {writes} |")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m hindcast_assets.pipeline.table: the table for docs/architecture.md
    from hindcast_assets.config import load_config
    from hindcast_assets.paths import CONFIGS_DIR

    print(markdown(load_config(CONFIGS_DIR / "corn_usa.yaml")))
