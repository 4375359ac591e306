"""The code location: every config in `configs/` (or `$HINDCAST_CONFIGS_DIR`) becomes its own
asset group with its own jobs, retrain job and sensors, generated from the stage table; resources
are shared. Built when Dagster loads the location, not on import (lazy definitions, as
dagster-open-platform does), and one experiment at a time: a config that does not load or
build is left out with one logged line naming its file, and the others load."""
from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence

from dagster import Definitions, definitions

from hindcast_assets.config import ExperimentConfig, config_files, load_config
from hindcast_assets.core.errors import UserError
from hindcast_assets.defs.deployment import Executor
from hindcast_assets.defs.experiment import MIXED_BACKFILL_POLICIES, experiment_definitions, known_notices_quiet
from hindcast_assets.defs.ingest import build_ingest
from hindcast_assets.defs.lifecycle import build_retrain_job, build_retrain_sensor
from hindcast_assets.defs.sensors import build_forecast_sensor, build_mlflow_closers
from hindcast_assets.paths import CONFIGS_DIR, config_file
from hindcast_assets.pipeline.table import forecast_stages

log = logging.getLogger(__name__)


def _experiment(cfg: ExperimentConfig, source: str, executor: Executor | None) -> Definitions:
    """One experiment's assets, checks and jobs, with its retrain job and sensors."""
    sensors = [build_retrain_sensor(cfg)]
    if forecast_stages(cfg) and cfg.inputs.indices:
        sensors.append(build_forecast_sensor(cfg))
    lifecycle = Definitions(jobs=[build_retrain_job(cfg, source)], sensors=sensors)
    return Definitions.merge(experiment_definitions(cfg, source, executor), lifecycle, build_ingest(cfg))


def build_definitions(configs: Sequence[ExperimentConfig], sources: Sequence[str] | None = None,
                      executor: Executor | None = None) -> Definitions:
    """`sources`: each config's file, named in errors (default `configs/<key>.yaml`)."""
    return _location([_experiment(cfg, sources[i] if sources else config_file(cfg.experiment_key), executor)
                      for i, cfg in enumerate(configs)])


def _location(experiments: list[Definitions]) -> Definitions:
    """The experiments' definitions as one code location, with the sensors that close MLflow runs."""
    return Definitions.merge(*experiments, Definitions(sensors=build_mlflow_closers()))


def configs_dir() -> str:
    return os.environ.get("HINDCAST_CONFIGS_DIR") or str(CONFIGS_DIR)


def load_definitions(folder: str) -> Definitions:
    """Every config in `folder` that loads and builds; each one that does not is logged and left
    out, as is a second config of an experiment key already loaded. The deployment's executor is
    every experiment's: an unknown one is one error for the location, not one per config."""
    parts, loaded, executor = [], {}, Executor.named()
    for path in config_files(folder):
        try:
            cfg = load_config(path)
            if cfg.experiment_key in loaded:
                raise UserError(f"{path}: experiment_key: {cfg.experiment_key!r} is {loaded[cfg.experiment_key]}'s too")
            parts.append(_experiment(cfg, str(path), executor))
            loaded[cfg.experiment_key] = path
        except UserError as exc:
            log.error("hindcast_assets: left out of the code location: %s", exc)
    return _location(parts)


@definitions
def defs() -> Definitions:
    # A code server resolves the jobs after this returns, outside known_notices_quiet(), and said
    # the notice on the hindcast jobs' mixed backfill policies (by design) at every start: in the
    # process that loads this location, that one notice is left unsaid.
    warnings.filterwarnings("ignore", message=MIXED_BACKFILL_POLICIES)
    with known_notices_quiet():
        return load_definitions(configs_dir())
