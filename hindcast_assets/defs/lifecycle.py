"""The model lifecycle in Dagster (DESIGN.md §9): the retraining flow as a job of one op, and a
sensor, stopped by default, that starts it when final yields of a season newer than the
champion's training land in the yields input."""

import json

from dagster import Field, MetadataValue, OpExecutionContext, Output, RunRequest, SensorEvaluationContext, SkipReason, job, op

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.data import load_input, scored_seasons
from hindcast_assets.core.rundir import RunDir, utc_stamp
from hindcast_assets.defs.experiment import materialised
from hindcast_assets.defs.inputs import observe_inputs
from hindcast_assets.defs.resources import experiment_tags
from hindcast_assets.defs.sensors import stopped_sensor
from hindcast_assets.paths import default_runs_dir
from hindcast_assets.pipeline.lifecycle import record_decision, retraining_flow
from hindcast_assets.pipeline.registry import CHAMPION, Registry
from hindcast_assets.pipeline.run_dirs import JobKind, minted


def retrain_job_name(key: str) -> str:
    return f"{key}__retrain"


def decisions_dir(runs_dir: str, key: str, run_id: str) -> str:
    """Where a decision's drift report and JSON are kept: beside the run_dirs, never in one."""
    return f"{runs_dir.rstrip('/')}/lifecycle/{key}/{utc_stamp()}_{run_id[:8]}"


def _hindcast(cfg: ExperimentConfig, runs_dir: str, source: str) -> RunDir:
    """The challenger's hindcast: a fresh run_dir in the champion's runs folder (so it copies the
    folds it shares with the champion), one in-process run, registered."""
    with minted(cfg, JobKind.HINDCAST, runs_dir) as (rd, lease):
        materialised(cfg, JobKind.HINDCAST, rd, source, lease)
        return rd


def build_retrain_job(cfg: ExperimentConfig, source: str):
    key = cfg.experiment_key

    @op(name=f"{key}__retraining_flow",
        config_schema={"force": Field(bool, default_value=False, description="retrain whatever drift and error say"),
                       "runs_dir": Field(str, is_required=False, description="default ${INPUT_DATA_DIR}/runs")},
        description=f"{key}: drift of the newest season, the champion on the seasons since its training, "
                    "retrain (a fresh hindcast run_dir) past a threshold, promote only a better challenger.")
    def retraining_flow_op(context: OpExecutionContext):
        runs_dir = context.op_config.get("runs_dir") or default_runs_dir()
        result, decision = retraining_flow(cfg, context.op_config["force"],
                                           lambda challenger: _hindcast(challenger, runs_dir, source))
        result = record_decision(result, decision, context.run_id, decisions_dir(runs_dir, key, context.run_id))
        context.log.info(result.reason)
        drift = result.drift_summary
        yield Output(result.to_json(), metadata={
            "retrained": result.retrained, "promoted": result.promoted, "reason": result.reason,
            "run_dir": MetadataValue.path(result.run_dir or ""),
            "drift_share": drift.dataset_drift_score if drift else -1.0,
            "drift_report": MetadataValue.path(drift.report_path or "") if drift else "",
            "champion_version": result.champion_version or ""})

    @job(name=retrain_job_name(key), tags=experiment_tags(key),
         description=f"{key}: the retraining flow (`hindcast retrain`).")
    def retrain():
        retraining_flow_op()

    return retrain


def build_retrain_sensor(cfg: ExperimentConfig):
    key = cfg.experiment_key

    @stopped_sensor(f"{key}__retrain_on_new_yields", retrain_job_name(key), 300,
                    f"{key}: run the retraining flow once per season whose final yields land after the "
                    "champion's training.")
    def retrain_on_new_yields(context: SensorEvaluationContext):
        observe_inputs(context.instance, cfg)
        champion = Registry().alias(key, CHAMPION)
        newest = scored_seasons(load_input(cfg, "yields"))[-1]
        if champion is not None and newest <= champion.trained_through:
            return SkipReason(f"{key}: yields end {newest}; the champion was trained through it")
        done = set(json.loads(context.cursor or "[]"))
        if newest in done:
            return SkipReason(f"{key}: the retraining for season {newest} was already requested")
        context.update_cursor(json.dumps(sorted(done | {newest})))
        return RunRequest(run_key=f"{key}-yields-{newest}", tags={"hindcast/season": str(newest)})

    return retrain_on_new_yields
