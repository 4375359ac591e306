"""Run records on real runs of the tiny experiment (tiny.py): events and manifest of a hindcast,
and resume after a real kill -9."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from hindcast_assets.cli import main
from hindcast_assets.core.rundir import RunDir, content_hash, read_current
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.pipeline.runlog import ManifestMismatchError, read_events, read_manifest

EVENT_FIELDS = {"run_id", "ts", "task", "partition", "level", "git_sha", "input_paths", "output_paths", "metrics",
                "duration_s", "status"}


def _run(capsys, *argv) -> tuple[int, list[str], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.strip().splitlines(), err


def test_a_hindcast_records_every_stage_partition_and_hashes_every_file(tiny_hindcast):
    rd = tiny_hindcast
    events = [e for e in read_events(rd) if not e["task"].startswith("forecast")]  # other tests add forecasts
    assert events and all(set(e) >= EVENT_FIELDS for e in events)
    ends = {(e["task"], e["partition"]): e for e in events if e["status"] == "success"}
    assert {("model", f) for f in ("2009", "2010", "2011", "production")} <= set(ends)
    model = ends[("model", "2010")]
    assert {"models/corn_usa/2010/model.txt", "models/corn_usa/2010/model_card.json"} <= set(model["output_paths"])
    assert model["input_paths"][0].endswith("yields.parquet") and isinstance(model["duration_s"], float)
    started = [e for e in events if e["status"] == "started"]
    assert len(started) == len(ends) and len({e["run_id"] for e in events}) == 1

    manifest = read_manifest(rd)
    on_disk = {str(p.relative_to(rd.root)) for p in rd.root.rglob("*") if p.is_file() and "forecast" not in p.parts}
    records = {"manifest.json", "logs/events.jsonl"} | {p for p in on_disk if p.startswith("metrics/")}
    hindcast = [a for a in manifest.artefacts if not a["path"].startswith("forecast/")]
    assert {a["path"] for a in hindcast} == on_disk - records
    assert all(content_hash((rd.root / a["path"]).read_bytes()) == a["sha256"] for a in hindcast)
    assert manifest.job == "hindcast" and manifest.missing == [] and len(manifest.plan) == 3 + 8 * 4 + 7  # config, geos, warm-up; 8 fold stages x 4 folds; 7 whole-run
    assert set(manifest.inputs) == {"yields", "indices", "regional", "references", "yardstick"}
    assert manifest.environment["packages"]["dagster"] and len(manifest.config_sha256) == 64
    run = manifest.runs[0]
    assert run["run_id"] == events[0]["run_id"] and run["mlflow_run_id"]
    metrics = (rd.root / "metrics" / "fold_preds.csv").read_text().splitlines()
    assert metrics[0] == "ts,run_id,partition,metric,value"
    (line,) = [m for m in metrics if ",2010,wf_rmse_lightgbm," in m]
    assert float(line.split(",")[-1]) == manifest.completed["fold_preds[2010]"]["metrics"]["wf_rmse_lightgbm"] > 0
    assert ExperimentResult.from_run_dir(rd).complete is True


def _wait_for(ready, seconds: float = 240.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = ready()
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"not reached in {seconds} s")


def _model_done(rd, fold: str) -> bool:
    return any(e["task"] == "model" and e["partition"] == fold and e["status"] == "success"
               for e in read_events(RunDir(rd)))


def _killed_hindcast(config, runs, sent: int = signal.SIGKILL, after: str = "2010") -> RunDir:
    """`hindcast run hindcast` in a subprocess, sent `sent` (killed) once fold `after`'s model is
    written (a stage in the middle of the model chain)."""
    cmd = [sys.executable, "-m", "hindcast_assets.cli", "run", "hindcast", "--config", str(config),
           "--runs-dir", str(runs)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        (rd,) = _wait_for(lambda: runs.exists() and [p for p in runs.iterdir() if p.is_dir()])
        _wait_for(lambda: _model_done(rd, after))
    finally:
        os.kill(proc.pid, sent)
        if proc.wait(120) is None:
            proc.kill()
    return RunDir(rd)


def _mlflow_statuses() -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    return {r.data.tags["dagster_run_id"]: r.info.status for e in client.search_experiments()
            for r in client.search_runs([e.experiment_id])}


def test_in_sample_predictions_are_read_when_asked_for_and_checked_then(tiny_hindcast, tmp_path):
    """A run_dir's result (what registration and `show` build) reads no fold's in-sample
    predictions, the largest files at county scale; a damaged one is refused where it is read."""
    copy = tmp_path / tiny_hindcast.root.name
    shutil.copytree(tiny_hindcast.root, copy)
    (copy / "preds" / "corn_usa" / "2010" / "train_preds.parquet").write_bytes(b"not a parquet file")
    result = ExperimentResult.from_run_dir(str(copy))
    assert "  2010       lightgbm trained on 1975-2009 (35 seasons); preds: train, walk_forward, year_data" in \
        result.describe().splitlines()
    with pytest.raises(ManifestMismatchError, match=r"2010/train_preds.parquet: sha256 differs"):
        result.hindcast["2010"].train_preds
    read = result.hindcast["2011"].train_preds
    pd.testing.assert_frame_equal(read, pd.read_parquet(copy / "preds" / "corn_usa" / "2011" / "train_preds.parquet"))


@pytest.mark.long_running
def test_resume_after_kill_9_completes_the_run_dir_byte_identically(tiny_config, tiny_hindcast, tmp_path, capsys):
    runs = tmp_path / "runs"
    rd = _killed_hindcast(tiny_config, runs)
    (killed,) = DagsterInstance.get().get_runs()
    assert killed.status == DagsterRunStatus.STARTED and _mlflow_statuses()[killed.run_id] == "RUNNING"
    (rd.root / "preds" / ".orphan.0123.tmp").parent.mkdir(parents=True, exist_ok=True)
    (rd.root / "preds" / ".orphan.0123.tmp").write_bytes(b"half")  # what a kill mid-write leaves

    code, shown, said = _run(capsys, "show", str(rd))
    assert code == 0 and shown[2].startswith("INCOMPLETE (hindcast):") and "bias_corrector[2010]" in shown[2], said
    code, out, err = _run(capsys, "run", "forecast", "--run-dir", str(rd), "--season-year", "2011",
                          "--init-date", "2011-08-01")
    assert code == 2 and out == [] and "completed: the forecast of 2011-08-01 needs" in err
    assert f"hindcast resume {rd}" in err and not (rd.root / "forecast").exists()

    code, out, err = _run(capsys, "resume", str(rd))
    assert code == 0, err
    assert out[-1] == str(rd) and str(read_current(str(runs), "corn_usa")) == str(rd)
    statuses = {r.run_id: r.status for r in DagsterInstance.get().get_runs()}
    assert statuses.pop(killed.run_id) == DagsterRunStatus.FAILURE
    assert list(statuses.values()) == [DagsterRunStatus.SUCCESS]
    assert _mlflow_statuses() == {killed.run_id: "KILLED", next(iter(statuses)): "FINISHED"}
    assert not list(rd.root.rglob("*.tmp"))

    def preds(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "preds").rglob("walk_forward_preds.parquet"))}

    assert preds(rd.root) == preds(tiny_hindcast.root) and len(preds(rd.root)) == 6  # 3 folds, model and its member folder
    skipped = [e for e in read_events(rd) if e["status"] == "skipped"]
    assert ("model", "2010") in {(e["task"], e["partition"]) for e in skipped}
    assert ExperimentResult.from_run_dir(rd).complete is True
    code, _, err = _run(capsys, "resume", str(rd))
    assert code == 0 and "nothing to resume" in err


def test_ctrl_c_mid_run_ends_the_dagster_run_and_its_mlflow_run_failed(tiny_input_dir, tmp_path):
    """Ctrl-C (SIGINT) in the launcher, here once fold 2009's model is written: no run is left
    open, and no MLflow run of the interrupted run says FINISHED (a step's teardown may have said
    so before the interrupt reached the run). Slow fits (about 1 s each, no refits) keep the
    run going for seconds after that: Dagster drops a Ctrl-C that arrives after its last step,
    and a tiny run's last 2.4 s were once over before the interrupt came (7 Dec)."""
    from hindcast_assets_tests.tiny import SLOW_FITS, write_config

    config = write_config(tmp_path, **SLOW_FITS)
    rd = _killed_hindcast(config, tmp_path / "runs", signal.SIGINT, after="2009")
    (run,) = DagsterInstance.get().get_runs()
    assert run.status == DagsterRunStatus.FAILURE
    assert list(_mlflow_statuses()) == [run.run_id] and _mlflow_statuses()[run.run_id] in ("FAILED", "KILLED")
    assert not (rd.root / ".lease").exists()


def test_resume_refuses_a_run_dir_changed_after_it_was_written(tiny_hindcast, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(str(tiny_hindcast.root), copy)
    target = copy / "preds" / "corn_usa" / "2010" / "walk_forward_preds.parquet"
    target.write_bytes(target.read_bytes() + b"x")
    code, out, err = _run(capsys, "resume", str(copy))
    assert code == 2 and out == []
    assert err.strip() == f"hindcast: error: {target}: sha256 differs from manifest.json; this run_dir was changed " \
                          "after it was written"
    assert not DagsterInstance.get().get_runs()
    assert json.loads((copy / "manifest.json").read_text())["runs"] == read_manifest(tiny_hindcast).runs


def test_two_forecasts_of_one_partition_at_once_leave_one_forecast_and_no_temp(tiny_config, tmp_path):
    from hindcast_assets.config import load_config
    from hindcast_assets.launch.hindcast import run_experiment

    copy = run_experiment(load_config(tiny_config), "fit-production", str(tmp_path / "runs")).run_dir.root
    cmd = [sys.executable, "-m", "hindcast_assets.cli", "run", "forecast", "--run-dir", str(copy), "--season-year",
           "2011", "--init-date", "2011-08-01"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    streams = [p.communicate(timeout=300) for p in procs]  # read while they run: a full pipe would block them
    results = [(p.returncode, s) for p, s in zip(procs, streams)]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for code, (_, err) in results:
        if code == 2:  # the loser met the winner's lease: one clear line naming it, before any Dagster run
            assert err.startswith(f"hindcast: error: {copy}: being written by run launch-") and err.count("\n") == 1
    forecasts = DagsterInstance.get().get_runs(RunsFilter(job_name="corn_usa__forecast"))
    assert len(forecasts) == codes.count(0) and all(r.is_success for r in forecasts)
    assert not list(copy.rglob("*.tmp")) and not (copy / ".lease").exists()
    made = copy / "forecast" / "2011" / "2011-08-01"
    assert (made / "postprocessed" / "national.parquet").exists() and (made / "indices.zarr").is_dir()
    assert not ExperimentResult.from_run_dir(str(copy)).missing


def _add_when_all_are_ready(barrier, key: str, outcomes) -> None:
    from hindcast_assets.defs.execute import add_partitions

    instance = DagsterInstance.get()  # its own connection, opened after the fork
    barrier.wait()
    try:
        add_partitions(instance, "corn_usa__init_date", [key])
        outcomes.put("added")
    except Exception as exc:  # noqa: BLE001 -- the outcome is what the test compares
        outcomes.put(f"{type(exc).__name__}: {exc}".splitlines()[0])


def test_forecasts_adding_one_new_init_date_at_once_all_go_on():
    # on SQLite, Dagster reads which keys exist, then inserts the rest: with a bare
    # add_dynamic_partitions, 4 processes adding one new key at once met the unique index in 4 of 5
    # rounds (4 Dec). PostgreSQL's storage inserts ON CONFLICT DO NOTHING, so it has no such race.
    DagsterInstance.get().add_dynamic_partitions("corn_usa__init_date", ["08-01"])  # storage exists
    fork = multiprocessing.get_context("fork")
    for key in ("06-01", "07-01", "09-01", "10-01", "11-01"):
        barrier, outcomes = fork.Barrier(4), fork.Queue()
        procs = [fork.Process(target=_add_when_all_are_ready, args=(barrier, key, outcomes)) for _ in range(4)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60)
        assert [outcomes.get(timeout=5) for _ in procs] == ["added"] * 4, key
    assert sorted(DagsterInstance.get().get_dynamic_partitions("corn_usa__init_date")) == \
        ["06-01", "07-01", "08-01", "09-01", "10-01", "11-01"]
