"""MLflow tracking: one MLflow run per orchestrator run and experiment, always ended.

Get-or-create is race-safe for the processes of one host (the multiprocess executor runs steps
of one run side by side): it holds an exclusive lock on a file named for the store and the
experiment while it looks for the run and creates it. Measured without it: four processes
asking at once made more than one run in 3 of 3 trials (creating, then keeping the earliest:
1 of 2). An ended run found again is reopened; a FAILED one stays FAILED. Workers on several
hosts need a lock they share (issue 13).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hindcast_assets.paths import mlflow_artifact_location, mlflow_tracking_uri

RUN_TAG = "dagster_run_id"
RUN_NAME_TAG = "mlflow.runName"
# What our experiments are, for MLflow UIs that read it. MLflow 3.17's UI does not: it opens an
# experiment in the view its URL's `workflowType` names, else the browser's last choice (default
# GenAI: traces, no runs shown), so every link we give names the model-training view.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
MODEL_TRAINING_VIEW = "workflowType=machine_learning"
UI_URL_ENV = "MLFLOW_UI_URL"  # where the MLflow UI serves (default: `mlflow ui`'s own address)
ENDED_BADLY = ("FAILED", "KILLED")


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Nested config -> dotted keys (`model.name`), as MLflow params."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        name = f"{prefix}{k}"
        out |= flatten(v, f"{name}.") if isinstance(v, dict) and v else {name: v}
    return out


def run_name(*parts: str) -> str:
    """An MLflow run's name says what it is (`corn_usa · hindcast · 1990…2023 · 20261206_014920`:
    experiment, job, partitions, run_dir stamp), not MLflow's random `rumbling-turtle-913`."""
    return " · ".join(p for p in parts if p)


@contextmanager
def host_lock(*names: str) -> Iterator[None]:
    """An exclusive lock shared by every process of this host that names the same things."""
    digest = hashlib.sha256("|".join(names).encode()).hexdigest()[:24]
    with open(Path(tempfile.gettempdir()) / f"hindcast-{digest}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Tracker:
    def __init__(self, tracking_uri: str = ""):
        from mlflow.tracking import MlflowClient  # lazy: mlflow costs ~3 s to import

        self.uri = tracking_uri or mlflow_tracking_uri()
        self.client = MlflowClient(self.uri)

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(name)
        if exp:
            if not EXPERIMENT_KIND.items() <= exp.tags.items():  # made before the tag was set
                self.client.set_experiment_tag(exp.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
            return exp.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=mlflow_artifact_location(self.uri),
                                                 tags=EXPERIMENT_KIND)
        except MlflowException:  # created by another process meanwhile
            return self.client.get_experiment_by_name(name).experiment_id

    def prepare(self, experiment: str) -> None:
        """The store's tables and the experiment exist: done by a launcher before parallel
        writers start (two processes creating a fresh SQLite store race in its migrations)."""
        self._experiment_id(experiment)

    def _runs_of(self, exp_id: str, orchestrator_run_id: str) -> list:
        return self.client.search_runs([exp_id], f"tags.{RUN_TAG} = '{orchestrator_run_id}'", max_results=100)

    def run_for(self, orchestrator_run_id: str, experiment: str, name: str, tags: dict[str, str],
                params: dict[str, Any]) -> str:
        """The MLflow run of this orchestrator run in `experiment`, created (named `name`, with tags
        and params) once."""
        exp_id = self._experiment_id(experiment)
        with host_lock(self.uri, experiment):
            found = self._runs_of(exp_id, orchestrator_run_id)
            if found:
                run_id, status = found[0].info.run_id, found[0].info.status
            else:
                created = self.client.create_run(exp_id, tags={RUN_TAG: orchestrator_run_id, RUN_NAME_TAG: name, **tags})
                run_id, status = created.info.run_id, created.info.status
                self.log(run_id, params=params)
        if status == "FINISHED":
            self.client.update_run(run_id, "RUNNING")
        return run_id

    def run_url(self, run_id: str) -> str:
        """The run's page in the MLflow UI, opening on runs (see MODEL_TRAINING_VIEW)."""
        experiment_id = self.client.get_run(run_id).info.experiment_id
        ui = os.environ.get(UI_URL_ENV, "http://127.0.0.1:5000").rstrip("/")
        return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}?{MODEL_TRAINING_VIEW}"

    def log(self, run_id: str, params: dict[str, Any] | None = None, metrics: dict[str, float] | None = None) -> None:
        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        params = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
        metrics = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        for start in range(0, max(len(params), len(metrics)), 100):  # MLflow's batch limit is 100 params
            self.client.log_batch(run_id, metrics=metrics[start:start + 100], params=params[start:start + 100])

    def end(self, run_id: str, status: str) -> None:
        """FINISHED or FAILED, unless already ended that way (a FAILED run is never finished)."""
        current = self.client.get_run(run_id).info.status
        if current == "RUNNING" or (current == "FINISHED" and status == "FAILED"):
            self.client.set_terminated(run_id, status)

    def end_runs_of(self, orchestrator_run_ids: list[str], status: str) -> list[str]:
        """End as `status` (FAILED or KILLED) the MLflow runs of orchestrator runs that failed,
        were interrupted or died: those still RUNNING, and those a step's teardown ended FINISHED
        before the run as a whole failed. A run already FAILED or KILLED keeps its status."""
        assert status in ENDED_BADLY, status
        experiments = [e.experiment_id for e in self.client.search_experiments()]
        ended = []
        for run_id in orchestrator_run_ids:
            for run in self.client.search_runs(experiments, f"tags.{RUN_TAG} = '{run_id}'", max_results=100):
                if run.info.status not in ENDED_BADLY:
                    self.client.set_terminated(run.info.run_id, status)
                    ended.append(run.info.run_id)
        return ended
