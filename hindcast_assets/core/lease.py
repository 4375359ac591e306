"""A run_dir's lease: one writing run at a time, and a second writer gets one clear error.

`<run_dir>/.lease` holds the owner (the orchestrator run id, host and pid) and a heartbeat that a
daemon thread refreshes every `HEARTBEAT_S`. A lease whose heartbeat is older than `STALE_S`, or
whose owner process on this host is gone (kill -9), is taken over. Several processes may write
one run_dir as one writer: the steps of one run (multiprocess or Celery executor) and the fold
chunks of one fan-out (runs sharing a lease id). A process whose id holds a live lease joins it
without rewriting it, and keeps it alive if the holder ends first.

Locally the lease is written aside and hard-linked into place, which fails if one is there, so
of two writers exactly one gets it and nobody reads half a lease. On an fsspec
store (S3) there is no such create; a writer writes its lease, reads it back and owns it only if
it reads itself, which closes all but a window of one round trip.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass

from upath.implementations.local import LocalPath

from hindcast_assets.core.errors import UserError
from hindcast_assets.core.rundir import RunDir, get_object, put_object

LEASE_FILE = ".lease"
HEARTBEAT_S = 10.0
STALE_S = 60.0


class RunDirLeased(UserError, RuntimeError):
    """Another live run is writing this run_dir."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    pid: int
    heartbeat: float

    def describe(self) -> str:
        return f"run {self.run_id} (pid {self.pid} on {self.host}, heartbeat {time.time() - self.heartbeat:.0f} s ago)"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def holder(rd: RunDir) -> Holder | None:
    path = rd.root / LEASE_FILE
    try:
        return Holder(**json.loads(get_object(path)))  # one GET on an object store, no HEAD first
    except (FileNotFoundError, ValueError, TypeError):
        return None  # none, or a lease cut short while being written: treat as free


def is_live(h: Holder) -> bool:
    if time.time() - h.heartbeat > STALE_S:
        return False
    return h.host != socket.gethostname() or pid_alive(h.pid)


class Lease:
    """Held from `acquire` to `release`; refreshed by a daemon thread meanwhile."""

    def __init__(self, rd: RunDir, run_id: str):
        self.rd, self.run_id = rd, run_id
        self.path = rd.root / LEASE_FILE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owner = False  # this object wrote the lease (else it joined a holder of the same id)

    def _me(self) -> Holder:
        return Holder(self.run_id, socket.gethostname(), os.getpid(), time.time())

    def _write(self, exclusive: bool) -> bool:
        """Write our lease whole (aside, then into place); `exclusive`: only if there is none."""
        data = json.dumps(asdict(self._me())).encode()
        if not isinstance(self.path, LocalPath):
            return self._put(data, exclusive)
        tmp = self.path.parent / f".lease.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_bytes(data)
        try:
            if exclusive:
                os.link(tmp, self.path)  # atomic, and fails if another writer's lease is there
            else:
                tmp.rename(self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _put(self, data: bytes, exclusive: bool) -> bool:
        """On an object store one PUT (`put_object`); the holder read back after an exclusive
        write decides where the store has no exclusive create."""
        try:
            put_object(self.path, data, exclusive)
        except FileExistsError:
            return False
        return True

    def acquire(self) -> Lease:
        """Take the lease, join it (a live lease of our id), or raise RunDirLeased naming the live holder."""
        self.rd.root.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            current = holder(self.rd)
            if current is not None and is_live(current):
                if current.run_id != self.run_id:
                    raise RunDirLeased(f"{self.rd}: being written by {current.describe()}; one writer at a time: "
                                       "wait for it, or use another run_dir")
                self._start_heartbeat()  # another process (or resource) of our writer holds it: join
                return self
            if current is not None:  # stale: take it over
                self.path.unlink(missing_ok=True)
            if self._write(exclusive=True):
                mine = holder(self.rd)
                if mine is not None and mine.run_id == self.run_id:
                    self._owner = True
                    self._start_heartbeat()
                    return self
        raise RunDirLeased(f"{self.rd}: could not take its lease ({self.path}); another writer keeps taking it")

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(HEARTBEAT_S):
                current = holder(self.rd)
                if current is not None and current.run_id != self.run_id:
                    return  # taken over
                if self._owner or current is None or not is_live(current):
                    self._owner = self._write(exclusive=False)  # ours, or the holder of our id ended first

        self._thread = threading.Thread(target=beat, name=f"lease {self.rd}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Remove the lease if this object wrote it (a joiner leaves it to its holder)."""
        self._stop.set()
        current = holder(self.rd)
        if self._owner and current is not None and current.run_id == self.run_id and current.pid == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
