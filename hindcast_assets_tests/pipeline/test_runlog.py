"""Run-record lines on a disk that fills up: never glued to another line, never silently lost."""
from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import resource, signal, sys
from hindcast_assets.pipeline.runlog import _append_local
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit, write() fails with EFBIG, as on a full disk
path, limit = sys.argv[1], int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
try:
    _append_local(path, '{"event": "second", "pad": "' + 'x' * 200 + '"}\\n', "")
except OSError as exc:
    print(exc.errno)
"""


def test_a_line_the_disk_cuts_short_is_taken_back_and_raises(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "first"}\n')
    # the file may grow by 40 bytes only: the second line is cut after 40 of its ~220 bytes
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(path.stat().st_size + 40)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "27"  # EFBIG: the writer is told, the line is not dropped silently
    assert path.read_text() == '{"event": "first"}\n'  # nothing of it left to glue the next line onto


def test_a_line_cut_by_a_kill_is_ended_before_the_next(tmp_path):
    from hindcast_assets.pipeline.runlog import _append_local

    path = tmp_path / "events.jsonl"
    path.write_text('{"event": "first"}\n{"event": "cu')  # what a kill -9 mid-write leaves
    _append_local(str(path), '{"event": "third"}\n', "")
    lines = path.read_text().splitlines()
    assert lines[0] == '{"event": "first"}' and lines[1] == '{"event": "cu' and json.loads(lines[2]) == {"event": "third"}


def test_a_new_file_gets_its_header_once(tmp_path):
    from hindcast_assets.pipeline.runlog import _append_local

    path = tmp_path / "metrics.csv"
    _append_local(str(path), "1,2\n", "a,b\n")
    _append_local(str(path), "3,4\n", "a,b\n")
    assert path.read_text() == "a,b\n1,2\n3,4\n"
