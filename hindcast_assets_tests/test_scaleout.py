"""Scale-out on real engines (issue 13): a hindcast on the PostgreSQL instance profile; a
hindcast fanned out over fold chunks, in-process and on two Celery workers (RabbitMQ, Redis),
byte-identical to one run; a worker killed mid-step; a hindcast, forecast and `show` on an
`s3://` run_dir served by an S3 API server on loopback. Under CI=true a service that does not
answer fails these tests (conftest.service_or_fail)."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from upath import UPath

from hindcast_assets.cli import main
from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import read_current
from hindcast_assets.instance import libpq_url
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.pipeline.runlog import read_manifest
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.launch.forecast import run_forecast
from hindcast_assets.defs.deployment import Executor
from hindcast_assets.launch.hindcast import Scale, run_experiment
from hindcast_assets_tests import tiny

pytestmark = pytest.mark.scaleout
SMALL = {"model": {"name": "trend", "params": {}}}  # on the tiny experiment (tiny.py): 2009-2011 and production
# LightGBM over six test folds and production, on the tiny experiment (tiny.py)
FOLDS = {"hindcast": {"first_test_year": 2006, "last_test_year": 2011}}
CHUNKS = ("folds 2006-2009", "folds 2010-production")  # FOLDS in two, by weight, under tiny.SLOW_FITS


def artefacts(rd: RunDir) -> dict[str, bytes]:
    """Every artefact the manifest lists, its run_dir's own name and stamp written as `<run>`
    (the report and the delivery CSV carry them): what must not differ between two runs."""
    from hindcast_assets.pipeline.runlog import read_manifest

    name = rd.root.name
    stamp = name.split("_")[0] + "_" + name.split("_")[1]
    iso = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}"
    out = {}
    for entry in read_manifest(rd).artefacts:
        path = rd.root / entry["path"]
        data = b"" if path.is_dir() else path.read_bytes()  # a zarr folder: its sha256 below stands for it
        key = entry["path"].replace(stamp, "<run>")
        out[key] = (entry["sha256"] if path.is_dir() else
                    data.replace(name.encode(), b"<run>").replace(stamp.encode(), b"<run>").replace(iso.encode(), b"<run>"))
    return out


def _celery_steps(instance, run_id: str) -> dict[str, str]:
    """step key -> the Celery worker that ran it, from the run's Dagster event log."""
    steps = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        data = getattr(event, "event_specific_data", None) if event else None
        worker = getattr(data, "metadata", {}).get("Celery worker") if data is not None else None
        if worker is not None:
            steps.setdefault(event.step_key, []).append(worker.text.split("@")[0].split(".")[0])  # w1.<queue>@host
    return steps


def test_a_hindcast_runs_on_the_postgresql_instance(postgres_instance, tmp_path, tiny_input_dir):
    import psycopg2

    made = run_experiment(load_config(tiny.write_config(tmp_path, **SMALL)), "hindcast", str(tmp_path / "runs"))
    instance = DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    (run,) = instance.get_runs()
    assert run.status == DagsterRunStatus.SUCCESS and run.tags["hindcast/experiment"] == "corn_usa"
    with psycopg2.connect(libpq_url(postgres_instance)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT run_id FROM runs")
        assert cursor.fetchall() == [(run.run_id,)]  # the run is in PostgreSQL, not in a local file
        cursor.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (run.run_id,))
        assert cursor.fetchone()[0] > 50
    assert ExperimentResult.from_run_dir(made.run_dir).complete


@pytest.mark.long_running
def test_hindcast_forecast_and_show_on_an_s3_run_dir(s3_runs, tmp_path, tiny_input_dir, capsys):
    cfg = load_config(tiny.write_config(tmp_path, **SMALL))
    on_s3 = run_experiment(cfg, "hindcast", s3_runs).run_dir
    local = run_experiment(cfg, "hindcast", str(tmp_path / "runs")).run_dir
    assert str(on_s3).startswith("s3://") and str(read_current(s3_runs, "corn_usa")) == str(on_s3)
    for fold in ("2009", "2010", "2011"):  # the same bytes as on local disk
        rel = f"preds/corn_usa/{fold}/walk_forward_preds.parquet"
        assert (on_s3.root / rel).read_bytes() == (local.root / rel).read_bytes()

    run_forecast(str(on_s3), 2011, "2011-08-01")
    result = ExperimentResult.from_run_dir(str(on_s3))
    assert result.complete and (2011, "2011-08-01") in result.forecasts
    assert result.forecasts[(2011, "2011-08-01")].national["prediction"].iloc[0] > 100
    assert (on_s3.root / "forecast/2011/2011-08-01/reports/drift.json").exists()
    leftovers = [p for p in UPath(s3_runs).rglob("*") if p.name.endswith(".tmp") or p.name == ".lease"]
    assert leftovers == []

    capsys.readouterr()
    assert main(["show", str(on_s3)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run_dir: {on_s3}\n") and "complete (hindcast)" in out and "forecast 2011 as of 2011-08-01" in out


def _runs_by_phase(instance) -> dict[str, list]:
    from hindcast_assets.launch.fanout import PHASE_TAG

    phases: dict[str, list] = {}
    for record in instance.get_run_records():
        phases.setdefault(record.dagster_run.tags.get(PHASE_TAG, "one run"), []).append(record)
    return phases


def _active_step(app, pool) -> tuple[str, str] | None:
    """(worker, step key) of a task of `pool`'s workers running a fold-chunk model step, if any."""
    for node, tasks in (app.control.inspect(timeout=0.3).active() or {}).items():
        name = node.split("@")[0].split(".")[0]
        if name in pool.processes and node.startswith(pool.nodename(name) + "@"):
            if any("corn_usa__model" in str(task.get("kwargs")) for task in tasks):
                return name, "corn_usa__model"
    return None


def _begun_step(app, pool, instance) -> tuple[str, str] | None:
    """An active model step (`_active_step`) once its run's event log records the worker holding
    it and the step has not succeeded: a task is active while the worker still loads the job,
    before it logs "Executing steps ... in celery worker", and a worker killed in that gap leaves
    no trace of having held the step (seen once on a fresh clone, 4 Dec)."""
    running = _active_step(app, pool)
    if running is None:
        return None
    worker, step = running
    for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        run_id = record.dagster_run.run_id
        finished = any(entry.dagster_event.step_key == step
                       for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS))
        if not finished and _celery_steps(instance, run_id).get(step, [])[-1:] == [worker]:
            return running
    return None


@pytest.mark.long_running
def test_a_fanned_out_hindcast_in_process_and_on_celery_with_a_worker_killed_is_byte_identical_to_one_run(
        postgres_instance, celery_workers, tmp_path, tiny_input_dir):
    """One run; the same hindcast fanned out over two fold chunks in process and on two Celery
    workers, the worker holding a model step killed mid-step: every artefact the same bytes, the
    killed step rerun on the other worker. One test, not two: each hindcast here is a dozen seconds
    of Dagster runs, and the one run and a Celery fan-out would be made twice."""
    # slow fits: a model step of some seconds, long enough to be killed in (inner and warm-up
    # refits would triple the fits and test nothing more here)
    config = tiny.write_config(tmp_path, **FOLDS, **tiny.SLOW_FITS)
    cfg, runs = load_config(config), tmp_path / "runs"
    one = run_experiment(cfg, "hindcast", str(runs)).run_dir  # the others beside it fit every fold, copying none
    in_process = run_experiment(cfg, "hindcast", str(runs), str(config), Scale(2, Executor.IN_PROCESS),
                                reuse_folds=False).run_dir
    cmd = [sys.executable, "-m", "hindcast_assets.cli", "run", "hindcast", "--config", str(config), "--runs-dir",
           str(runs), "--workers", "2", "--executor", "celery", "--no-reuse"]
    from hindcast_assets.defs.celery import app

    # to files, not pipes: a pipe nobody reads while we wait fills, and the launcher blocks on it
    out, err = tmp_path / "launcher.out", tmp_path / "launcher.err"
    launcher = subprocess.Popen(cmd, stdout=out.open("w"), stderr=err.open("w"))
    deadline, running, instance = time.monotonic() + 120, None, DagsterInstance.get()
    while running is None and time.monotonic() < deadline and launcher.poll() is None:
        running = _begun_step(app, celery_workers, instance)
    assert running is not None, f"no model step was seen running on a worker; the launcher said: {err.read_text()}"
    killed, step = running
    celery_workers.kill(killed)  # the whole worker, mid-step: its broker connection drops unacknowledged
    assert launcher.wait(timeout=600) == 0, err.read_text()
    said = err.read_text()
    assert f"2 fold-chunk runs ({', '.join(CHUNKS)}), then 1 + 2 + 1 fan-in runs, executor celery" in said
    assert "stage partitions complete" in said
    on_celery = RunDir(out.read_text().strip().splitlines()[-1])

    reference = artefacts(one)
    assert len(reference) > 90 and artefacts(in_process) == reference and artefacts(on_celery) == reference
    assert not any("reused_from" in c for rd in (in_process, on_celery) for c in read_manifest(rd).completed.values())

    phases = _runs_by_phase(instance)
    assert sorted((k, len(v)) for k, v in phases.items()) == [
        ("fan-in: bias_corrector", 2), ("fan-in: conformal", 2), ("fan-in: fold_preds_by_init_date", 2),
        ("fan-in: season_report", 2), *((chunk, 2) for chunk in CHUNKS), ("one run", 1)]
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for v in phases.values() for r in v)
    celery_chunks = [r for k in CHUNKS for r in phases[k]
                     if r.dagster_run.tags.get("hindcast/run_dir/corn_usa") == str(on_celery)]
    first, second = sorted(celery_chunks, key=lambda r: r.start_time)
    assert second.start_time < first.end_time  # the two chunks ran side by side
    steps = [_celery_steps(instance, r.dagster_run.run_id) for r in celery_chunks]
    assert {w for ran in steps for ws in ran.values() for w in ws} == {"w1", "w2"}
    survivor = next(iter({"w1", "w2"} - {killed}))
    assert [killed, survivor] in [ran[step] for ran in steps if step in ran]  # redelivered to the survivor


def test_a_zarr_folder_on_s3_is_published_by_its_metadata_written_last(s3_runs):
    import pandas as pd

    from hindcast_assets.core.indices_store import MARKERS, published, read_indices, write_indices

    rows = pd.DataFrame({"geo_id": ["US-19", "US-17"], "date": pd.to_datetime(["2011-05-31", "2011-06-30"]),
                         "variable": ["prcp", "tavg"], "value": [3.5, 71.2]})
    target = UPath(f"{s3_runs}/run/forecast/2011/2011-08-01/indices.zarr")
    write_indices(target, rows, {"season_year": 2011})
    assert published(target) and read_indices(target)[0].equals(rows)

    cut_short = UPath(f"{s3_runs}/cut/indices.zarr")  # a kill between the arrays and the metadata
    for entry in target.rglob("*"):
        relative = entry.relative_to(target).as_posix()
        if entry.is_file() and relative not in MARKERS:
            (cut_short / relative).write_bytes(entry.read_bytes())
    assert cut_short.exists() and not published(cut_short)
    write_indices(cut_short, rows, {"season_year": 2011})  # replaced, not refused as "already written"
    assert published(cut_short) and read_indices(cut_short)[0].equals(rows)


def test_an_s3_manifest_this_process_put_is_not_fetched_again_but_another_writers_is(s3_runs, tmp_path, input_dir,
                                                                                       monkeypatch):
    import json

    from hindcast_assets.pipeline import store
    from hindcast_assets.pipeline.runlog import open_run_dir
    from hindcast_assets_tests.conftest import write_config

    rd = RunDir(f"{s3_runs}/20261207_000000_corn_usa")
    open_run_dir(rd, load_config(write_config(tmp_path, **SMALL)), "hindcast", [], [])  # one PUT, its ETag kept
    fetched, get_object = [], store.get_object
    monkeypatch.setattr(store, "get_object", lambda path: fetched.append(path.name) or get_object(path))
    assert read_manifest(rd).job == "hindcast" and fetched == []  # a HEAD says it is what this process put
    path = rd.root / store.MANIFEST_FILE
    theirs = {**json.loads(get_object(path)), "job": "fit-production"}
    path.fs.pipe_file(path.path, json.dumps(theirs).encode())  # another writer replaces it
    assert read_manifest(rd).job == "fit-production" and fetched == ["manifest.json"]
