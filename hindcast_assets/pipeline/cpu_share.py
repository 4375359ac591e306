"""How many threads a process's numeric libraries may use: the CPUs it may run on (its affinity,
and the cgroup's CPU quota where one is set), shared with the other hindcast processes running on
the host at the time. Each process that runs stages registers in a host-wide folder while it
lives, so three hindcasts started together each get a third of the CPUs (at least one thread)
instead of each taking them all: OpenMP threads on a shared core spin (benchmarks/README.md:
a hist_gbm fit took 1.93 s on 2 threads against 1.22 s on 1 while another process held a core).
LightGBM and XGBoost are pinned to one thread by their plugins; this bounds the rest
(scikit-learn's OpenMP, BLAS)."""
from __future__ import annotations

import atexit
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

THREADS_ENV = "HINDCAST_THREADS"  # a fixed budget; 0 leaves the libraries' own defaults
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
SHARE_DIR = Path(tempfile.gettempdir()) / "hindcast-cpu-share"


def usable_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 quota (`quota period`)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    return cpus if quota == "max" else max(1, min(cpus, int(quota) // int(period)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sharing_processes() -> int:
    """Live hindcast processes on this host that run stages, this one included (registered)."""
    folder, mine = SHARE_DIR, SHARE_DIR / str(os.getpid())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not mine.exists():
            mine.touch()
            atexit.register(mine.unlink, missing_ok=True)
        entries = [e for e in folder.iterdir() if e.name.isdigit()]
    except OSError:  # a folder another user made: count this process alone
        return 1
    live = [e for e in entries if _alive(int(e.name))]
    for entry in set(entries) - set(live):
        with suppress(OSError):
            entry.unlink(missing_ok=True)  # a process that died without its atexit
    return max(1, len(live))


def thread_budget() -> int:
    """Threads for this process now: its usable CPUs over the processes sharing them."""
    return max(1, usable_cpus() // sharing_processes())


def budget() -> int:
    """`$HINDCAST_THREADS` where set (0: the libraries' own defaults), else `thread_budget()`."""
    fixed = os.environ.get(THREADS_ENV, "").strip()
    return int(fixed) if fixed.isdigit() else thread_budget()


_CONTROLLER: dict[int, Any] = {}  # len(sys.modules) -> the threadpoolctl controller of the libraries then loaded


def _controller() -> Any:
    """threadpoolctl's view of the loaded numeric libraries, made again only once more modules
    are imported (a native library comes with its module): making it scans every loaded shared
    object, 5 ms a time, paid twice per stage partition before."""
    import sklearn.ensemble  # noqa: F401 - its OpenMP runtime, loaded now, or a stage loading it would miss the limit
    from threadpoolctl import ThreadpoolController

    loaded = len(sys.modules)
    if loaded not in _CONTROLLER:
        _CONTROLLER.clear()
        _CONTROLLER[loaded] = ThreadpoolController()
    return _CONTROLLER[loaded]


@contextmanager
def threads_within_budget() -> Iterator[int | None]:
    """Numeric libraries (OpenMP, BLAS) limited to `thread_budget()` threads inside the block
    (`$HINDCAST_THREADS` where set)."""
    controller = _controller()
    threads = budget()
    if threads == 0:
        yield None
        return
    with controller.limit(limits=threads):
        yield threads
