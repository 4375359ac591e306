"""`make kill-trials`: kill -9 (or Ctrl-C) a hindcast at random points, resume it, and check what is left.

One uninterrupted reference run first; then each trial launches `hindcast run hindcast` in its
own process, sends SIGKILL (`--signal KILL`) or SIGINT (`--signal INT`, Ctrl-C) after a random
delay within the first 80 % of the reference run, runs `hindcast resume` on the run_dir it
minted, and compares. Reported per trial and in total: walk_forward_preds byte-identical to the
reference, temporary files left after the resume, Dagster runs left STARTED, MLflow runs left
RUNNING, and interrupted runs not closed right (a Dagster run that is not FAILURE, or whose
MLflow run is not FAILED or KILLED). Not part of `make test` (minutes).

    python scripts/kill_trials.py --trials 20 [--signal KILL|INT] [--config configs/corn_usa.yaml] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, env: dict, quiet: bool = False) -> subprocess.Popen:
    """`hindcast ARGS`; `quiet` sends its output nowhere (a run we kill is never read, and a full
    pipe would stall it)."""
    out = subprocess.DEVNULL if quiet else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", "hindcast_assets.cli", *args], env=env, stdout=out, stderr=out,
                            text=True)


def _preds(run_dir: Path) -> dict[str, bytes]:
    preds = sorted((run_dir / "preds").rglob("walk_forward_preds.parquet"))
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in preds}


STORES = ("from dagster import DagsterInstance, DagsterRunStatus, RunsFilter; from mlflow.tracking import MlflowClient;"
          "i=DagsterInstance.get(); c=MlflowClient();")


def _runs(env: dict) -> list[list[str]]:
    """[Dagster run id, its status, its MLflow runs' statuses] on this trial's instance and store,
    oldest first."""
    code = (STORES + "import json;"
            "m={};"
            "[m.setdefault(x.data.tags.get('dagster_run_id'), []).append(x.info.status) for e in c.search_experiments()"
            " for x in c.search_runs([e.experiment_id])];"
            "print(json.dumps([[r.run_id, r.status.value, m.get(r.run_id, [])] for r in reversed(i.get_runs())]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _open_runs(env: dict) -> tuple[int, int]:
    """Dagster runs STARTED and MLflow runs RUNNING on this trial's instance and store."""
    runs = _runs(env)
    return (sum(status in ("STARTED", "STARTING") for _, status, _ in runs),
            sum(m == "RUNNING" for _, _, tracked in runs for m in tracked))


def _badly_closed(runs: list[list[str]]) -> int:
    """Interrupted runs (all but a resume's last, successful one) not closed as FAILURE, or with
    an MLflow run that is not FAILED or KILLED."""
    interrupted = [r for r in runs if r[1] != "SUCCESS"]
    return sum(status != "FAILURE" or any(m not in ("FAILED", "KILLED") for m in tracked)
               for _, status, tracked in interrupted)


def _env(scratch: Path) -> dict:
    home = scratch / "dagster"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
           "PYTHONWARNINGS": "ignore"}
    # the instance and the MLflow store exist before the run, as they do for a user: a kill
    # during their first-ever creation is not what these trials are about
    subprocess.run([sys.executable, "-c", STORES + "c.search_experiments()"], env=env, check=True,
                   capture_output=True)
    return env


def trial(i: int, config: str, reference: dict, kill_after: float, scratch: Path, sent: int) -> dict:
    env, runs = _env(scratch), scratch / "runs"
    proc = _cli("run", "hindcast", "--config", config, "--runs-dir", str(runs), env=env, quiet=True)
    time.sleep(kill_after)
    finished = proc.poll() is not None
    if not finished:
        os.kill(proc.pid, sent)
    proc.wait()
    minted = [p for p in runs.iterdir() if p.is_dir()] if runs.exists() else []
    head = {"trial": i, "signal": signal.Signals(sent).name, "kill_after_s": round(kill_after, 1)}
    if not minted:  # killed before the run_dir existed: nothing to resume
        started, running = _open_runs(env)
        return {**head, "state": "no run_dir", "identical": True, "temp_files": 0, "dagster_started": started,
                "mlflow_running": running, "badly_closed": _badly_closed(_runs(env)), "runs": _runs(env)}
    (rd,) = minted
    resumed = _cli("resume", str(rd), env=env)
    _, err = resumed.communicate()
    started, running = _open_runs(env)
    runs_seen = _runs(env)
    return {**head, "state": "finished" if finished else "interrupted", "resume_exit": resumed.returncode,
            "resume_error": err.strip().splitlines()[-1:] if resumed.returncode else [],
            "identical": _preds(rd) == reference, "temp_files": len(list(rd.rglob("*.tmp"))),
            "dagster_started": started, "mlflow_running": running, "badly_closed": _badly_closed(runs_seen),
            "runs": runs_seen}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--config", default=str(ROOT / "configs" / "corn_usa.yaml"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--signal", choices=["KILL", "INT"], default="KILL", help="SIGKILL (kill -9) or SIGINT (Ctrl-C)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="kill_trials_") as tmp:
        scratch = Path(tmp)
        start = time.perf_counter()
        ref = _cli("run", "hindcast", "--config", args.config, "--runs-dir", str(scratch / "ref" / "runs"),
                   env=_env(scratch / "ref"))
        out, err = ref.communicate()
        if ref.returncode:
            raise SystemExit(f"reference run failed: {err.strip().splitlines()[-1:]}")
        duration = time.perf_counter() - start
        reference = _preds(Path(out.strip().splitlines()[-1]))
        results = []
        for i in range(1, args.trials + 1):
            result = trial(i, args.config, reference, rng.uniform(2.0, 0.8 * duration), scratch / f"trial{i}",
                           signal.Signals[f"SIG{args.signal}"])
            results.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    ok = [r for r in results if r["identical"] and r["temp_files"] == 0 and r["dagster_started"] == 0
          and r["mlflow_running"] == 0 and r["badly_closed"] == 0 and r.get("resume_exit", 0) == 0]
    summary = {"config": args.config, "signal": args.signal, "reference_s": round(duration, 1),
               "trials": len(results), "passed": len(ok), "badly_closed": sum(r["badly_closed"] for r in results),
               "identical": sum(r["identical"] for r in results),
               "temp_files": sum(r["temp_files"] for r in results),
               "runs_left_open": sum(r["dagster_started"] + r["mlflow_running"] for r in results), "results": results}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%dT%H%M", time.gmtime())
    (Path(args.out) / f"kill_trials_{args.signal}_{stamp}.json").write_text(json.dumps(summary, indent=2))
    print(f"SIG{args.signal}: {summary['passed']} of {summary['trials']} trials passed: {summary['identical']} "
          f"byte-identical, {summary['temp_files']} temporary files, {summary['runs_left_open']} runs left STARTED "
          f"or RUNNING, {summary['badly_closed']} interrupted runs not closed FAILURE / MLflow FAILED or KILLED "
          f"(reference run {summary['reference_s']} s)")
    sys.exit(0 if len(ok) == len(results) else 1)


if __name__ == "__main__":
    main()
