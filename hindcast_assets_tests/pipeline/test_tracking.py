"""MLflow runs per orchestrator run: created once even by parallel processes, ended right."""
from __future__ import annotations

import multiprocessing

from mlflow.tracking import MlflowClient

from hindcast_assets.pipeline.tracking import Tracker, flatten, run_name


def _get_or_create(uri: str, start, queue) -> None:
    tracker = Tracker(uri)
    tracker._experiment_id("exp")  # the store opened, so only the get-or-create itself races
    start.wait()  # every worker asks at the same moment
    queue.put(tracker.run_for("dagster-run-1", "exp", "a name", {"run_dir": "/r"}, {"a": 1}))


def test_parallel_get_or_create_leaves_one_run(isolated_state):
    uri = f"sqlite:///{isolated_state / 'race.db'}"
    Tracker(uri)._experiment_id("exp")  # the store's schema first, as a real run has it
    ctx = multiprocessing.get_context("fork")  # mlflow is imported already: no 5 s start-up per worker
    queue, start = ctx.Queue(), ctx.Barrier(4)
    workers = [ctx.Process(target=_get_or_create, args=(uri, start, queue)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    ids = {queue.get(timeout=5) for _ in workers}
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    assert len(ids) == 1 and [r.info.run_id for r in runs] == list(ids)
    assert runs[0].data.params == {"a": "1"} and runs[0].data.tags["dagster_run_id"] == "dagster-run-1"


def test_a_failed_run_stays_failed_and_a_finished_one_reopens(isolated_state):
    tracker = Tracker(f"sqlite:///{isolated_state / 't.db'}")
    run = tracker.run_for("r1", "exp", "r1", {}, {})
    tracker.end(run, "FINISHED")
    assert tracker.run_for("r1", "exp", "r1", {}, {}) == run and tracker.client.get_run(run).info.status == "RUNNING"
    tracker.end(run, "FAILED")
    tracker.end(run, "FINISHED")
    assert tracker.client.get_run(run).info.status == "FAILED"


def test_failed_or_interrupted_orchestrator_runs_never_end_finished(isolated_state):
    """A step's teardown may end the MLflow run FINISHED before the orchestrator run fails as a
    whole (Ctrl-C between steps): closing the orchestrator run overrides it; FAILED stays FAILED."""
    tracker = Tracker(f"sqlite:///{isolated_state / 't.db'}")
    finished, running, failed, other = (tracker.run_for(r, "exp", r, {}, {}) for r in ("a", "b", "c", "d"))
    tracker.end(finished, "FINISHED")
    tracker.end(failed, "FAILED")
    assert sorted(tracker.end_runs_of(["a", "b", "c"], "KILLED")) == sorted([finished, running])
    status = {r: tracker.client.get_run(r).info.status for r in (finished, running, failed, other)}
    assert status == {finished: "KILLED", running: "KILLED", failed: "FAILED", other: "RUNNING"}


def test_runs_are_named_and_experiments_open_on_their_runs(isolated_state):
    """MLflow 3 opens an experiment without `mlflow.experimentKind` in its GenAI view, where runs are
    not shown; an experiment made before the tag existed gets it on first use."""
    tracker = Tracker(f"sqlite:///{isolated_state / 't.db'}")
    old = tracker.client.create_experiment("old")
    run = tracker.run_for("r1", "new", run_name("corn_usa", "hindcast", "1990…2023", "20261206_014920"), {}, {})
    tracker.run_for("r2", "old", "x", {}, {})
    assert tracker.client.get_run(run).info.run_name == "corn_usa · hindcast · 1990…2023 · 20261206_014920"
    for name in ("new", "old"):
        assert tracker.client.get_experiment_by_name(name).tags["mlflow.experimentKind"] == "custom_model_development"
    assert tracker.client.get_experiment(old).tags["mlflow.experimentKind"] == "custom_model_development"


def test_flatten_gives_dotted_params():
    assert flatten({"model": {"name": "x", "params": {}}, "unit": "t"}) == {"model.name": "x", "model.params": {},
                                                                            "unit": "t"}
