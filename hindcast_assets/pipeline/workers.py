"""Worker processes for the independent pieces of one stage partition, so that a hindcast with
two CPUs to itself uses both: the national intervals' inner refits (five per fold) were about
60 % of a hindcast's time, on one core while the other idled (LightGBM and XGBoost fit on one
thread, benchmarks/README.md).

As many workers as the process's thread budget (`cpu_share.budget`: its CPUs, shared with the
other hindcast processes on the host), each limited to one thread, so nothing oversubscribes;
none when the budget is one. Started once per process by loky (fork and exec: a forked child of
a process that has run OpenMP can hang, and multiprocessing's spawn re-runs the main script,
which a user's script without a `__main__` guard does not survive), and given the pieces'
shared inputs once, not per piece. Each
piece is computed as it would be here, on one thread, and pieces come back in order: the results
are the same bytes (tested)."""
from __future__ import annotations

import atexit
import multiprocessing
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from loky import ProcessPoolExecutor

from hindcast_assets.pipeline.cpu_share import budget

ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
_SHARED: tuple = ()  # in a worker: the inputs its pool was started with


def _start_worker(shared: tuple) -> None:
    global _SHARED
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it cancels the pieces and stops us
    import sklearn.ensemble  # noqa: F401 - its OpenMP runtime, loaded now so the limit reaches it
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    _SHARED = shared


def _piece(fn: Callable, item: Any) -> Any:
    return fn(*_SHARED, item)


@dataclass
class _Pool:
    executor: ProcessPoolExecutor
    shared: tuple  # held, so the identities compared below cannot be reused by other objects
    size: int

    def serves(self, shared: tuple, size: int) -> bool:
        return self.size == size and len(self.shared) == len(shared) and all(
            a is b for a, b in zip(self.shared, shared))


_POOL: _Pool | None = None


def _pool(shared: tuple, size: int) -> ProcessPoolExecutor:
    global _POOL
    if _POOL is None or not _POOL.serves(shared, size):
        stop_workers()
        _POOL = _Pool(ProcessPoolExecutor(size, initializer=_start_worker, initargs=(shared,), env=ONE_THREAD),
                      shared, size)
    return _POOL.executor


def stop_workers() -> None:
    """Stop this process's workers, and the pieces they run."""
    global _POOL
    if _POOL is not None:
        _POOL.executor.shutdown(wait=False, kill_workers=True)
        _POOL = None


atexit.register(stop_workers)


def each_on_workers(fn: Callable, items: Iterable, shared: tuple) -> list:
    """`[fn(*shared, item) for item in items]`, on worker processes when the budget allows more
    than one thread and this process is not daemonic (a Celery prefork child is: billiard marks
    it so, tested; it runs its pieces itself).
    `fn` and the items are sent per piece, `shared` once per pool: keep the big inputs there and
    pass the same objects each call. `fn` must be importable by name (a module's function, or a
    `functools.partial` of one)."""
    items, size = list(items), budget()
    if size <= 1 or len(items) <= 1 or multiprocessing.current_process().daemon:
        return [fn(*shared, item) for item in items]
    futures = [_pool(shared, size).submit(_piece, fn, item) for item in items]
    try:
        return [future.result() for future in futures]
    except BaseException:
        stop_workers()
        raise
