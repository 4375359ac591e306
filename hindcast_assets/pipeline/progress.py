"""Progress of a stage over its partitions, for a person waiting on a long run: each partition's
time, the stage's elapsed time and an ETA from the mean so far, and a heartbeat while a partition
runs, so a run is never silent for more than HEARTBEAT_S (a busy machine once kept
`inner_national` quiet for 20 minutes). Lines go to the `hindcast_assets.progress` logger; the
CLI shows them on stderr (heartbeats overwrite one line on a terminal)."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

progress_log = logging.getLogger("hindcast_assets.progress")
HEARTBEAT_S = 5.0
TRANSIENT = "transient"  # a log record's attribute: a heartbeat, shown until the next line replaces it


def duration(seconds: float) -> str:
    """`4.1 s`, `1m22s`, `1h02m`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class StageProgress:
    """One stage's partitions in order: `with progress.partition("fold 2011"): ...`, then
    `progress.finished(note)` for its line."""

    def __init__(self, label: str, total: int, heartbeat_s: float = HEARTBEAT_S):
        self.label, self.total, self.heartbeat_s = label, total, heartbeat_s
        self.started, self.done, self.what, self.last_s = time.monotonic(), 0, "", 0.0

    @contextmanager
    def partition(self, what: str) -> Iterator[None]:
        """Runs one partition (`what`: 'fold 2011', or '' for a whole-run stage), with a heartbeat."""
        self.what, start, stop = what, time.monotonic(), threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_s):
                where = f" {what}" if what else ""
                progress_log.info(f"{self.label}:{where} running, {duration(time.monotonic() - start)}",
                                  extra={TRANSIENT: True})

        thread = threading.Thread(target=beat, name=f"progress {self.label}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.last_s = time.monotonic() - start

    def finished(self, note: str = "") -> str:
        """The line for the partition just run: its time, the stage's, and what is left."""
        self.done += 1
        if not self.what:  # a whole-run stage
            return f"{self.label} {note}".rstrip() + f" [{duration(self.last_s)}]"
        elapsed, left = time.monotonic() - self.started, self.total - self.done
        eta = f", about {duration(elapsed / self.done * left)} to go" if left else ""
        return (f"{self.label}: {self.what} ({self.done}/{self.total}, {left} left) {note}".rstrip()
                + f" [{duration(self.last_s)}; stage {duration(elapsed)}{eta}]")
