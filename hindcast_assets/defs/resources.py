"""Resources shared by every experiment: which run_dir to write, and MLflow tracking."""
from __future__ import annotations

from typing import Any

from dagster import ConfigurableResource, HookContext, InitResourceContext, failure_hook
from pydantic import Field, PrivateAttr
from upath import UPath

from hindcast_assets.core.rundir import RunDir
from hindcast_assets.paths import default_runs_dir, mlflow_tracking_uri


def current_pointer(runs_dir: str, experiment_key: str) -> UPath:
    """The file naming an experiment's current run_dir (set when a hindcast completes)."""
    return UPath(f"{runs_dir.rstrip('/')}/{experiment_key}.current")


def read_current(runs_dir: str, experiment_key: str) -> str | None:
    pointer = current_pointer(runs_dir, experiment_key)
    return pointer.read_text().strip() if pointer.exists() else None


def set_current(runs_dir: str, experiment_key: str, run_dir: RunDir) -> None:
    """Point the experiment at `run_dir` (a pointer, not an artefact: it may move on)."""
    pointer = current_pointer(runs_dir, experiment_key)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.parent / f".{pointer.name}.tmp"
    tmp.write_text(f"{run_dir}\n")
    tmp.rename(pointer)


class RunDirResource(ConfigurableResource):
    """Where materialisations write. The CLI sets `run_dir`; left empty (UI, backfills, sensors)
    it is the experiment's current run_dir, minted and made current if there is none yet."""

    run_dir: str = Field("", description="run_dir to write to; empty = the experiment's current run_dir")
    runs_dir: str = Field("", description="folder of run_dirs and current pointers; empty = ${INPUT_DATA_DIR}/runs")

    def _runs_dir(self) -> str:
        return self.runs_dir or default_runs_dir()

    def for_experiment(self, experiment_key: str) -> RunDir:
        if self.run_dir:
            return RunDir(self.run_dir)
        current = read_current(self._runs_dir(), experiment_key)
        if current:
            return RunDir(current)
        run_dir = RunDir.mint(self._runs_dir(), experiment_key)
        set_current(self._runs_dir(), experiment_key, run_dir)
        return run_dir


class MlflowTracking(ConfigurableResource):
    """One MLflow run per Dagster run and experiment, always ended.

    Our own small resource rather than dagster-mlflow's: its experiment name is fixed per
    resource (one code location here hosts several experiments), it keeps a process-global
    active run (several runs in one process merge), and its end hook fires only at the job's
    last node, which a partial or subset run may never reach (the MLflow run stays RUNNING).
    This one uses explicit run ids through `MlflowClient`, ends its runs at teardown, and
    `mlflow_failure_hook` marks them FAILED.
    """

    tracking_uri: str = Field("", description="MLflow tracking URI; empty = the project's sqlite store")
    _runs: dict[str, str] = PrivateAttr(default_factory=dict)
    _client: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._runs = {}

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        for run_id in self._runs.values():
            if self.client().get_run(run_id).info.status == "RUNNING":
                self.client().set_terminated(run_id, "FINISHED")

    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient  # lazy: mlflow costs ~3 s to import

            self._client = MlflowClient(self.tracking_uri or mlflow_tracking_uri())
        return self._client

    def run_id(self, dagster_run_id: str, experiment: str, tags: dict[str, str] | None = None) -> str:
        """The MLflow run of this Dagster run in `experiment`, created on first use."""
        if experiment in self._runs:
            return self._runs[experiment]
        client = self.client()
        exp = client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
        found = client.search_runs([exp_id], f"tags.dagster_run_id = '{dagster_run_id}'", max_results=1)
        if found:
            run_id = found[0].info.run_id
            client.update_run(run_id, "RUNNING")
        else:
            run_id = client.create_run(exp_id, tags={"dagster_run_id": dagster_run_id, **(tags or {})}).info.run_id
        self._runs[experiment] = run_id
        return run_id

    def log(self, run_id: str, params: dict[str, Any] | None = None, metrics: dict[str, float] | None = None,
            tags: dict[str, str] | None = None, step: int = 0) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = _now_ms()
        self.client().log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def fail_runs_of(self, dagster_run_id: str) -> None:
        client = self.client()
        for exp in client.search_experiments():
            for run in client.search_runs([exp.experiment_id], f"tags.dagster_run_id = '{dagster_run_id}'"):
                if run.info.status == "RUNNING":
                    client.set_terminated(run.info.run_id, "FAILED")


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


@failure_hook(required_resource_keys={"mlflow"})
def mlflow_failure_hook(context: HookContext) -> None:
    """A failed step fails the MLflow run of its Dagster run (never left RUNNING)."""
    context.resources.mlflow.fail_runs_of(context.run_id)
