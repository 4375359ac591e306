"""An experiment's inputs (DESIGN.md §2) as external assets: observed with a data version from
the file's content hash, so the UI shows what was made from older data as stale, and checked
by blocking asset checks (the CLI preflight's validation) before any stage reads them."""
from __future__ import annotations

from dagster import (AssetCheckResult, AssetCheckSeverity, AssetChecksDefinition, AssetKey, AssetObservation,
                     AssetSpec, DagsterInstance, DataVersion, ObserveResult, asset_check,
                     multi_observable_source_asset)
from dagster._core.definitions.data_version import DATA_VERSION_TAG

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import configured_inputs, file_version, input_problem
from hindcast_assets.core.preflight import experiment_problem
from hindcast_assets.defs.groups import Group, group_name
from hindcast_assets.paths import config_file


def input_key(cfg: ExperimentConfig, name: str) -> AssetKey:
    return AssetKey([cfg.experiment_key, name])


def build_input_assets(cfg: ExperimentConfig):
    inputs = configured_inputs(cfg)
    specs = [AssetSpec(input_key(cfg, name), group_name=group_name(cfg, Group.INPUTS), kinds={"parquet"},
                       description=f"External input `inputs.{name}`: {url}") for name, url in inputs.items()]

    @multi_observable_source_asset(name=f"{cfg.experiment_key}__inputs", specs=specs, can_subset=True)
    def _observe(context):
        for key in context.selected_asset_keys:
            yield ObserveResult(asset_key=key, data_version=DataVersion(file_version(inputs[key.path[-1]])))

    return _observe


def observe_inputs(instance: DagsterInstance, cfg: ExperimentConfig) -> None:
    """Record each input's current content hash (launchers call this before a run)."""
    for name, url in configured_inputs(cfg).items():
        instance.report_runless_asset_event(AssetObservation(
            asset_key=input_key(cfg, name), tags={DATA_VERSION_TAG: file_version(url)}))


def build_input_checks(cfg: ExperimentConfig) -> list[AssetChecksDefinition]:
    def check(name: str) -> AssetChecksDefinition:
        @asset_check(asset=input_key(cfg, name), name="valid", blocking=True,
                     description="Schema, dtypes, duplicates, non-finite and implausible values, dating; for the "
                                 "yields also the rules between the inputs and the config (the CLI preflight's "
                                 "checks).")
        def _valid() -> AssetCheckResult:
            problem = input_problem(cfg, name)
            if problem is None and name == "yields":  # the rules between inputs and the config, as the CLI's
                problem = experiment_problem(cfg, config_file(cfg.experiment_key))
            return AssetCheckResult(passed=problem is None, severity=AssetCheckSeverity.ERROR,
                                    metadata={"problem": problem or "none"})

        return _valid

    return [check(name) for name in configured_inputs(cfg)]
