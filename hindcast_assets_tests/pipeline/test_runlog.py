"""Run records: lines on a disk that fills up (never glued to another line, never silently lost),
and a step's records on an object store (written whole when it ends)."""
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


def test_on_an_object_store_a_steps_records_land_whole_when_it_ends_even_by_failing(tmp_path, input_dir):
    """A memory:// run_dir (an fsspec store, as S3 is): inside `records_batched` the stored
    manifest and event log do not change; when the block ends by an error, the partition that
    finished is recorded complete and the failed one is not, with both their events."""
    import uuid

    import pytest
    from upath import UPath

    from hindcast_assets.config import load_config
    from hindcast_assets.core.rundir import RunDir
    from hindcast_assets.pipeline import store
    from hindcast_assets.pipeline.records import StageRecord
    from hindcast_assets.pipeline.runlog import RunIds, open_run_dir, read_events, records_batched, run_recorded
    from hindcast_assets.pipeline.store import RunDirView
    from hindcast_assets.pipeline.table import Partitioning, Stage
    from hindcast_assets_tests.conftest import write_config

    cfg = load_config(write_config(tmp_path, model={"name": "trend", "params": {}}, compare={}, ensembles={}))
    rd = RunDir(f"memory://batched-{uuid.uuid4().hex}/run")
    open_run_dir(rd, cfg, "hindcast", [], [])
    stored = lambda: json.loads(UPath(str(rd.root / store.MANIFEST_FILE)).read_text())  # noqa: E731

    def writes(view, _):
        return StageRecord(None, [view.run_dir.write_bytes(view.run_dir.root / "made.txt", b"made")], 1)

    def fails(view, _):
        raise RuntimeError("a stage that fails")

    made, failing = (Stage(name, Partitioning.NONE, run, (), "") for name, run in (("made", writes), ("failing", fails)))
    view, ids = RunDirView(rd, launched_with=cfg), RunIds.plain()
    before = stored()
    with pytest.raises(RuntimeError, match="a stage that fails"):
        with records_batched(rd):
            run_recorded(view, made, None, ids)
            assert stored() == before and not (rd.root / store.EVENTS_FILE).exists()
            run_recorded(view, failing, None, ids)
    after = stored()
    assert set(after["completed"]) == {"made"} and [a["path"] for a in after["artefacts"]] == ["made.txt"]
    assert [(e["task"], e["status"]) for e in read_events(rd)] == [
        ("made", "started"), ("made", "success"), ("failing", "started"), ("failing", "failed")]
    UPath(str(rd.root)).fs.rm(str(rd.root), recursive=True)


def test_the_manifest_is_the_same_json_with_one_entry_per_line():
    from hindcast_assets.pipeline.runlog import manifest_text

    fields = {"job": "hindcast", "plan": ["config_resolved", "model[2010]"], "inputs": {},
              "completed": {"model[2010]": {"outputs": ["models/a/2010/model.txt"], "metrics": {"rmse": 1.5},
                                            "note": "a \"quoted\", odd\nnote"}},
              "artefacts": [{"path": "models/a/2010/model.txt", "sha256": "ab"}, {"path": "p,]\n", "sha256": "cd"}],
              "reuse": True}
    text = manifest_text(fields)
    assert json.loads(text) == fields
    assert text.splitlines() == [
        "{", ' "job": "hindcast",', ' "plan": [', '  "config_resolved",', '  "model[2010]"', " ],", ' "inputs": {},',
        ' "completed": {',
        '  "model[2010]": {"outputs": ["models/a/2010/model.txt"], "metrics": {"rmse": 1.5}, '
        '"note": "a \\"quoted\\", odd\\nnote"}', " },",
        ' "artefacts": [', '  {"path": "models/a/2010/model.txt", "sha256": "ab"},', '  {"path": "p,]\\n", "sha256": "cd"}',
        " ],", ' "reuse": true', "}"]
