"""Dagster assets generated from the stage table: one asset per stage, keyed `<key>/<stage>`,
with its partitions, its declared reads as deps, and a body that only resolves the run_dir,
runs the stage over the run's partitions, tracks it in MLflow and attaches metadata."""

import inspect
import json

from dagster import (AllPartitionMapping, AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetDep,
                     AssetExecutionContext, AssetKey, AssetRecordsFilter, AssetsDefinition, BackfillPolicy,
                     CodeReferencesMetadataValue, DataVersion, LocalFileCodeReference, MaterializeResult, MetadataValue,
                     PathMetadataValue, RetryRequested, asset, asset_check)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.rundir import content_hash
from hindcast_assets.core.severity import Severity
from hindcast_assets.defs.groups import STAGE_GROUPS, group_name
from hindcast_assets.defs.inputs import input_key
from hindcast_assets.defs.metadata import stage_metadata
from hindcast_assets.defs.partitions import partitions_def, stage_partition
from hindcast_assets.defs.resources import MlflowTracking, RunDirResource
from hindcast_assets.pipeline.progress import StageProgress, progress_log
from hindcast_assets.pipeline.records import StageRecord
from hindcast_assets.pipeline.runlog import (RunIds, read_manifest, records_batched, require_inputs_unchanged,
                                             run_recorded)
from hindcast_assets.pipeline.store import RunDirView
from hindcast_assets.pipeline.fanout import fan_out
from hindcast_assets.pipeline.workers import run_in_turn
from hindcast_assets.pipeline.table import CONFIG_STAGE, Partitioning, Stage, asset_stages, hindcast_stages, stage_table

RETRIES = 2  # a stage that meets a transient I/O error is retried after 1 s, then 2 s


def is_transient(exc: OSError) -> bool:
    """An I/O error that may pass (a network file system or object store hiccup), as opposed to
    one that will not: a missing or existing file, a wrong kind of path, no permission."""
    final = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)
    return not isinstance(exc, final)
PARTITION_NOUN = {Partitioning.FOLD: "fold", Partitioning.FORECAST: "forecast"}


def stage_key(cfg: ExperimentConfig, stage: str) -> AssetKey:
    return AssetKey([cfg.experiment_key, stage])


def _deps(cfg: ExperimentConfig, stage: Stage, partitioning: dict[str, Partitioning]) -> list[AssetDep]:
    """The stage's declared reads as asset deps. Every stage reads config_resolved.yaml, but only a
    stage that reads no other stage draws that edge (written once per run_dir, it is upstream of
    everything through `included_geos`): an edge from the config to every node made the asset
    graph unreadable at its default zoom. Input edges stay on every reader: Dagster marks stale
    only what a changed input feeds directly (tested)."""
    config = [] if stage.name == CONFIG_STAGE or stage.upstream else [AssetDep(stage_key(cfg, CONFIG_STAGE))]
    deps = []
    for up in stage.upstream:
        other = partitioning[up.stage]
        spans = other is not Partitioning.NONE and (up.all_partitions or other is not stage.partitioning)
        deps.append(AssetDep(stage_key(cfg, up.stage), partition_mapping=AllPartitionMapping() if spans else None))
    return config + deps + [AssetDep(input_key(cfg, name)) for name in stage.inputs]


def _run_partitions(context: AssetExecutionContext, stage: Stage, view, label: str, ids: RunIds) -> list[StageRecord]:
    keys = [None] if stage.partitioning is Partitioning.NONE else context.partition_keys
    lines, progress = [], StageProgress(label, len(keys))

    def run(partition) -> StageRecord:
        with progress.partition(f"{PARTITION_NOUN[stage.partitioning]} {partition}" if partition is not None else ""):
            record = run_recorded(view, stage, partition, ids)
        message = progress.finished(record.note)
        progress_log.info(message)  # live, on the launcher's stderr
        lines.extend([message, *(json.dumps(e, sort_keys=True) for e in record.events)])
        return record

    records = run_in_turn([stage_partition(stage.partitioning, key) for key in keys], run)
    # One run-log entry per stage: every entry is a write to the event log (10-30 ms on sqlite);
    # one per partition was 207 writes and about 5 % of a state-scale hindcast.
    context.log.info("\n".join(lines))
    return records


def _mlflow_metrics(stage: Stage, records: list[StageRecord]) -> dict[str, float]:
    if stage.partitioning is Partitioning.NONE:
        return {m: v for r in records for m, v in r.metrics.items()}
    return {f"{m}_{r.partition}": v for r in records for m, v in r.metrics.items()}


def code_version(stage: Stage) -> str:
    """The content hash of the module that defines the stage. With a code version, Dagster derives
    a materialisation's data version from it and its inputs' versions, so re-making an artefact
    from the same code and inputs leaves what depends on it fresh (without one, every
    materialisation counts as new and the UI calls everything downstream stale)."""
    return content_hash(inspect.getsource(inspect.getmodule(stage.run)).encode())[:16]


def code_references(stage: Stage) -> dict[str, CodeReferencesMetadataValue]:
    """The UI's "open source" link of a stage asset: the stage function itself, not the generated
    asset body every stage shares."""
    run = inspect.unwrap(stage.run)
    where = LocalFileCodeReference(file_path=inspect.getsourcefile(run), line_number=inspect.getsourcelines(run)[1],
                                   label=f"{run.__module__}.{run.__qualname__}")
    return {"dagster/code_references": CodeReferencesMetadataValue(code_references=[where])}


def _run_tracked(context, cfg: ExperimentConfig, stage: Stage, run_dir: RunDirResource, source: str,
                 mlflow: MlflowTracking) -> tuple[RunDirView, list[StageRecord], str]:
    """The run's partitions of the stage, tracked in the run's MLflow run, their records written
    when they end (at once on an object store); a transient I/O error asks Dagster to retry. A
    fitted stage refuses a run_dir whose inputs changed since it was made."""
    try:
        rd = run_dir.locate(cfg.experiment_key)
        with mlflow.run(context.dagster_run, cfg, rd) as mlflow_run, records_batched(rd):
            view = run_dir.view_for(cfg, source)
            if stage.group == "hindcast":  # a forecast reads indices newer than the run_dir: that is its job
                require_inputs_unchanged(view.run_dir, read_manifest(view.run_dir))
            records = _run_partitions(context, stage, view, f"{cfg.experiment_key}/{stage.name}",
                                      RunIds(context.run_id, mlflow_run))
            mlflow.tracker().log(mlflow_run, metrics=_mlflow_metrics(stage, records))
    except OSError as exc:
        if not is_transient(exc):
            raise
        # a partition done before the error is complete in the manifest: the retry skips it
        raise RetryRequested(max_retries=RETRIES, seconds_to_wait=2.0 ** context.retry_number) from exc
    return view, records, mlflow_run


def content_version(rd, records: list[StageRecord]) -> DataVersion:
    """A hash of the run's files' run_dir paths and sha256: what the run wrote."""
    return DataVersion(content_hash("\n".join(sorted(f"{rd.relative(w.path)} {w.sha256}" for r in records
                                                       for w in r.written)).encode())[:24])


def _kept_version(instance, key: AssetKey, partitions: list[str | None], run_dir: str) -> DataVersion | None:
    """The one data version Dagster last recorded for every partition of `partitions`, if each was
    last materialised from `run_dir`; else None."""
    versions = set()
    for partition in partitions:
        where = AssetRecordsFilter(asset_key=key, asset_partitions=None if partition is None else [partition])
        last = instance.fetch_materializations(where, limit=1).records
        materialization = last[0].asset_materialization if last else None
        if materialization is None or str(materialization.metadata.get("run_dir", PathMetadataValue("")).value) \
                != run_dir:
            return None
        versions.add(materialization.tags.get(DATA_VERSION_TAG))
    return DataVersion(versions.pop()) if len(versions) == 1 and None not in versions else None


def data_version(context: AssetExecutionContext, stage: Stage, rd, records: list[StageRecord]) -> DataVersion:
    """The content hash of what the run wrote, so a run that writes the same bytes leaves every
    asset downstream fresh. A run that wrote nothing (every partition already complete) keeps the
    version last recorded from this run_dir: Dagster gives all partitions of a range run one
    version (dagster#34013), so a partition made in a range carries the range's hash, and its
    own hash on a later no-op re-run would make everything downstream look stale."""
    if records and all(r.already_complete for r in records):
        partitions = [None] if stage.partitioning is Partitioning.NONE else list(context.partition_keys)
        kept = _kept_version(context.instance, context.asset_key, partitions, str(rd))
        if kept is not None:
            return kept
    return content_version(rd, records)


def stage_check(cfg: ExperimentConfig, stage: Stage, deps: list[AssetDep], source: str):
    """A check stage as an asset check of the stage it checks: it runs (and records) the stage,
    then reports the stage's verdict; never blocking, so a drifted forecast is still made, flagged."""
    target = stage_key(cfg, stage.check_of)

    @asset_check(asset=target, name=stage.name, description=stage.description, blocking=False,
                 additional_deps=[d for d in deps if d.asset_key != target],
                 partitions_def=partitions_def(cfg, stage.partitioning))
    def _check(context: AssetCheckExecutionContext, run_dir: RunDirResource, mlflow: MlflowTracking):
        op_context = context.op_execution_context
        view, _, _ = _run_tracked(op_context, cfg, stage, run_dir, source, mlflow)
        verdicts = [stage.verdict(view, stage_partition(stage.partitioning, k)) for k in op_context.partition_keys]
        severity = Severity.worst(v.severity for v in verdicts)
        worst = next((v for v in verdicts if v.severity is severity), verdicts[0])
        return AssetCheckResult(passed=worst.passed, severity=AssetCheckSeverity((severity or Severity.WARN).value),
                                description=worst.description, metadata=worst.metadata)

    return _check


def backfill_policy(cfg: ExperimentConfig, stage: Stage, per_fold: bool) -> BackfillPolicy | None:
    """A UI backfill runs a per-fold stage as `hindcast.fold_runs` runs of contiguous folds side
    by side (the CLI's `--workers`); any other partitioned stage as one run per range."""
    if stage.partitioning is Partitioning.NONE:
        return None
    if per_fold:
        return BackfillPolicy.multi_run(max_partitions_per_run=-(-len(cfg.folds) // cfg.hindcast.fold_runs))
    return BackfillPolicy.single_run()


def stage_asset(cfg: ExperimentConfig, stage: Stage, deps: list[AssetDep], source: str,
                per_fold: bool = False) -> AssetsDefinition:
    partitions = partitions_def(cfg, stage.partitioning)

    @asset(key=stage_key(cfg, stage.name), group_name=group_name(cfg, STAGE_GROUPS[stage.group]),
           deps=deps, partitions_def=partitions, description=stage.description,
           backfill_policy=backfill_policy(cfg, stage, per_fold),
           code_version=code_version(stage), kinds={"python"}, tags={"hindcast/stage": stage.name},
           metadata=code_references(stage))
    def _stage(context: AssetExecutionContext, run_dir: RunDirResource, mlflow: MlflowTracking) -> MaterializeResult:
        view, records, mlflow_run = _run_tracked(context, cfg, stage, run_dir, source, mlflow)
        links = {"mlflow_run": MetadataValue.url(mlflow.tracker().run_url(mlflow_run))}
        return MaterializeResult(metadata=stage_metadata(view.run_dir, records) | links,
                                 data_version=data_version(context, stage, view.run_dir, records))

    return _stage


def _deps_of(cfg: ExperimentConfig) -> dict[str, list[AssetDep]]:
    stages = stage_table(cfg)
    partitioning = {s.name: s.partitioning for s in stages}
    return {s.name: _deps(cfg, s, partitioning) for s in stages}


def build_stage_assets(cfg: ExperimentConfig, source: str) -> list[AssetsDefinition]:
    """Every stage of one experiment that is an asset, in table order."""
    deps, per_fold = _deps_of(cfg), {s.name for s in fan_out(hindcast_stages(cfg)).per_fold}
    return [stage_asset(cfg, s, deps[s.name], source, s.name in per_fold) for s in asset_stages(stage_table(cfg))]


def build_stage_checks(cfg: ExperimentConfig, source: str) -> list:
    """Every check stage of one experiment, as an asset check of the stage it checks."""
    deps = _deps_of(cfg)
    return [stage_check(cfg, s, deps[s.name], source) for s in stage_table(cfg) if s.check_of]
