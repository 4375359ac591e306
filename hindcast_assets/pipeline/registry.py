"""The champion registry: one MLflow registered model per experiment (DESIGN.md §9).

Each version is one hindcast run_dir: its production fold's files are logged as artefacts of
the hindcast's MLflow run, and the version is tagged with the run_dir, the last season it was
trained on and its walk-forward skill. The aliases `champion` and `challenger` say which
version serves and which one the last retraining made; why a version became champion is a tag
of that version, so the registry alone tells the story.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.pipeline.store import MANIFEST_FILE, MODELS, recorded_hashes, run_stamp, verified_bytes
from hindcast_assets.pipeline.tracking import Tracker, run_name

CHAMPION, CHALLENGER = "champion", "challenger"
RUN_DIR_TAG, TRAINED_THROUGH_TAG = "run_dir", "trained_through"
REASON_TAG, PROMOTED_AT_TAG = "promotion_reason", "promoted_at"
ARTEFACT_PATH = "production_model"  # where a version's files sit in its MLflow run


@dataclass(frozen=True)
class ModelVersion:
    """One registered run_dir."""

    name: str
    version: str
    run_dir: str
    tags: dict[str, str]
    aliases: tuple[str, ...]

    @property
    def trained_through(self) -> int:
        return int(self.tags[TRAINED_THROUGH_TAG])

    @property
    def reason(self) -> str:
        return self.tags.get(REASON_TAG, "")

    def skill(self) -> dict[str, float]:
        """The walk-forward skill the version was registered with (`skill.<level>.<metric>` tags)."""
        return {k.removeprefix("skill."): float(v) for k, v in self.tags.items() if k.startswith("skill.")}


def _version(mv) -> ModelVersion:
    return ModelVersion(mv.name, str(mv.version), mv.tags.get(RUN_DIR_TAG, ""), dict(mv.tags), tuple(mv.aliases))


def _verified_copy(rd: RunDir, folder: str, into: str) -> str:
    """The files under the run_dir-relative `folder` that the run_dir's manifest records, each
    checked against its sha256, copied into the local folder `into` (MLflow logs from disk): what
    is registered is exactly what the hindcast wrote, never a file no stage recorded."""
    for rel in sorted(recorded_hashes(rd.root / MANIFEST_FILE)):
        if rel.startswith(f"{folder}/"):
            target = Path(into) / rel[len(folder) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(verified_bytes(rd, rd.root / rel))
    return into


class Registry:
    def __init__(self, tracker: Tracker | None = None):
        self.tracker = tracker or Tracker()
        self.client = self.tracker.client

    def versions(self, key: str, run_dir: RunDir | str | None = None) -> list[ModelVersion]:
        """The experiment's versions, newest first (of one run_dir, if given)."""
        query = f"name = '{key}'" + (f" and tags.{RUN_DIR_TAG} = '{run_dir}'" if run_dir is not None else "")
        found = self.client.search_model_versions(query)
        return sorted((_version(v) for v in found), key=lambda v: int(v.version), reverse=True)

    def alias(self, key: str, alias: str) -> ModelVersion | None:
        """The version an alias points at; None when the model or the alias does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            return _version(self.client.get_model_version_by_alias(key, alias))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise

    def register(self, cfg: ExperimentConfig, rd: RunDir, mlflow_run_id: str | None, trained_through: int,
                 skill: dict[str, float]) -> ModelVersion:
        """The run_dir's version, made once: its production files logged to `mlflow_run_id` (the
        hindcast's MLflow run; a run of its own when the hindcast was not tracked)."""
        key = cfg.experiment_key
        known = self.versions(key, rd)
        if known:
            return known[0]
        if not self.client.search_registered_models(f"name = '{key}'"):
            self.client.create_registered_model(key, description=f"{key}: production models, one version per "
                                                                 "hindcast run_dir (hindcast_assets)")
        run_id = mlflow_run_id or self.tracker.run_for(
            f"register-{rd.root.name}", cfg.mlflow_experiment, run_name(key, "register", run_stamp(rd)),
            {"run_dir": str(rd)}, {})
        with tempfile.TemporaryDirectory(prefix="hindcast_register_") as scratch:
            folder = _verified_copy(rd, MODELS.format(key=key, fold=PRODUCTION), scratch)
            self.client.log_artifacts(run_id, folder, ARTEFACT_PATH)
        source = f"{self.client.get_run(run_id).info.artifact_uri}/{ARTEFACT_PATH}"
        tags = {RUN_DIR_TAG: str(rd), TRAINED_THROUGH_TAG: str(trained_through),
                **{f"skill.{k}": f"{v:.4f}" for k, v in skill.items()}}
        return _version(self.client.create_model_version(key, source, run_id, tags=tags))

    def aliased_run_dirs(self) -> dict[str, str]:
        """Every run_dir an alias points at, with what it is (`champion (registry version 3) of
        corn_usa`): what `hindcast prune` must keep."""
        out = {}
        for model in self.client.search_registered_models():
            for alias, number in model.aliases.items():
                version = self.client.get_model_version(model.name, number)
                out[version.tags.get(RUN_DIR_TAG, "")] = f"{alias} (registry version {number}) of {model.name}"
        return out

    def set_alias(self, version: ModelVersion, alias: str) -> None:
        self.client.set_registered_model_alias(version.name, alias, version.version)

    def record_promotion(self, version: ModelVersion, reason: str) -> ModelVersion:
        """Point `champion` at the version, with the reason and time as its tags."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        for tag, value in ((REASON_TAG, reason[:5000]), (PROMOTED_AT_TAG, now)):
            self.client.set_model_version_tag(version.name, version.version, tag, value)
        self.set_alias(version, CHAMPION)
        return _version(self.client.get_model_version(version.name, version.version))
