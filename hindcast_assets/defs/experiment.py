"""One experiment's assets, checks and jobs, generated from the stage table, and its hindcast
materialised as one Dagster run: what the code location, the CLI's launcher and the retraining
op build on. Nothing here reads `configs/`: each experiment is built from its own config."""
from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import yaml
from dagster import BetaWarning, DagsterInstance, Definitions, PreviewWarning, build_reconstructable_job

from hindcast_assets.config import ExperimentConfig, config_from_resolved
from hindcast_assets.core.lease import Lease
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.defs.assets import build_stage_assets, build_stage_checks
from hindcast_assets.defs.deployment import Executor
from hindcast_assets.defs.execute import add_partitions, execute_in_process, observed_instance
from hindcast_assets.defs.inputs import build_input_assets, build_input_checks
from hindcast_assets.defs.jobs import build_jobs, fit_production_job_name, hindcast_job_name
from hindcast_assets.defs.partitions import init_date_partitions_name
from hindcast_assets.defs.resources import RANGE_END, RANGE_START, MlflowTracking, RunDirResource
from hindcast_assets.pipeline.registry import ModelVersion
from hindcast_assets.pipeline.run_dirs import JobKind, registered_after_hindcast
from hindcast_assets.pipeline.table import forecast_stages

RESOURCES = {"run_dir": RunDirResource(), "mlflow": MlflowTracking()}  # one set, shared by every experiment


MIXED_BACKFILL_POLICIES = "Asset job .* materializes assets with varying BackfillPolicies"  # Dagster's notice


@contextmanager
def known_notices_quiet() -> Iterator[None]:
    """Without Dagster's notices about what this layer chose on purpose: beta and preview APIs
    (backfill policies, observable sources, partitioned checks, code references) and the hindcast
    job's mixed backfill policies (per-fold stages in chunks, the rest in one run). Said at every
    build in every run, fan-out and worker process, they buried what a user must read, and once
    filled a launcher's stderr pipe until its fan-out children blocked writing to it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
        warnings.filterwarnings("ignore", message=MIXED_BACKFILL_POLICIES)
        yield


def experiment_definitions(cfg: ExperimentConfig, source: str, executor: Executor | None = None) -> Definitions:
    """The experiment's input and stage assets, their checks and its jobs (`source`: its config
    file, named in errors), with the shared resources and `executor` (default: `Executor.named()`)."""
    with known_notices_quiet():
        return Definitions(assets=[build_input_assets(cfg), *build_stage_assets(cfg, source)],
                           asset_checks=[*build_input_checks(cfg), *build_stage_checks(cfg, source)],
                           jobs=build_jobs(cfg), executor=(executor or Executor.named()).definition(),
                           resources=RESOURCES)


def _resolved(definitions: Definitions, job_name: str):
    with known_notices_quiet():
        return definitions.resolve_job_def(job_name)


def job_def(cfg: ExperimentConfig, source: str, job_name: str):
    return _resolved(experiment_definitions(cfg, source), job_name)


def job_for(config_yaml: str, source: str, job_name: str, executor_name: str):
    """One experiment's job from its resolved config: what a Celery worker or a run process
    rebuilds (by module, function and these string arguments) to run its steps."""
    cfg = config_from_resolved(config_yaml, source)
    return _resolved(experiment_definitions(cfg, source, Executor(executor_name)), job_name)


def reconstructable_job(cfg: ExperimentConfig, source: str, job_name: str, executor: Executor):
    """`job_for` as a job other processes can rebuild (the multiprocess and celery executors need one)."""
    resolved = yaml.safe_dump(cfg.resolved(), sort_keys=False)
    return build_reconstructable_job(__name__, job_for.__name__, (resolved, source, job_name, executor.value))


def materialise(cfg: ExperimentConfig, kind: JobKind, rd: RunDir, source: str, lease: Lease) -> str:
    """Job `kind` into `rd` as one in-process run (every fold a partition range) as the writer
    holding `lease`; the run's id."""
    key = cfg.experiment_key
    with observed_instance(cfg) as instance:
        if kind is JobKind.FIT_PRODUCTION:
            job = job_def(cfg, source, fit_production_job_name(key))
            return execute_in_process(instance, job, cfg, rd, lease, partition_key=PRODUCTION).run_id
        job = job_def(cfg, source, hindcast_job_name(key))
        return execute_in_process(instance, job, cfg, rd, lease,
                                  tags={RANGE_START: cfg.folds[0], RANGE_END: cfg.folds[-1]}).run_id


def completed_hindcast(cfg: ExperimentConfig, rd: RunDir) -> ModelVersion:
    """After a hindcast: the configured init dates offered as forecast partitions (the UI's grid
    offers every season x init date; the sensor adds them only as data arrive), and the run_dir
    registered (champion when the experiment has none)."""
    if forecast_stages(cfg) and cfg.inputs.indices:
        add_partitions(DagsterInstance.get(), init_date_partitions_name(cfg.experiment_key),
                       list(cfg.forecast.init_dates))
    return registered_after_hindcast(rd)


def materialised(cfg: ExperimentConfig, kind: JobKind, rd: RunDir, source: str,
                 lease: Lease) -> tuple[str, ModelVersion | None]:
    """`materialise`, then a hindcast's `completed_hindcast`: one run as the launcher and the
    retraining op both make it; (its run id, the registered version of a hindcast)."""
    run_id = materialise(cfg, kind, rd, source, lease)
    return run_id, (completed_hindcast(cfg, rd) if kind is JobKind.HINDCAST else None)
