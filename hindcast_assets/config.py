"""Experiment configs: one YAML file per experiment, validated before anything is written.

Every error names the file and the dotted key, so a user can fix it without reading code.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from hindcast_assets.core.errors import UserError
from hindcast_assets.core.feature_names import monthly_feature_names, preseason_feature_names
from hindcast_assets.core.season_dates import MonthDay
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.paths import input_data_dir

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
EXPANDED = ("inputs",)  # the keys whose values are paths: `${VAR}` expands there and nowhere else, so a secret
# referenced elsewhere (a description, a name) is never copied into config_resolved.yaml, reports or MLflow


class ConfigError(UserError, ValueError):
    """A config that cannot be used; the message names the file and the key."""


class KeyRule(ValueError):
    """A rule between keys broken, raised in a validator: `key` (dotted, relative to the model
    raising it) is the one the message is about, so the error names it and not `<top>`."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def _not_below(other: str, value: Any, info: ValidationInfo, word: str) -> Any:
    """A field that may not be below an earlier one (`last_test_year` and `first_test_year`)."""
    bound = info.data.get(other)
    if bound is not None and value < bound:
        raise ValueError(f"{value} is {word} {other} {bound}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Inputs(_Strict):
    """The input files (local paths or fsspec URLs; `${INPUT_DATA_DIR}` and other variables expand)."""

    yields: str  # the target per geo and season (and its area): parquet or csv
    indices: str | None = None  # dated values per geo (weather): geo_id, date, variable, value
    static_features: str | None = None  # per geo and season, known before the season starts
    references: str | None = None  # an official national figure per season, for evaluation only
    yardstick: str | None = None  # another forecaster's national forecasts by init date (season_year, init_md, forecast)
    weights: str | None = None  # national weights when the yields have no area: geo_id[, season_year], weight
    regional: str | None = None  # series of a region, not a geo (date, variable, value): see features.regional


class Columns(_Strict):
    """The inputs' column names, where they differ from the canonical ones."""

    geo_id: str = "geo_id"  # the region's identifier (text; matched exactly across inputs)
    geo_name: str | None = None  # optional yields column naming each geo, for the reports ("Iowa", not "US-19")
    season_year: str = "season_year"  # the harvest year
    target: str  # the yields column to predict (e.g. yield_bu_per_acre)
    area: str | None = None  # without it geo skill only: no national aggregation (no weights to give)
    date: str = "date"  # the indices' date (a period's value is dated at the period's end)
    variable: str = "variable"  # the indices' variable name (e.g. tmax, prcp)
    value: str = "value"  # the indices' value
    reference_target: str | None = None  # the references file's column holding the figure
    vintage: str | None = None  # optional indices column naming each value's source vintage (recorded by forecasts)
    # what a time-stamped input's dates mark (`indices`, `regional`): a value summarising a period is
    # dated at the period's end (core/dating.py); `period_start` converts a file that dates it at the start
    date_marks: dict[Literal["indices", "regional"], Literal["period_end", "period_start"]] = {}


class QcRule(_Strict):
    """Yield rows excluded from training and scoring (flagged suspect in the source, say): rows
    where the yields file's `column` is true, every row of `seasons`, every row of `geos`.
    Listed in the report. Without a rule a NaN target in a training season is an error."""

    column: str | None = None  # a true/false yields column: true rows are excluded
    seasons: list[int] = []  # seasons excluded entirely (not test seasons)
    geos: list[str] = []  # geos excluded entirely

    @property
    def active(self) -> bool:
        return bool(self.column or self.seasons or self.geos)


class GeoRule(_Strict):
    """Which geos enter the experiment, judged on seasons before the first test season."""

    min_seasons: int = Field(10, ge=1)  # seasons with a yield before the first test season
    min_area_share: float = Field(0.0, ge=0.0, lt=1.0)  # share of the total area, on the seasons judged
    judged_on_last_seasons: int = Field(10, ge=1)  # the area share is judged on this many seasons before


class DetrendConfig(_Strict):
    """The per-geo trend the models predict the departure from (and the baseline they are scored against)."""

    method: Literal["linear"] = "linear"  # a least-squares line per geo over its training seasons
    start_year: int | None = None  # fit the trend on seasons from this year only
    min_seasons: int = Field(10, ge=2)  # a geo with fewer gets the other geos' median slope through its own level


class RegionalFeatures(_Strict):
    """Variables of `inputs.regional` (a series for a whole region, e.g. a weekly crop-condition
    index of several states) as monthly features over `features.months`: the latest value known
    in each month. They apply to `geos` (default: every geo); other geos get the fill value."""

    variables: list[str] = []  # inputs.regional variables made features
    geos: list[str] = []  # the geos they apply to (default: every geo)


class FeatureConfig(_Strict):
    """What the models see of a season: monthly values of the indices, known by `as_of`."""

    as_of: str | None = None  # month-day the end-of-season features are known by (with months and variables)
    months: list[int] = []  # the season's months whose values become features (e.g. 5-9)
    variables: list[str] = []  # the indices variables used
    derived: list[Literal["gdd", "edd", "vpd", "water_balance"]] = []  # monthly, see core/agronomy.py
    preseason: list[str] = []  # indices variables totalled over October-April before the season
    static: list[str] = []  # static_features columns used
    regional: RegionalFeatures = RegionalFeatures()
    anomalies: bool = True  # add each feature's departure from the geo's training climatology
    # a gap in an included geo's weather or static features (a season it has a yield in) is refused;
    # `true` fills it with the geo's training climatology, and the report lists every filled gap
    fill_gaps: bool = False

    @field_validator("as_of")
    @classmethod
    def _month_day(cls, value: str | None) -> str | None:
        if value is not None:
            MonthDay.parse(value)
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[int], info: ValidationInfo) -> list[int]:
        bad = [m for m in value if not 1 <= m <= 12]
        if bad:
            raise ValueError(f"months must be 1..12, got {bad}")
        as_of = info.data.get("as_of")
        late = [m for m in value if as_of and MonthDay(m + 1, 1) > MonthDay.parse(as_of)]
        if late:
            raise ValueError(f"months {late} end on or after as_of {as_of}, so they are never known by then")
        return value

    @model_validator(mode="after")
    def _monthly_needs_as_of(self) -> FeatureConfig:
        if (self.months or self.variables) and not (self.months and self.variables and self.as_of):
            raise KeyRule("variables", "monthly features need all of as_of, months and variables")
        if (self.derived or self.preseason or self.regional.variables) and not self.variables:
            raise KeyRule("variables", "features.derived, features.preseason and features.regional need monthly "
                                       "features (variables)")
        clash = sorted(set(self.regional.variables) & set(self.variables))
        if clash:
            raise KeyRule("regional.variables", f"{clash} are also in features.variables; name them apart")
        return self


PLUGIN_KEY, FEATURES_KEY = "model", "features"  # reserved keys of a `compare:` entry (see ModelSpec)


@dataclass(frozen=True)
class ModelSpec:
    """A base model as the config names it: the registered plugin it runs (`model:`, default the
    entry's own name), the feature groups it sees (`features:`, name prefixes such as `cci`; none:
    every feature) and the plugin's params. So one plugin can serve under two names, e.g. a ridge
    on the crop condition alone beside the trees on everything."""

    name: str
    plugin: str
    features: tuple[str, ...]
    params: dict[str, Any]

    @classmethod
    def of(cls, name: str, raw: dict[str, Any]) -> ModelSpec:
        params = {k: v for k, v in raw.items() if k not in (PLUGIN_KEY, FEATURES_KEY)}
        return cls(name, raw.get(PLUGIN_KEY, name), tuple(raw.get(FEATURES_KEY, ())), params)

    def columns(self, available: list[str]) -> list[str]:
        """The model's columns among `available` (a feature and its anomaly share a prefix)."""
        return [c for c in available if not self.features or c.startswith(self.features)]

    def with_params(self, params: dict[str, Any]) -> ModelSpec:
        return ModelSpec(self.name, self.plugin, self.features, params)


class ModelConfig(_Strict):
    """The experiment's model: a registered model or the name of an ensemble below."""

    name: str = "lightgbm"  # a registered model (lightgbm, xgboost, hist_gbm, ridge, trend, a plugin) or an ensemble
    params: dict[str, Any] = {}  # the model's parameters, over its defaults


class EnsembleConfig(_Strict):
    """A composition of base models; members' fold predictions are made once and reused."""

    method: Literal["blend_avg", "stack_ridge"]  # equal weights, or ridge weights fitted on earlier folds
    members: list[str] = Field(min_length=2)  # base models (the model, compared ones, or plugin names)
    alpha: float = Field(1.0, ge=0.0)  # stack_ridge: ridge penalty of the meta-model
    min_folds: int = Field(5, ge=1)  # stack_ridge: fewer earlier folds -> equal weights


class SearchConfig(_Strict):
    """Optional hyperparameter search (Optuna), inside each fold's training seasons only: the
    last `validation_seasons` of them validate, the earlier ones train. Off unless models are named."""

    models: list[str] = []  # the models whose parameters are searched
    trials: int = Field(20, ge=1, le=500)  # Optuna trials per fold and model
    validation_seasons: int = Field(3, ge=1)  # the training seasons' last ones, held out to score a trial


class ForecastConfig(_Strict):
    """In-season forecasts: init month-days and the season years that may be forecast."""

    init_dates: list[str] = ["06-01", "07-01", "08-01", "09-01", "10-01"]  # month-days a forecast is made as of
    first_season_year: int | None = None  # default: the first test season
    last_season_year: int | None = None  # default: the season after the last test season

    @field_validator("init_dates")
    @classmethod
    def _month_days(cls, value: list[str]) -> list[str]:
        for md in value:
            MonthDay.parse(md)
        return value


class HindcastConfig(_Strict):
    first_test_year: int  # the first season predicted walk-forward
    last_test_year: int  # the last one; production trains on every season up to it
    rolling_window: int | None = Field(None, ge=2)  # train on only this many seasons before each test season
    fold_runs: int = Field(2, ge=1)  # a UI backfill splits the per-fold stages into this many runs

    @field_validator("last_test_year")
    @classmethod
    def _ordered(cls, value: int, info: ValidationInfo) -> int:
        return _not_below("first_test_year", value, info, "before")

    @property
    def test_years(self) -> list[int]:
        return list(range(self.first_test_year, self.last_test_year + 1))


class ConformalConfig(_Strict):
    """Intervals from walk-forward residuals; a hindcast fold is calibrated on earlier folds only."""

    modes: list[Literal["absolute", "relative"]] = ["absolute", "relative"]  # residuals in units, or as a share
    levels: list[float] = [0.8, 0.9]  # the intervals' coverage levels
    min_folds: int = Field(5, ge=1)  # earlier folds needed before a geo interval is given
    delivery_mode: Literal["absolute", "relative"] | None = None  # default: the first mode
    # national scope: residuals of refits inside each fold's training seasons (core/inner_folds.py),
    # or of earlier folds only (few: no interval for the first folds)
    national_residuals: Literal["inner_folds", "earlier_folds"] = "inner_folds"
    inner_blocks: int = Field(5, ge=2)  # contiguous blocks of training seasons, one refit each
    # seasons before the first test season walked forward for calibration only (core/warmup.py): the
    # folds with fewer than min_folds earlier ones calibrate on them too; 0: none
    warmup_seasons: int = Field(5, ge=0)

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        bad = [v for v in value if not 0 < v < 1]
        if bad:
            raise ValueError(f"levels must be between 0 and 1, got {bad}")
        return value

    @property
    def delivered_mode(self) -> str:
        return self.delivery_mode or self.modes[0]


class BiasCorrectionConfig(_Strict):
    """Each geo's mean walk-forward error on earlier folds, subtracted from its predictions."""

    enabled: bool = True  # off: predictions as the model makes them
    min_folds: int = Field(5, ge=1)  # earlier folds needed before a fold is corrected
    shrinkage: float = Field(5.0, ge=0.0)  # pseudo-residuals pulling a geo's bias toward the overall one


class AggregationConfig(_Strict):
    area: Literal["actual", "previous"] = "actual"  # national weights: the season's own areas, or last season's


class MlflowConfig(_Strict):
    experiment: str | None = None  # the MLflow experiment's name (default: the experiment_key)


class DriftConfig(_Strict):
    """Drift of a season's features against a model's training rows (core/drift.py): a feature
    drifts when its KS test's p-value is below `p_value`; the share of drifted features is a
    WARN above `warn_share` and an ERROR above `error_share` (the forecast features' asset check)."""

    p_value: float = Field(0.05, gt=0.0, lt=1.0)  # a feature drifts below this KS p-value
    warn_share: float = Field(0.3, ge=0.0, le=1.0)  # WARN above this share of drifted features
    error_share: float = Field(0.5, ge=0.0, le=1.0)  # ERROR above this share

    @field_validator("error_share")
    @classmethod
    def _ordered(cls, value: float, info: ValidationInfo) -> float:
        return _not_below("warn_share", value, info, "below")


class RetrainConfig(_Strict):
    """When the retraining flow retrains and when it promotes (DESIGN.md §9)."""

    drift_share: float = Field(0.5, ge=0.0, le=1.0)  # retrain when this share of the newest season's features drifted
    error_ratio: float = Field(1.25, gt=0.0)  # ...or the champion's RMSE since its training / its hindcast RMSE
    max_seasons_behind: int | None = Field(3, ge=1)  # ...or its training ends this many seasons before the newest
    promote_margin: float = Field(0.02, ge=0.0, lt=1.0)  # the challenger's RMSE must be this fraction lower
    evaluation_seasons: int = Field(3, ge=1)  # compared when no season is newer than the champion (forced)


class LifecycleConfig(_Strict):
    drift: DriftConfig = DriftConfig()
    retrain: RetrainConfig = RetrainConfig()


NOAA_NCLIMDIV, NASS_QUICKSTATS = "noaa_nclimdiv", "nass_quickstats"  # the sources `hindcast ingest` pulls


class IngestConfig(_Strict):
    """Where `hindcast ingest` and the UI's ingest asset pull an input from (docs/guide/ingest.md)."""

    indices: Literal[NOAA_NCLIMDIV] | None = None  # noaa_nclimdiv: NOAA's statewide monthly weather (geo ids US-<FIPS>)
    yields: Literal[NASS_QUICKSTATS] | None = None  # nass_quickstats: NASS's state corn yields and acres (NASS_API_KEY)
    yardstick: Literal[NASS_QUICKSTATS] | None = None  # nass_quickstats: USDA's Aug-Nov national corn yield forecasts
    regional: Literal[NASS_QUICKSTATS] | None = None  # nass_quickstats: the Corn Belt's weekly corn condition index
    schedule: str = "0 6 10 * *"  # cron of the UI's ingest schedule (NOAA releases about a week into the month)
    publication_lag_days: int = Field(10, ge=0)  # days after a month ends before its weather is published


class ExperimentConfig(_Strict):
    experiment_key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # names the asset group, run_dirs and MLflow experiment
    description: str = ""  # one line on what is predicted from what (the reports' title)
    unit: str  # the target's unit (e.g. bu/acre)
    inputs: Inputs
    columns: Columns
    reference_name: str | None = None  # what inputs.references holds, as the report names it
    yardstick_name: str | None = None  # whose forecasts inputs.yardstick holds
    qc: QcRule = QcRule()
    geos: GeoRule = GeoRule()
    detrend: DetrendConfig = DetrendConfig()
    features: FeatureConfig = FeatureConfig()
    model: ModelConfig = ModelConfig()
    compare: dict[str, dict[str, Any]] = {}  # other models trained on every fold and reported beside it
    ensembles: dict[str, EnsembleConfig] = {}  # named compositions of base models (see ensembles.<name>)
    search: SearchConfig = SearchConfig()
    hindcast: HindcastConfig
    forecast: ForecastConfig = ForecastConfig()
    conformal: ConformalConfig = ConformalConfig()
    bias_correction: BiasCorrectionConfig = BiasCorrectionConfig()
    aggregation: AggregationConfig = AggregationConfig()
    delivery_prefix: str = Field("Treefera", pattern=r"^[A-Za-z0-9_-]+$")  # the delivery files' name prefix
    mlflow: MlflowConfig = MlflowConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    ingest: IngestConfig = IngestConfig()  # where inputs are pulled from (none: files you provide)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentConfig:
        if self.features.variables and not self.inputs.indices:
            raise KeyRule("inputs.indices", "features.variables needs inputs.indices")
        if bool(self.features.regional.variables) != bool(self.inputs.regional):
            raise KeyRule("features.regional.variables", "inputs.regional and features.regional.variables go "
                                                         "together: the series and which of its variables to use")
        if self.features.static and not self.inputs.static_features:
            raise KeyRule("inputs.static_features", "features.static needs inputs.static_features")
        if self.geos.min_area_share > 0 and self.columns.area is None:
            raise KeyRule("geos.min_area_share", "needs columns.area (there is no area to take a share of)")
        if self.columns.area and self.inputs.weights:
            raise KeyRule("inputs.weights", "the yields have columns.area already; give one or the other")
        if self.inputs.references and not self.reference_name:
            raise KeyRule("reference_name", "inputs.references needs reference_name: what the reference is "
                                            "(e.g. 'USDA NASS final estimate'), as the report names it")
        if self.inputs.yardstick and not (self.yardstick_name and self.inputs.references and self.has_area):
            raise KeyRule("inputs.yardstick", "needs yardstick_name, inputs.references (the truth both are "
                                              "scored against) and columns.area (a national forecast of ours)")
        tested = sorted(set(self.qc.seasons) & set(self.hindcast.test_years))
        if tested:
            raise KeyRule("qc.seasons", f"{tested} are test seasons: a fold needs its test season's rows "
                                        "(exclude geos or flag rows with qc.column instead)")
        return self

    @property
    def has_area(self) -> bool:
        """Whether geo values can be weighted into national ones."""
        return self.columns.area is not None or self.inputs.weights is not None

    @property
    def has_skill_by_init(self) -> bool:
        """Whether seasons can be predicted at each init date: monthly indices are known part-way
        through a season; static features never are."""
        return bool(self.inputs.indices) and not self.features.static

    @property
    def folds(self) -> list[str]:
        """Fold names: every test season, then `production`."""
        return self.test_folds + [PRODUCTION]

    @property
    def base_models(self) -> dict[str, dict[str, Any]]:
        """Every registered model trained per fold (name -> params): the model, the compared
        ones and ensemble members, each once."""
        own = self.model.name not in self.ensembles  # a base model, maybe a compare entry under its own name
        models = {self.model.name: {**self.compare.get(self.model.name, {}), **self.model.params}} if own else {}
        for name, params in self.compare.items():
            models.setdefault(name, params)
        for ensemble in self.ensembles.values():
            for member in ensemble.members:
                models.setdefault(member, {})
        return models

    @property
    def model_specs(self) -> dict[str, ModelSpec]:
        """Every base model as a `ModelSpec` (name -> spec), in `base_models` order."""
        return {name: ModelSpec.of(name, raw) for name, raw in self.base_models.items()}

    @property
    def model_names(self) -> list[str]:
        """Base models then ensembles: everything the comparison reports."""
        return [*self.base_models, *self.ensembles]

    @property
    def test_folds(self) -> list[str]:
        return [str(y) for y in self.hindcast.test_years]

    @property
    def forecast_season_years(self) -> list[int]:
        first = self.forecast.first_season_year or self.hindcast.first_test_year
        last = self.forecast.last_season_year or self.hindcast.last_test_year + 1
        return list(range(first, last + 1))

    @property
    def mlflow_experiment(self) -> str:
        return self.mlflow.experiment or self.experiment_key

    def resolved(self) -> dict[str, Any]:
        """Plain dict with defaults filled in and env vars expanded (what config_resolved.yaml holds)."""
        return self.model_dump(mode="json")



def _interpolate(node: Any, where: str, source: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, f"{where}.{k}" if where else str(k), source) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{where}[{i}]", source) for i, v in enumerate(node)]
    if not isinstance(node, str):
        return node

    def env(match: re.Match[str]) -> str:
        name = match[1]
        if name == "INPUT_DATA_DIR":
            return input_data_dir().rstrip("/")
        if name not in os.environ:
            raise ConfigError(f"{source}: {where}: environment variable ${{{name}}} is not set")
        return os.environ[name]

    return _ENV_VAR.sub(env, node)


def _key_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[") or "<top>"


def config_from_dict(raw: Any, source: str) -> ExperimentConfig:
    """Validate a parsed config; `source` names it in errors."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: <file>: expected a mapping of keys, got {type(raw).__name__}")
    raw = {k: _interpolate(v, str(k), source) if k in EXPANDED else v for k, v in raw.items()}
    try:
        cfg = ExperimentConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = err["msg"].removeprefix("Value error, ")
        cause = err.get("ctx", {}).get("error")
        loc = (*err["loc"], *(cause.key.split(".") if isinstance(cause, KeyRule) else ()))
        raise ConfigError(f"{source}: {_key_of(loc)}: {message}") from None
    _check_models(cfg, source)
    return cfg


# libyaml's parser where PyYAML has it: the same values, about 8x faster (a run reads its resolved
# config at every stage partition)
_RESOLVED_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def config_from_resolved(text: str | bytes, source: str) -> ExperimentConfig:
    """A resolved config this project wrote (`resolved()` as YAML: a run_dir's, a job's argument)."""
    return config_from_dict(yaml.load(text, Loader=_RESOLVED_LOADER), source)


def _check_models(cfg: ExperimentConfig, source: str) -> None:
    """Every model name refers to a registered model or a declared ensemble."""
    from hindcast_assets.models import PluginError, registry  # late: the registry imports model plugins

    try:
        known = registry()
    except PluginError as exc:
        raise ConfigError(f"{source}: model: {exc}") from None
    listed = ", ".join(sorted(known))
    clash = sorted(set(cfg.ensembles) & (set(known) | set(cfg.compare)))
    if clash:
        raise ConfigError(f"{source}: ensembles: names {clash} are models; name ensembles apart")
    named = set(known) | set(cfg.compare)  # registered plugins, and compare entries under names of their own
    if cfg.model.name not in named and cfg.model.name not in cfg.ensembles:
        raise ConfigError(f"{source}: model.name: unknown model {cfg.model.name!r} "
                          f"(known: {listed}; ensembles: {', '.join(cfg.ensembles) or 'none'})")
    for name, raw in cfg.compare.items():
        _check_spec(ModelSpec.of(name, raw), raw, known, f"{source}: compare.{name}", cfg)
    for i, name in enumerate(cfg.search.models):
        if name not in cfg.base_models:
            raise ConfigError(f"{source}: search.models[{i}]: {name!r} is not a model of this experiment")
        if known[cfg.model_specs[name].plugin].search_space is None:
            raise ConfigError(f"{source}: search.models[{i}]: model {name!r} has no search space")
    for ens, spec in cfg.ensembles.items():
        for i, member in enumerate(spec.members):
            if member not in named:
                raise ConfigError(f"{source}: ensembles.{ens}.members[{i}]: unregistered model {member!r} "
                                  f"(known: {listed})")


def feature_columns(cfg: ExperimentConfig) -> list[str]:
    """The configured input features (what fill values are fitted for)."""
    f = cfg.features
    monthly = monthly_feature_names([*f.variables, *f.derived], f.months) if f.variables else []
    return monthly + regional_feature_columns(cfg) + preseason_feature_names(f.preseason) + list(f.static)


def regional_feature_columns(cfg: ExperimentConfig) -> list[str]:
    """The features of region-wide series: one value per season, whatever the geo."""
    return monthly_feature_names(cfg.features.regional.variables, cfg.features.months)


def model_feature_columns(cfg: ExperimentConfig) -> list[str]:
    """What the model sees: the features, then their anomalies if configured."""
    columns = feature_columns(cfg)
    return columns + ([f"{c}_anom" for c in columns] if cfg.features.anomalies else [])


def _check_spec(spec: ModelSpec, raw: dict[str, Any], known: dict, where: str, cfg: ExperimentConfig) -> None:
    """A compare entry runs a registered plugin, on feature groups the experiment has."""
    if spec.plugin not in known:
        key = f"{where}.{PLUGIN_KEY}" if PLUGIN_KEY in raw else where
        raise ConfigError(f"{key}: unknown model {spec.plugin!r} (known: {', '.join(sorted(known))})")
    features = raw.get(FEATURES_KEY, [])
    if not isinstance(features, list) or not all(isinstance(f, str) and f for f in features):
        raise ConfigError(f"{where}.{FEATURES_KEY}: a list of feature-name prefixes, e.g. [cci], got {features!r}")
    available = model_feature_columns(cfg)
    for i, prefix in enumerate(features):
        if not any(c.startswith(prefix) for c in available):
            raise ConfigError(f"{where}.{FEATURES_KEY}[{i}]: no feature of this experiment starts with {prefix!r}")


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: `*name` can multiply a node without bound (the "billion laughs"), and
    a config needs none, so parsing stays linear in the file's size."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise ConfigError(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not accepted "
                              "in a config; write the value out")
        return super().compose_node(parent, index)


def load_config(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read and validate one experiment YAML."""
    source = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{source}: <file>: cannot read config ({exc.strerror})") from None
    try:
        raw = yaml.load(text, Loader=_NoAliasLoader)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "<yaml>"
        raise ConfigError(f"{source}: {where}: malformed YAML ({getattr(exc, 'problem', exc)})") from None
    return config_from_dict(raw, source)


def config_files(folder: str | os.PathLike[str]) -> list[Path]:
    return sorted(Path(folder).glob("*.yaml"))


def load_all_configs(folder: str | os.PathLike[str]) -> list[ExperimentConfig]:
    """Every `*.yaml` in a folder, sorted by file name; keys must be unique."""
    configs = [load_config(p) for p in config_files(folder)]
    seen: dict[str, int] = {}
    for cfg in configs:
        seen[cfg.experiment_key] = seen.get(cfg.experiment_key, 0) + 1
    dupes = [k for k, n in seen.items() if n > 1]
    if dupes:
        raise ConfigError(f"{folder}: experiment_key: used by more than one config: {dupes}")
    return configs
