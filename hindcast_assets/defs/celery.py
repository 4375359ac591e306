"""Steps on Celery workers (dagster-celery): RabbitMQ is the broker, Redis the result backend.

Why both: RabbitMQ holds a task until its worker acknowledges it, and acknowledging only after
the step (`task_acks_late`) means a worker killed mid-step has its step redelivered to another
worker; Redis keeps each step's result under its task id until the run collects it (the rpc://
default hands it to one client connection only). The executor and the workers read the same
settings below, so they cannot disagree. `make workers` starts two workers (`WorkerPool`):
`celery -A hindcast_assets.defs.celery worker --concurrency 1 --queues hindcast ...` each.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster_celery.core_execution_loop
from celery.signals import worker_init
from dagster_celery import celery_executor
from dagster_celery.executor import CeleryExecutor
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

BROKER, BACKEND = "amqp://guest:guest@127.0.0.1:5672//", "redis://127.0.0.1:6379/0"
# A run polls its steps' results and submits the next ones once per tick (1 s in dagster-celery):
# along a chain of steps that is half a second lost per step. A tick is one Redis GET per step
# under way, so a tenth of a second costs nothing measurable.
dagster_celery.core_execution_loop.TICK_SECONDS = 0.1


def settings() -> dict:
    """The celery executor's config: `HINDCAST_CELERY_BROKER`, `_BACKEND` and `_QUEUE` override."""
    return {"broker": os.environ.get("HINDCAST_CELERY_BROKER", BROKER),
            "backend": os.environ.get("HINDCAST_CELERY_BACKEND", BACKEND),
            "config_source": {"task_default_queue": queue(), "task_acks_late": True,
                              "task_reject_on_worker_lost": True, "worker_prefetch_multiplier": 1,
                              "result_expires": 7 * 24 * 3600}}


def queue() -> str:
    return os.environ.get("HINDCAST_CELERY_QUEUE", "hindcast")


def celery_steps():
    """The celery executor, configured (retries: a step's own RetryRequested still applies)."""
    return celery_executor.configured(settings(), name="celery")


app = make_app(CeleryExecutor.for_cli(**settings()).app_args())  # what the workers serve (-A this module)
execute_plan = create_task(app)


@worker_init.connect
def _import_once(**_) -> None:
    """A worker imports what every step needs (the code location, MLflow, the model libraries)
    when it starts, not in its first step: a worker is a standing service, its steps are not."""
    import hindcast_assets.defs.assets  # noqa: F401  (and with it the stage table, pandas, the model plugins)
    import mlflow.tracking  # noqa: F401


class WorkerPool:
    """Celery worker processes on this host, one step at a time each, serving `queue_name`; each
    is its own process group, so one can be killed whole, as a lost machine would be. Used by
    `make workers`, the tests and the benchmarks."""

    def __init__(self, queue_name: str | None = None, log_dir: str | None = None, env: dict | None = None):
        """`env`: the workers' environment (default ours); it must name the same instance
        (`DAGSTER_HOME`, `DAGSTER_PG_URL`) as the runs whose steps they take."""
        self.queue = queue_name or queue()
        self.log_dir, self.env, self.processes = log_dir, env, {}

    def nodename(self, name: str) -> str:
        """`<name>.<queue>`: unique on the broker (two workers of one name would fight over its control queue)."""
        return f"{name}.{self.queue}"

    def command(self, name: str) -> list[str]:
        return [str(Path(sys.executable).parent / "celery"), "-A", __name__, "worker", "--concurrency", "1",
                "--queues", self.queue, "--hostname", f"{self.nodename(name)}@%h", "--loglevel", "INFO",
                "--without-mingle", "--without-gossip"]

    def start(self, *names: str) -> WorkerPool:
        for name in names:
            log = open(Path(self.log_dir) / f"{name}.log", "w") if self.log_dir else None
            self.processes[name] = subprocess.Popen(self.command(name), stdout=log, stderr=subprocess.STDOUT if log
                                                    else None, start_new_session=True, env=self.env)
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            replies = app.control.ping(timeout=1)
            if {node.split("@")[0] for reply in replies for node in reply} >= set(map(self.nodename, self.processes)):
                return
        raise TimeoutError(f"celery workers {sorted(self.processes)} did not answer in {timeout:.0f} s")

    def kill(self, name: str) -> None:
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes.pop(name).wait()

    def stop(self, delete_queue: bool = True) -> None:
        for name in list(self.processes):
            self.kill(name)
        if delete_queue:
            with app.connection_for_write() as connection:
                connection.default_channel.queue_delete(self.queue)


def main(argv: list[str] | None = None) -> None:
    """`make workers`: WORKERS workers in the foreground until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--workers", type=int, default=2)
    count = parser.parse_args(argv).workers
    pool = WorkerPool().start(*(f"w{i}" for i in range(1, count + 1)))
    try:
        pool.wait_ready()
        print(f"{count} Celery workers serve queue {pool.queue} on {settings()['broker']}; Ctrl-C stops them",
              file=sys.stderr, flush=True)
        for process in pool.processes.values():
            process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        pool.stop(delete_queue=False)


if __name__ == "__main__":
    main()
