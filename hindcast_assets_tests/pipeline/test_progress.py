"""Progress lines: each partition's time, the stage's and an ETA, a heartbeat while a partition
runs, and heartbeats overwriting one line on a terminal."""
from __future__ import annotations

import io
import logging
import re
import sys
import time

from hindcast_assets.cli import _StderrNow
from hindcast_assets.pipeline.progress import TRANSIENT, StageProgress, duration


def test_durations_read_as_a_person_says_them():
    assert [duration(s) for s in (4.14, 59.9, 82, 3725)] == ["4.1 s", "59.9 s", "1m22s", "1h02m"]


def test_each_partition_line_has_its_time_the_stages_and_what_is_left(caplog):
    progress = StageProgress("corn_usa/inner_national", 3, heartbeat_s=0.05)
    with caplog.at_level(logging.INFO, logger="hindcast_assets.progress"):
        with progress.partition("fold 2009"):
            time.sleep(0.3)
    beats = [r.getMessage() for r in caplog.records if getattr(r, TRANSIENT, False)]
    assert len(beats) >= 3 and beats[0].startswith("corn_usa/inner_national: fold 2009 running, 0.")
    line = progress.finished("(5 blocks)")
    # 0.3 s so far for 1 of 3: about 0.6 s to go
    assert re.fullmatch(r"corn_usa/inner_national: fold 2009 \(1/3, 2 left\) \(5 blocks\) "
                        r"\[0\.3 s; stage 0\.3 s, about 0\.[67] s to go\]", line), line
    with progress.partition("fold 2010"):
        pass
    assert "(2/3, 1 left)" in progress.finished()


def test_a_whole_run_stage_line_has_its_time_only():
    progress = StageProgress("corn_usa/national", 1)
    with progress.partition(""):
        pass
    assert progress.finished() == "corn_usa/national [0.0 s]"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_heartbeats_overwrite_one_line_and_plain_lines_otherwise(monkeypatch):
    handler = _StderrNow()
    handler.setFormatter(logging.Formatter("%(message)s"))

    def emit(stream, *messages):
        monkeypatch.setattr(sys, "stderr", stream)
        for message, transient in messages:
            handler.emit(logging.makeLogRecord({"msg": message, TRANSIENT: transient}))
        return stream.getvalue()

    lines = [("a running, 5.0 s", True), ("a running, 10.0 s", True), ("a: fold 1 (1/1, 0 left) [12 s]", False)]
    assert emit(_Terminal(), *lines) == ("\r\x1b[Ka running, 5.0 s\r\x1b[Ka running, 10.0 s"
                                         "\r\x1b[Ka: fold 1 (1/1, 0 left) [12 s]\n")
    assert emit(io.StringIO(), *lines) == "a running, 5.0 s\na running, 10.0 s\na: fold 1 (1/1, 0 left) [12 s]\n"
