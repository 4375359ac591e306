"""`hindcast replay`, `hindcast retrain` and `hindcast replay-seasons`: a past season's data
arriving month by month with the forecast sensor deciding, the retraining flow as one Dagster run,
and final yields landing season by season with the retrain sensor deciding."""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import RunRequest, SensorResult, build_sensor_context

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.drift import DriftSummary
from hindcast_assets.core.errors import PreflightError
from hindcast_assets.core.parquet import read_parquet, write_parquet
from hindcast_assets.core.rundir import RunDir, set_current
from hindcast_assets.defs.execute import QUIET, RunFailed, first_cause, launcher_instance, observed_instance
from hindcast_assets.defs.lifecycle import build_retrain_job, build_retrain_sensor
from hindcast_assets.defs.partitions import forecast_date
from hindcast_assets.defs.resources import worker_tags
from hindcast_assets.defs.sensors import build_forecast_sensor
from hindcast_assets.launch.forecast import run_forecasts
from hindcast_assets.launch.hindcast import run_experiment
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.ingest import indices_as_published, write_input
from hindcast_assets.pipeline.lifecycle import RetrainingResult, load_champion
from hindcast_assets.pipeline.registry import CHAMPION, ModelVersion, Registry


@dataclass
class Arrival:
    data_through: dt.date
    forecasts: list[tuple[str, pd.Series]]  # (forecast date, national row) made at this arrival
    vintage: str | None = None  # YYYYMMDD of the published vintage that arrived (a replay of vintages)


def _monthly(indices: str, season_year: int) -> Iterator[tuple[None, dt.date, pd.DataFrame]]:
    """The season's final data arriving a month at a time: (no vintage, through, rows)."""
    full = read_parquet(indices)
    for month in range(1, 13):
        through = pd.Timestamp(season_year, month, 1) + pd.offsets.MonthEnd(0)
        yield None, through.date(), full[full["date"] <= through]


def _published(folder: str, season_year: int) -> Iterator[tuple[str, dt.date, pd.DataFrame]]:
    """The season's data as each kept vintage published it (those whose newest month is in the
    season): (vintage, its newest date, rows)."""
    for vintage, indices in indices_as_published(Path(folder)):
        newest = indices["date"].max().date()
        if newest.year == season_year:
            yield vintage, newest, indices


def replay(run_dir: str, season_year: int, vintages: str | None = None) -> Iterator[Arrival]:
    """`hindcast replay`: a season's data arrive and the forecast sensor decides what to run. The
    sensor watches a replay copy of the indices table holding only what has "arrived" and points
    at `run_dir` as the experiment's current one. Without `vintages`, the final data arrive a
    month at a time and the forecasts read the run_dir's inputs truncated at the init date, as in
    production; with `vintages` (a folder of kept nClimDiv files), each vintage arrives as it was
    published and the forecasts read it, so each names the vintage it used."""
    rd = RunDir(run_dir)
    cfg = store.read_config(rd)
    if cfg.inputs.indices is None:
        raise PreflightError(f"{store.CONFIG.path(rd)}: inputs.indices: nothing arrives in season to replay")
    arrivals = _published(vintages, season_year) if vintages else _monthly(cfg.inputs.indices, season_year)
    with tempfile.TemporaryDirectory(prefix="hindcast_replay_") as scratch, launcher_instance() as instance:
        arrived = f"{scratch}/indices.parquet"
        set_current(f"{scratch}/runs", cfg.experiment_key, rd)
        sensor = build_forecast_sensor(store.with_indices(cfg, arrived), runs_dir=f"{scratch}/runs")
        cursor = None
        for vintage, through, indices in arrivals:
            write_input(indices, Path(arrived))
            result = sensor(build_sensor_context(instance=instance, cursor=cursor))
            made = []
            if isinstance(result, SensorResult):
                cursor = result.cursor
                dates = [forecast_date(r.partition_key) for r in result.run_requests]
                run_forecasts(run_dir, dates, arrived if vintages else None)
                nationals = {str(at): store.FORECAST_NATIONAL.read(rd, **store.forecast_fields(at)) for at in dates}
                made = [(at, rows.iloc[0]) for at, rows in nationals.items() if not rows.empty]
            yield Arrival(through, made, vintage)


def retrain(cfg: ExperimentConfig, source: str, runs_dir: str, force: bool) -> RetrainingResult:
    """`hindcast retrain`: the experiment's retrain job, one in-process Dagster run (the
    challenger's hindcast is a run of its own, launched from inside it). An unusable champion
    is reported first, before any run exists."""
    load_champion(cfg.experiment_key)
    job = build_retrain_job(cfg, source)
    op = job.graph.node_names()[0]
    run_config = {**QUIET, "ops": {op: {"config": {"force": force, "runs_dir": runs_dir}}}}
    with observed_instance(cfg) as instance:
        result = job.execute_in_process(instance=instance, run_config=run_config, tags=worker_tags(),
                                        raise_on_error=False)
    if not result.success:
        raise RunFailed(f"dagster run {result.run_id} failed: {first_cause(result)}")
    out = json.loads(result.output_for_node(op))
    drift = out.pop("drift_summary")
    return RetrainingResult(**out, drift_summary=DriftSummary.from_dict(drift) if drift else None)


@dataclass
class SeasonLanding:
    season: int  # whose final yields landed
    result: RetrainingResult | None  # None: the sensor asked for nothing (or the first champion)
    champion: ModelVersion

    def line(self) -> str:
        """One line for the replay's log: the season, the decision, the champion and its skill."""
        c = self.champion
        champion = (f"champion v{c.version} (trained through {c.trained_through}, hindcast state RMSE "
                    f"{c.skill().get('geo.rmse', float('nan')):.2f})")
        if self.result is None:
            return f"{self.season}: {champion}: {c.reason}"
        r = self.result
        verdict = "promoted" if r.promoted else "retrained, kept the champion" if r.retrained else "not retrained"
        return f"{self.season} lands: {verdict}; {champion}; {r.reason}"


def replay_config(cfg: ExperimentConfig, folder: str, through: int) -> ExperimentConfig:
    """The experiment under its own key (`<key>_replay`, its own registered model and runs),
    reading a copy of its yields that holds seasons up to `through` only."""
    key = f"{cfg.experiment_key}_replay"
    inputs = cfg.inputs.model_copy(update={"yields": f"{folder}/yields.parquet"})
    hindcast = cfg.hindcast.model_copy(update={"last_test_year": through})
    return cfg.model_copy(update={"experiment_key": key, "inputs": inputs, "hindcast": hindcast,
                                  "mlflow": cfg.mlflow.model_copy(update={"experiment": key})})


def _land(frame: pd.DataFrame, path: str) -> None:
    """Replace the replay's yields copy atomically (write aside, then rename; a local folder)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_parquet(frame, f"{path}.tmp")
    os.replace(f"{path}.tmp", path)


def replay_seasons(cfg: ExperimentConfig, source: str, first: int, last: int, folder: str) -> Iterator[SeasonLanding]:
    """`hindcast replay-seasons`: the champion is a hindcast on yields through `first`; then the
    final yields of each later season land, one at a time, and the retrain sensor decides whether
    the retraining flow runs. The replay has its own registered model, reset at the start."""
    yields = read_parquet(cfg.inputs.yields)
    season = cfg.columns.season_year
    replay = replay_config(cfg, folder, first)
    registry = Registry()
    if registry.client.search_registered_models(f"name = '{replay.experiment_key}'"):
        registry.client.delete_registered_model(replay.experiment_key)
    runs_dir = f"{folder}/runs"
    _land(yields[yields[season] <= first], f"{folder}/yields.parquet")
    start = run_experiment(replay, "hindcast", runs_dir, source)
    yield SeasonLanding(first, None, start.registered)
    sensor, cursor = build_retrain_sensor(replay), None
    with launcher_instance() as instance:
        for landed in range(first + 1, last + 1):
            _land(yields[yields[season] <= landed], f"{folder}/yields.parquet")
            context = build_sensor_context(instance=instance, cursor=cursor)
            request = sensor(context)
            cursor = context.cursor
            result = retrain(replay, source, runs_dir, force=False) if isinstance(request, RunRequest) else None
            yield SeasonLanding(landed, result, registry.alias(replay.experiment_key, CHAMPION))
