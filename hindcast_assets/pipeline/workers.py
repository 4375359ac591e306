"""Worker processes for the independent pieces of one stage partition, so that a hindcast with
two CPUs to itself uses both: the national intervals' inner refits (five per fold) were about
60 % of a hindcast's time, on one core while the other idled (LightGBM and XGBoost fit on one
thread, benchmarks/README.md), and a fold's base models. A stage may start the next
partition's pieces behind its own (`run_in_turn`), so no worker idles while a partition's last
piece runs.

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
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial
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
            _same(a, b) for a, b in zip(self.shared, shared))


def _same(held: Any, given: Any) -> bool:
    """A shared input the workers hold serves for `given`: the same object, or an equal config or
    list of names (each Dagster step opens the run_dir afresh and reads them anew; a new pool per
    stage cost a worker start, about 2 s). Anything else, frames above all, by identity only."""
    from pydantic import BaseModel

    if held is given:
        return True
    names = isinstance(held, (list, tuple)) and all(isinstance(x, str) for x in held)
    return type(held) is type(given) and (isinstance(held, BaseModel) or names) and held == given


_POOL: _Pool | None = None
_AHEAD: dict[Hashable, Future] = {}  # pieces started for the partition this process runs next
_UPCOMING: ContextVar[Any] = ContextVar("upcoming_partition", default=None)


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
    _AHEAD.clear()
    if _POOL is not None:
        _POOL.executor.shutdown(wait=False, kill_workers=True)
        _POOL = None


@contextmanager
def running_before(partition: Any) -> Iterator[None]:
    """Inside: this process runs `partition` of the same stage next (None: nothing), so a stage
    may start that partition's pieces now (`each_on_workers(ahead=...)`): a fold's last pieces
    then share the workers with the next fold's first ones instead of leaving one idle."""
    token = _UPCOMING.set(partition)
    try:
        yield
    finally:
        _UPCOMING.reset(token)


def upcoming_partition() -> Any:
    """The partition this process runs after the current one (`running_before`), or None."""
    return _UPCOMING.get()


def run_in_turn(partitions: Iterable, run: Callable[[Any], Any]) -> list:
    """`[run(p) for p in partitions]`, each knowing the one after it (`running_before`); what
    was started for a partition that did not come is dropped at the end."""
    partitions = list(partitions)
    try:
        out = []
        for partition, after in zip(partitions, [*partitions[1:], None]):
            with running_before(after):
                out.append(run(partition))
        return out
    finally:
        forget_ahead()


def forget_ahead() -> None:
    """Drop the pieces started for a partition that did not come (copied from another run_dir,
    or the stage ended): those not begun are cancelled."""
    for future in _AHEAD.values():
        future.cancel()
    _AHEAD.clear()


def _key(fn: Callable, item: Any) -> Hashable:
    """A piece's identity: its function (a partial's function and arguments) and its item."""
    if isinstance(fn, partial):
        return fn.func, fn.args, tuple(sorted(fn.keywords.items())), item
    return fn, item


atexit.register(stop_workers)


def each_on_workers(fn: Callable, items: Iterable, shared: tuple,
                    ahead: tuple[Callable, Iterable] | None = None) -> list:
    """`[fn(*shared, item) for item in items]`, on worker processes when the budget allows more
    than one thread and this process is not daemonic (a Celery prefork child is: billiard marks
    it so, tested; it runs its pieces itself).
    `fn` and the items are sent per piece, `shared` once per pool: keep the big inputs there and
    pass the same objects each call. `fn` must be importable by name (a module's function, or a
    `functools.partial` of one). `ahead`: the next call's `(fn, items)`, started behind these
    (items must be hashable); that call then takes their results."""
    items, size = list(items), budget()
    if size <= 1 or len(items) <= 1 or multiprocessing.current_process().daemon:
        return [fn(*shared, item) for item in items]
    pool = _pool(shared, size)
    futures = [_AHEAD.pop(_key(fn, item), None) or pool.submit(_piece, fn, item) for item in items]
    if ahead is not None:
        later, later_items = ahead[0], list(ahead[1])
        if len(later_items) > 1:
            for key, item in ((_key(later, item), item) for item in later_items):
                if key not in _AHEAD:  # started once, however often a partition asks ahead for it
                    _AHEAD[key] = pool.submit(_piece, later, item)
    try:
        return [future.result() for future in futures]
    except BaseException:
        stop_workers()
        raise
