"""The artefact store: every RunDir artefact (DESIGN.md §4) declared once, with its path
template, format, reader and writer. Stages, materialisation metadata, `ExperimentResult` and
docs/architecture.md all go through these declarations; nothing else spells a run_dir path.

Template fields: `key` (experiment), `fold`, `member` ('' for the experiment's model, else
'<model name>/'), `file` (a model's native file name), `mode`, `scope`, `name`, `season`,
`date` (a forecast's YYYY-MM-DD) and the delivery's `prefix` and `stamp`.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import pandas as pd
import yaml
from upath import UPath
from upath.implementations.local import LocalPath

from hindcast_assets.core.errors import UserError
from hindcast_assets.config import ExperimentConfig, config_from_resolved
from hindcast_assets.core.bias import BiasCorrector
from hindcast_assets.core.data import ExperimentData, load_experiment_data
from hindcast_assets.core.detrend import LinearTrend
from hindcast_assets.core.ensembles import ENSEMBLE_FILE, EnsembleModel
from hindcast_assets.core.indices_store import read_indices, write_indices
from hindcast_assets.core.predictions import FoldModels
from hindcast_assets.core.parquet import parquet_bytes
from hindcast_assets.core.rundir import (RunDir, RunDirName, UnsafeArtefactError, Written, content_hash, folder_hash,
                                         get_object)
from hindcast_assets.core.season_dates import ForecastDate
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.models import TrainedModel, load_model


@dataclass(frozen=True)
class Format:
    """How an artefact's value becomes bytes and back (`decode` gets the bytes and the path, for
    its messages); `write` and `read` for formats that are folders (zarr) rather than one file."""

    name: str
    decode: Callable[[bytes, UPath], Any] | None = None
    encode: Callable[[Any], bytes] | None = None
    write: Callable[[RunDir, UPath, Any], Written] | None = None
    read: Callable[[UPath], Any] | None = None


def _decode_config(data: bytes, path: UPath) -> ExperimentConfig:
    return config_from_resolved(data, str(path))


def _safe_pickle(expected: type) -> Callable[[bytes, UPath], Any]:
    def decode(data: bytes, path: UPath) -> Any:
        value = RunDir.parse_pickle(data, path)
        if not isinstance(value, expected):
            raise UnsafeArtefactError(f"{path}: holds a {type(value).__name__}, not a {expected.__name__}")
        return value

    return decode


PARQUET = Format("parquet", lambda data, _: RunDir.parse_parquet(data), parquet_bytes)
TEXT = Format("text", lambda data, _: data.decode(), str.encode)
LINES = Format("text, one per line", lambda data, _: data.decode().split(),
               lambda items: "".join(f"{i}\n" for i in items).encode())
JSON = Format("json", lambda data, _: json.loads(data), lambda obj: json.dumps(obj, indent=2, sort_keys=True).encode())
BYTES = Format("bytes", lambda data, _: data, bytes)
CONFIG_YAML = Format("yaml", _decode_config, lambda cfg: yaml.safe_dump(cfg.resolved(), sort_keys=False).encode())
ZARR = Format("zarr", write=lambda rd, path, value: write_indices(path, *value), read=lambda p: read_indices(p)[0])


def pickle_format(cls: type) -> Format:
    """Protocol-5 pickle of one of the project's own classes, read through the allow-list."""
    return Format(f"pickle ({cls.__name__}, allow-listed)", _safe_pickle(cls), lambda obj: pickle.dumps(obj, protocol=5))


class IntegrityError(UserError, RuntimeError):
    """A run_dir file missing from `manifest.json`, or no longer what it recorded, or a damaged
    manifest: the file is not used (a swapped or crafted model is never loaded)."""


MANIFEST_FILE = "manifest.json"
_RECORDS: dict[str, tuple[tuple, dict, dict]] = {}  # manifest path -> (signature, content, path -> sha256)


def _signature(path: UPath) -> tuple:
    if not isinstance(path, LocalPath):
        path.fs.invalidate_cache(path.path)  # an object store's listing cache would hide a newer manifest
    info = path.fs.info(path.path)
    return (info.get("size"), info.get("mtime") or info.get("ETag") or info.get("LastModified"),
            os.stat(path).st_ino if isinstance(path, LocalPath) else None)


_PINNED: set[str] = set()  # manifests read once for a block of work (see `manifest_pinned`)


@contextmanager
def manifest_pinned(rd: RunDir) -> Iterator[None]:
    """The run_dir's manifest checked once (read again if it changed), then taken as read until
    the block ends: on an object store, checking whether it changed is a request per artefact
    read. For a block whose reads are of partitions completed before it began (a stage's: its
    upstream stages'), and whose own records are written when it ends (`runlog.records_batched`)."""
    path = rd.root / MANIFEST_FILE
    parse_manifest(path)
    _PINNED.add(str(path))
    try:
        yield
    finally:
        _PINNED.discard(str(path))


def parse_manifest(path: UPath) -> dict | None:
    """`manifest.json` as a dict (None where there is none); a damaged one is an IntegrityError.
    Kept per process while the file's size, time and inode stay the same (or while pinned)."""
    cached = _RECORDS.get(str(path))
    if cached and str(path) in _PINNED:
        return cached[1]
    try:
        signature = _signature(path)
    except FileNotFoundError:
        return None
    if cached and cached[0] == signature:
        return cached[1]
    try:
        record = json.loads(fetch_bytes(path).decode())  # on an object store one GET, no HEAD first
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{path}: unreadable ({exc}); the run_dir's record is damaged, so nothing in it can "
                             "be verified or used") from None
    if not isinstance(record, dict) or not isinstance(record.get("artefacts", []), list):
        raise IntegrityError(f"{path}: not a run_dir manifest (no artefact list); nothing in the run_dir can be "
                             "verified or used")
    _keep(path, signature, record)
    return record


def _keep(path: UPath, signature: tuple, record: dict) -> None:
    hashes = {a.get("path"): a.get("sha256") for a in record.get("artefacts", []) if isinstance(a, dict)}
    _RECORDS[str(path)] = (signature, record, hashes)


def manifest_written(path: UPath, data: bytes, etag: str) -> None:
    """This process has just put `data` as the object store manifest at `path`, which the store
    answered with `etag`: kept as if read, so the next read asks only whether it changed since
    (a HEAD), not for the object again (a GET per stage of an S3 run_dir)."""
    _keep(path, (len(data), etag, None), json.loads(data.decode()))


def recorded_hashes(path: UPath) -> dict[str, str]:
    """The run_dir-relative path -> sha256 of every artefact the manifest at `path` lists."""
    return _RECORDS[str(path)][2] if parse_manifest(path) is not None else {}


def sha256_of(path: UPath) -> str:
    """A file's sha256, or a folder artefact's (zarr) by its contents."""
    return folder_hash(path) if path.is_dir() else content_hash(path.read_bytes())


def _expected(rd: RunDir, path: UPath) -> str | None:
    """The sha256 the manifest recorded for `path` (the config: the hash the launcher recorded);
    None where it records none; an IntegrityError without a manifest (nothing can be trusted)."""
    manifest_path = rd.root / MANIFEST_FILE
    record = parse_manifest(manifest_path)
    if record is None:
        raise IntegrityError(f"{manifest_path}: missing; without it nothing read from {rd} can be verified "
                             "(a run_dir made before run records: make a fresh one)")
    rel = rd.relative(path)
    expected = recorded_hashes(manifest_path).get(rel)
    return record.get("config_sha256") if expected is None and rel == CONFIG.template else expected


def _recorded(rd: RunDir, path: UPath) -> str:
    """`_expected`, else an IntegrityError naming the file."""
    expected = _expected(rd, path)
    if expected is None:
        raise IntegrityError(f"{path}: not recorded in {rd.root / MANIFEST_FILE}; a file no finished stage wrote "
                             "is never used")
    return expected


def _changed(rd: RunDir, path: UPath) -> IntegrityError:
    return IntegrityError(f"{path}: sha256 differs from {rd.root / MANIFEST_FILE}; this run_dir was changed after "
                          "it was written")


def check_recorded(rd: RunDir, path: UPath) -> None:
    """`path` (a file or a folder artefact) is what the manifest recorded for it, else an
    IntegrityError naming the file."""
    if sha256_of(path) != _recorded(rd, path):
        raise _changed(rd, path)


class MissingFileError(FileNotFoundError):
    """A run_dir file that is not there."""


def fetch_bytes(path: UPath) -> bytes:
    """A file's bytes (`get_object`: one GET on an object store); MissingFileError where there is none."""
    try:
        return get_object(path)
    except FileNotFoundError:
        raise MissingFileError(str(path)) from None


def _known_hash(rd: RunDir, path: UPath) -> str | None:
    """`_expected`, or None where the run_dir has no manifest (the read then fails as a missing
    file, or as a missing manifest, in the order a local read does)."""
    try:
        return _expected(rd, path)
    except IntegrityError:
        return None


class KeptBySize:
    """Values by key, the least recently used dropped once their sizes add up to more than
    `budget` bytes. A count bound let county-scale artefacts pile up over a run: 21 folds'
    features at each init date, 24 MB each at 10,000 geos, were 0.5 GB of a hindcast's memory
    by its last stages (benchmarks/README.md)."""

    def __init__(self, budget: int):
        self.budget = budget
        self.kept: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self.total = 0
        self._lock = threading.Lock()  # a code server's threads read run_dirs too: the total stays true

    def get(self, key: Any) -> Any | None:
        with self._lock:
            if key not in self.kept:
                return None
            self.kept.move_to_end(key)
            return self.kept[key][0]

    def put(self, key: Any, size: int, make: Callable[[], Any]) -> None:
        """Keeps `make()` (of `size` bytes) unless it alone is over budget: then it is not made."""
        value = make() if size <= self.budget else None
        with self._lock:
            if key in self.kept:
                self.total -= self.kept.pop(key)[1]
            if value is None:
                return
            self.kept[key] = (value, size)
            self.total += size
            while self.total > self.budget:
                self.total -= self.kept.popitem(last=False)[1][1]


KEEP_BYTES = 128 * 2**20  # each cache's budget: a state-scale hindcast's ~300 artefacts fit in a few MB
_OBJECTS = KeptBySize(KEEP_BYTES)  # (object URL, recorded sha256) -> its bytes


def verified_bytes(rd: RunDir, path: UPath) -> bytes:
    """A file's bytes, read once and checked against the manifest's sha256 (what is parsed is
    what was checked: one read, never a second that could differ). On an object store, bytes
    once verified are kept by URL and recorded hash: a request saved per repeated read (the
    config, the geos and the models are read by most stages), and what a hit returns is exactly
    what the manifest records."""
    remote = not isinstance(path, LocalPath)
    key = (str(path), _known_hash(rd, path)) if remote else None
    if remote and (kept := _OBJECTS.get(key)) is not None:
        return kept
    data = fetch_bytes(path)
    if content_hash(data) != _recorded(rd, path):
        raise _changed(rd, path)
    if remote:
        _OBJECTS.put(key, len(data), lambda: data)
    return data


def _present_signature(path: UPath) -> tuple:
    try:
        return _signature(path)
    except FileNotFoundError:
        raise MissingFileError(str(path)) from None


_FRAMES = KeptBySize(KEEP_BYTES)  # path -> (signature, sha256, frame)


def _verified_frame(rd: RunDir, path: UPath) -> pd.DataFrame:
    """A parquet artefact checked against the manifest, hashed and parsed once per process while
    the file keeps its size, time and inode and the manifest its hash. The stacking ensembles read
    every earlier fold's predictions at every fold: 6,046 reads for 35 folds, 14 s of a 391 s
    hindcast. What a hit returns is a copy of what was verified, never the file's current bytes
    unchecked."""
    if not isinstance(path, LocalPath):  # asking an object store whether it changed costs what reading it does
        return RunDir.parse_parquet(verified_bytes(rd, path))
    key, hit = str(path), _FRAMES.get(str(path))
    expected = recorded_hashes(rd.root / MANIFEST_FILE).get(rd.relative(path))
    if hit is not None and expected is not None and hit[:2] == (_present_signature(path), expected):
        return hit[2].copy()
    frame = RunDir.parse_parquet(verified_bytes(rd, path))
    _FRAMES.put(key, int(frame.memory_usage(index=True).sum()),
                lambda: (_present_signature(path), expected, frame.copy()))
    return frame


# the experiment's model ('') or a named model's folder; a model's file (every plugin's is model.*)
FIELD_PATTERNS = {"member": "(?:[^/]+/)?", "file": r"model\.[^/]+"}


@dataclass(frozen=True)
class FieldDomain:
    """The values one template field takes under a config, where stages share a template (the
    base models' folders and the ensembles'; the evaluation's report names and the init-date
    skill's): with it a run_dir path leads to the one stage that writes it."""
    name: str  # the template field
    meaning: str
    values: Callable[[ExperimentConfig], Collection[str]] = field(repr=False)


@dataclass(frozen=True)
class Artefact:
    template: str
    format: Format
    description: str
    domain: FieldDomain | None = field(default=None, compare=False)  # a path's value of the field must be one of these

    def within(self, domain: FieldDomain) -> Artefact:
        """The same files, restricted to `domain` (the share of a template one stage writes)."""
        return replace(self, domain=domain)

    def path(self, rd: RunDir, **fields: Any) -> UPath:
        return rd.root / self.template.format(**fields)

    def pattern(self) -> re.Pattern:
        """The template as a regex, each field a named group: one path segment, or for `{member}`
        '' or a folder."""
        seen: set[str] = set()

        def group(found: re.Match) -> str:  # a field named twice (a forecast's season) is the same value twice
            name = found[1]
            again = name in seen
            seen.add(name)
            return f"(?P={name})" if again else f"(?P<{name}>{FIELD_PATTERNS.get(name, '[^/]+')})"

        return re.compile(re.sub(r"\\\{(\w+)\\\}", group, re.escape(self.template)))

    def matches(self, path: str, cfg: ExperimentConfig | None = None) -> bool:
        """Whether the run_dir-relative `path` is one of this artefact's files (under `cfg`, also
        within its field's domain)."""
        found = self.pattern().fullmatch(path)
        if found is None or self.domain is None or cfg is None:
            return found is not None
        return found[self.domain.name] in self.domain.values(cfg)

    def recorded(self, rd: RunDir) -> list[dict[str, str]]:
        """The fields of every file of this artefact the run_dir's manifest records (what a
        finished stage wrote), in path order: its partitions, found without listing a folder."""
        pattern = self.pattern()
        return [m.groupdict() for path in sorted(recorded_hashes(rd.root / MANIFEST_FILE))
                if (m := pattern.fullmatch(path))]

    def exists(self, rd: RunDir, **fields: Any) -> bool:
        return self.path(rd, **fields).exists()

    def read(self, rd: RunDir, **fields: Any) -> Any:
        """The artefact, once checked against the manifest (`check_recorded`)."""
        path = self.path(rd, **fields)
        try:
            if self.format is PARQUET:
                return _verified_frame(rd, path)
            if self.format.read is None:
                return self.format.decode(verified_bytes(rd, path), path)
            if not path.exists():  # a folder (zarr)
                raise MissingFileError(str(path))
        except MissingFileError:
            raise FileNotFoundError(f"{path}: missing ({self.description}); materialise it first") from None
        check_recorded(rd, path)
        return self.format.read(path)

    def read_optional(self, rd: RunDir, **fields: Any) -> Any | None:
        """The artefact, or None where it is not there (one request less on an object store than
        asking first)."""
        try:
            return self.read(rd, **fields)
        except FileNotFoundError:
            if self.exists(rd, **fields):  # something else was missing: say so
                raise
            return None

    def write(self, rd: RunDir, value: Any, **fields: Any) -> Written:
        path = self.path(rd, **fields)
        if self.format.write is not None:
            return self.format.write(rd, path, value)
        return rd.write_bytes(path, self.format.encode(value))


FORECAST = "forecast/{season}/{date}"
MODELS = "models/{key}/{fold}"  # a fold's fitted chain; production's is what the registry holds

CONFIG = Artefact("config_resolved.yaml", CONFIG_YAML, "the experiment config, defaults filled, env vars expanded")
INCLUDED_GEOS = Artefact("included_geo_identifiers.txt", LINES, "the geos modelled")
DETRENDER = Artefact(f"{MODELS}/detrender.pkl", pickle_format(LinearTrend), "per-geo linear trend")
FILL_VALUES = Artefact(f"{MODELS}/feature_fill_values.parquet", PARQUET,
                       "per-geo training climatology of each feature")

def _members(names: Callable[[ExperimentConfig], Collection[str]]) -> Callable[[ExperimentConfig], set[str]]:
    """The `member` values of the models `names` gives: their folders, and the contract paths ('')
    where the experiment's model is one of them."""
    return lambda cfg: {member(n) for n in names(cfg)} | ({""} if cfg.model.name in names(cfg) else set())


BASE_MEMBERS = FieldDomain("member", "base models", _members(lambda cfg: cfg.base_models))
ENSEMBLE_MEMBERS = FieldDomain("member", "ensembles", _members(lambda cfg: cfg.ensembles))
MODEL_FILE = Artefact(f"{MODELS}/{{member}}{{file}}", BYTES,
                      "the model in its native format (LightGBM text, XGBoost JSON, skops, ensemble JSON)",
                      BASE_MEMBERS)
MODEL_CARD = Artefact(f"{MODELS}/{{member}}model_card.json", JSON,
                      "model name, file, features, params, training seasons", BASE_MEMBERS)
TRAIN_PREDS = Artefact("preds/{key}/{fold}/{member}train_preds.parquet", PARQUET, "in-sample predictions",
                       BASE_MEMBERS)
WALK_FORWARD_PREDS = Artefact("preds/{key}/{fold}/{member}walk_forward_preds.parquet", PARQUET,
                              "out-of-sample predictions of the test season", BASE_MEMBERS)
ENSEMBLE_MODEL_FILE, ENSEMBLE_MODEL_CARD, ENSEMBLE_TRAIN_PREDS, ENSEMBLE_WALK_FORWARD_PREDS = (
    a.within(ENSEMBLE_MEMBERS) for a in (MODEL_FILE, MODEL_CARD, TRAIN_PREDS, WALK_FORWARD_PREDS))
INNER_NATIONAL = Artefact("preds/{key}/{fold}/inner_national.parquet", PARQUET,
                          "national predictions of the training seasons by refits without their block "
                          "(end of season and each init date): the national intervals' residuals")
WARMUP_PREDS = Artefact("preds/{key}/warmup/{scope}.parquet", PARQUET,
                        "predictions of the seasons before the first test season, each by a refit on the "
                        "seasons before it (end of season and each init date; scope geo or national): "
                        "residuals for the first folds' intervals")
YEAR_DATA = Artefact("preds/{key}/{fold}/year_data.parquet", PARQUET, "the test season's rows as the model saw them")
BIAS_CORRECTOR = Artefact(f"{MODELS}/bias_corrector.pkl", pickle_format(BiasCorrector),
                          "per-geo bias correction from earlier folds' residuals")
CONFORMAL = Artefact("conformal/{mode}.parquet", PARQUET, "conformal quantiles per scope, level and fold")
POSTPROCESSED = Artefact("postprocessed/{scope}.parquet", PARQUET,
                         "bias-corrected walk-forward hindcast with intervals (scope geo or national)")
FEATURES_BY_INIT_DATE = Artefact("postprocessed/by_init_date/features/{fold}.parquet", PARQUET,
                                 "a test season's feature rows as known at each init month-day")
FOLD_PREDS_BY_INIT_DATE = Artefact("preds/{key}/{fold}/by_init_date.parquet", PARQUET,
                                   "the fold's test season re-predicted by the fold at each init month-day")
PREDS_BY_INIT_DATE = Artefact("postprocessed/by_init_date/{scope}.parquet", PARQUET,
                              "every test season re-predicted at each init date (scope geo or national)")
CONFORMAL_BY_INIT_DATE = Artefact("conformal/by_init_date/{mode}.parquet", PARQUET,
                                  "conformal quantiles calibrated per init month-day, for the forecasts")
EVALUATION_TABLES = ("skill", "skill_by_fold", "skill_by_geo", "coverage", "model_comparison")
EVALUATION_PLOTS = ("national_hindcast", "error_by_season", "coverage")
INIT_DATE_TABLES = ("skill_by_init_date", "yardstick", "seasons")
INIT_DATE_PLOTS = ("skill_by_init_date",)
REPORT_TABLE = Artefact("reports/{name}.csv", TEXT, "a skill or coverage table",
                        FieldDomain("name", ", ".join(EVALUATION_TABLES), lambda cfg: EVALUATION_TABLES))
REPORT_PLOT = Artefact("reports/{name}.png", BYTES, "a plot",
                       FieldDomain("name", ", ".join(EVALUATION_PLOTS), lambda cfg: EVALUATION_PLOTS))
INIT_DATE_TABLE = Artefact("reports/{name}.csv", TEXT, "skill by init date, against the yardstick, season by season",
                           FieldDomain("name", ", ".join(INIT_DATE_TABLES), lambda cfg: INIT_DATE_TABLES))
INIT_DATE_PLOT = Artefact("reports/{name}.png", BYTES, "skill by init date",
                          FieldDomain("name", ", ".join(INIT_DATE_PLOTS), lambda cfg: INIT_DATE_PLOTS))
REPORT = Artefact("reports/report.md", TEXT, "the readable hindcast report")
REPORT_HTML = Artefact("reports/report.html", TEXT, "the season report: one page, charts drawn offline")
HINDCAST_DELIVERY = Artefact("delivery/{prefix}_{key}_Hindcast_{stamp}.csv", TEXT, "the client CSV of the hindcast")
FORECAST_INDICES = Artefact(f"{FORECAST}/indices.zarr", ZARR, "the predictor values known at the init date")
FORECAST_FEATURES = Artefact(f"{FORECAST}/features/pred.parquet", PARQUET, "features as of the init date")
FORECAST_PREDS = Artefact(f"{FORECAST}/preds/walk_forward_preds.parquet", PARQUET, "geo forecasts")
FORECAST_NATIONAL = Artefact(f"{FORECAST}/postprocessed/national.parquet", PARQUET,
                             "the national forecast with intervals")
FORECAST_DRIFT = Artefact(f"{FORECAST}/reports/drift.json", JSON,
                          "the DriftSummary of the features against the forecasting fold's training rows")
FORECAST_DRIFT_REPORT = Artefact(f"{FORECAST}/reports/drift.md", TEXT, "the readable drift report")
FORECAST_DRIFT_PLOT = Artefact(f"{FORECAST}/reports/drift.png", BYTES, "the most drifted features, plotted")
FORECAST_REPORT_HTML = Artefact(f"{FORECAST}/reports/forecast.html", TEXT,
                                "the forecast's page: its number and intervals, the season so far, drift, the states")
FORECAST_DELIVERY = Artefact(f"{FORECAST}/delivery/{{prefix}}_{{key}}_Forecast_{{season}}_{{date}}.csv", TEXT,
                             "the client CSV of the forecast")

# Run records (pipeline/runlog.py): they grow as runs go on, so they are not artefacts.
EVENTS_FILE = "logs/events.jsonl"
METRICS_FILE = "metrics/{stage}.csv"


def member(name: str | None) -> str:
    """The `member` template field: the experiment's model ('') or a named model's folder."""
    return f"{name}/" if name else ""


def forecast_fields(at: ForecastDate) -> dict[str, Any]:
    return {"season": at.season_year, "date": str(at)}


# -- readers composed of several artefacts --------------------------------------------------------

def read_national(artefact: Artefact, rd: RunDir, cfg: ExperimentConfig, geo: pd.DataFrame,
                  **fields: Any) -> pd.DataFrame:
    """The national rows of `artefact`; a config without areas writes none (no file, chart or
    line), so its readers get no rows, shaped as the geo rows they sit beside."""
    return artefact.read(rd, **fields) if cfg.has_area else geo.iloc[:0]


def read_model(rd: RunDir, key: str, fold: str, name: str | None = None) -> TrainedModel | EnsembleModel:
    card = MODEL_CARD.read(rd, key=key, fold=fold, member=member(name))
    data = MODEL_FILE.read(rd, key=key, fold=fold, member=member(name), file=card["file"])
    if card.get("ensemble"):
        return EnsembleModel.from_json(data.decode())
    return load_model(card["model"], data, card["features"], card["params"], card_name(card))


@dataclass(frozen=True)
class SavedModel:
    """A model as the run_dir holds it: its card's fields that describe it and its file's bytes.
    Made where the model was fitted, so a fit on a worker process sends bytes back, not an
    estimator (pipeline/workers.py)."""

    fields: dict
    data: bytes

    @classmethod
    def of(cls, model: TrainedModel | EnsembleModel) -> SavedModel:
        if isinstance(model, EnsembleModel):
            return cls({"model": model.name, "file": ENSEMBLE_FILE, "ensemble": model.method, "members": model.members},
                       model.to_json().encode())
        return cls({"model": model.plugin.name, "file": model.plugin.file_name, "features": model.features,
                    "params": model.params, **({"name": model.alias} if model.alias else {})},
                   model.plugin.save(model.estimator))


def write_model(rd: RunDir, key: str, fold: str, model: SavedModel, card: dict,
                name: str | None = None) -> list[Written]:
    """The model's file and its card (for an ensemble: its JSON, method and members)."""
    card = {**model.fields, **card}
    where = {"key": key, "fold": fold, "member": member(name)}
    ensemble = "ensemble" in model.fields
    file, card_file = (ENSEMBLE_MODEL_FILE, ENSEMBLE_MODEL_CARD) if ensemble else (MODEL_FILE, MODEL_CARD)
    return [file.write(rd, model.data, file=card["file"], **where), card_file.write(rd, card, **where)]


def card_name(card: dict) -> str:
    """The name a model card's model goes by in the config (a compare entry's own name, else the
    plugin's or the ensemble's)."""
    return card.get("name", card["model"])


def has_model(rd: RunDir, key: str, fold: str) -> bool:
    """The fold's model card is recorded in the manifest or there (to be refused when read): the
    manifest first, which costs no request per fold on an object store."""
    card = MODEL_CARD.path(rd, key=key, fold=fold, member="")
    return _expected(rd, card) is not None or card.exists()


def read_fold_models(rd: RunDir, key: str, fold: str) -> FoldModels:
    """A fold's fitted artefacts; the bias corrector is None when the run_dir holds only a
    production fit. A missing model: one clear error."""
    if not has_model(rd, key, fold):
        raise FileNotFoundError(f"{rd}: models/{key}/{fold}/ has no model; run `hindcast run fit-production` "
                                "or `run hindcast` into this run_dir first")
    where = {"key": key, "fold": fold}
    model = read_model(rd, key, fold)
    members = {m: read_model(rd, key, fold, m) for m in model.members} if isinstance(model, EnsembleModel) else {}
    return FoldModels(fold, DETRENDER.read(rd, **where), FILL_VALUES.read(rd, **where), model, members,
                      BIAS_CORRECTOR.read_optional(rd, **where))


def read_walk_forward(rd: RunDir, key: str, folds: list[str], name: str | None = None) -> dict[str, pd.DataFrame]:
    """Walk-forward predictions of the given folds (of model `name`, else the experiment's)."""
    return {f: WALK_FORWARD_PREDS.read(rd, key=key, fold=f, member=member(name)) for f in folds}


def forecast_fold(rd: RunDir, key: str, cfg: ExperimentConfig, season_year: int) -> str:
    """Which fold forecasts a season: its own walk-forward fold where the run_dir has it (trained
    only on earlier seasons, so a forecast of a past season stays out of sample), else production."""
    fold = str(season_year)
    return fold if fold in cfg.test_folds and has_model(rd, key, fold) else PRODUCTION


def folds_with_model(rd: RunDir, cfg: ExperimentConfig) -> list[str]:
    return [f for f in cfg.folds if has_model(rd, cfg.experiment_key, f)]


def run_stamp(rd: RunDir) -> str:
    """The `<YYYYMMDD_HHMMSS>` a run_dir was minted with (its name's prefix), else its name."""
    name = RunDirName.parse(rd.root.name)
    return name.stamp if name else rd.root.name


def run_created_at(rd: RunDir) -> str:
    """The run_dir's UTC mint time as ISO 8601 ('' if its name has no stamp): deterministic, so
    re-materialising a delivery is a no-op."""
    name = RunDirName.parse(rd.root.name)
    return name.minted.isoformat() if name else ""


def forecast_vintages(rd: RunDir, at: ForecastDate) -> dict[str, list[str]]:
    """The source vintages per variable a forecast's known rows came from ({} if not recorded)."""
    path = FORECAST_INDICES.path(rd, **forecast_fields(at))
    if not path.exists():
        return {}
    check_recorded(rd, path)
    return read_indices(path)[1].get("vintages", {})


def with_indices(cfg: ExperimentConfig, indices: str) -> ExperimentConfig:
    """`cfg` reading its indices from `indices` (a replay's vintage as published)."""
    return cfg.model_copy(update={"inputs": cfg.inputs.model_copy(update={"indices": indices})})


def read_config(rd: RunDir) -> ExperimentConfig:
    try:
        return CONFIG.read(rd)
    except FileNotFoundError:
        raise FileNotFoundError(f"{CONFIG.path(rd)}: no config_resolved.yaml; is {rd} a run_dir?") from None


@dataclass
class RunDirView:
    """An experiment's run_dir opened for reading: its resolved config, inputs and geos.
    `launched_with`: the config a launcher brings, written by the config stage."""

    run_dir: RunDir
    launched_with: ExperimentConfig | None = None
    indices: str | None = None  # an indices file read instead of the config's (a replay's vintage as published)

    @cached_property
    def cfg(self) -> ExperimentConfig:
        return read_config(self.run_dir)

    @property
    def indices_url(self) -> str | None:
        return self.indices or self.cfg.inputs.indices

    @property
    def key(self) -> str:
        return self.cfg.experiment_key

    @cached_property
    def data(self) -> ExperimentData:
        if self.indices is None:
            return load_experiment_data(self.cfg)
        return load_experiment_data(with_indices(self.cfg, self.indices))

    @cached_property
    def geos(self) -> list[str]:
        return INCLUDED_GEOS.read(self.run_dir)

