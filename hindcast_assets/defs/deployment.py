"""Where a run's steps execute, chosen in one place for every deployment profile (the instance
is chosen in `instance.py`). In-process by default (DESIGN.md §8: a process per step cost ~40 s
per forecast run); `HINDCAST_EXECUTOR=multiprocess` opts into Dagster's multiprocess executor,
`celery` sends every step to Celery workers (`defs/celery.py`, `make workers`), `k8s` runs each
step as a Kubernetes Job (`deploy/k8s`)."""
from __future__ import annotations

import functools
import os
from enum import StrEnum

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

from hindcast_assets.core.errors import UserError

EXECUTOR_ENV = "HINDCAST_EXECUTOR"


class Executor(StrEnum):
    IN_PROCESS = "in_process"
    MULTIPROCESS = "multiprocess"
    CELERY = "celery"
    K8S = "k8s"

    @classmethod
    def named(cls, name: str | None = None) -> Executor:
        """`name`, else `$HINDCAST_EXECUTOR`, else in_process; one line naming the choices if unknown."""
        name = name or os.environ.get(EXECUTOR_ENV) or cls.IN_PROCESS.value
        try:
            return cls(name)
        except ValueError:
            raise UserError(f"{EXECUTOR_ENV}={name!r}: expected one of {', '.join(e.value for e in cls)}") from None

    def definition(self) -> ExecutorDefinition:
        """Its Dagster executor (one object per process: experiments merged into one code
        location must share it)."""
        return _definition(self)


@functools.cache
def _definition(executor: Executor) -> ExecutorDefinition:
    if executor is Executor.CELERY:
        from hindcast_assets.defs.celery import celery_steps  # dagster-celery only where it is used

        return celery_steps()
    if executor is Executor.K8S:  # a pod per step, on a cluster (deploy/k8s)
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    return in_process_executor if executor is Executor.IN_PROCESS else multiprocess_executor
