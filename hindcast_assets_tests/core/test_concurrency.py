"""Writers at once: minting, publishing a zarr folder, and the run_dir lease, across processes."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from hindcast_assets.core.indices_store import read_indices, write_indices
from hindcast_assets.core.lease import LEASE_FILE, Lease, RunDirLeased, holder
from hindcast_assets.core.rundir import RunDir

CTX = mp.get_context("fork")


def _lined_up(barrier, out, work, arg):
    barrier.wait()
    out.put(work(arg))


def at_once(work, arg, n: int = 4) -> list:
    """`work(arg)` in `n` forked processes released together by a barrier; their results."""
    barrier, out = CTX.Barrier(n), CTX.Queue()
    procs = [CTX.Process(target=_lined_up, args=(barrier, out, work, arg)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * n
    return [out.get(timeout=5) for _ in procs]


def _mint(runs: str) -> str:
    return str(RunDir.mint(runs, "corn_usa"))


def test_minting_from_four_processes_at_once_gives_four_run_dirs(tmp_path):
    runs = tmp_path / "runs"
    minted = set(at_once(_mint, str(runs)))
    assert len(minted) == 4 and sorted(p.name for p in runs.iterdir()) == sorted(os.path.basename(m) for m in minted)


ROWS = pd.DataFrame({"geo_id": ["US-19"] * 3, "date": pd.to_datetime(["2011-05-31", "2011-06-30", "2011-07-31"]),
                     "variable": ["prcp"] * 3, "value": [3.1, 4.2, 2.0]})


def _publish(path: str) -> str:
    return write_indices(RunDir(path).root, ROWS, {"season_year": 2011}).sha256


def test_the_same_zarr_published_by_four_processes_at_once_is_one_folder_and_no_temp(tmp_path):
    target = tmp_path / "forecast" / "indices.zarr"
    target.parent.mkdir()
    assert len(set(at_once(_publish, str(target)))) == 1
    assert [p.name for p in target.parent.iterdir()] == ["indices.zarr"]  # no .tmp left
    frame, attrs = read_indices(RunDir(target).root)
    assert frame.equals(ROWS) and attrs["season_year"] == 2011


def test_a_second_writer_gets_one_clear_error_naming_the_holder(tmp_path):
    rd = RunDir(tmp_path / "run")
    with Lease(rd, "run-a"):
        with pytest.raises(RunDirLeased, match=r"run: being written by run run-a \(pid \d+ on .*, heartbeat 0 s ago\); "
                                               "one writer at a time"):
            Lease(rd, "run-b").acquire()
        Lease(rd, "run-a").acquire()  # the same run (another step process) shares it
    assert not (rd.root / LEASE_FILE).exists()
    with Lease(rd, "run-b"):
        assert holder(rd).run_id == "run-b"


def test_a_lease_left_by_a_killed_process_is_taken_over(tmp_path):
    rd = RunDir(tmp_path / "run")
    code = f"from hindcast_assets.core.lease import Lease; from hindcast_assets.core.rundir import RunDir; " \
           f"import os; Lease(RunDir({str(rd.root)!r}), 'killed').acquire(); os._exit(0)"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert json.loads((rd.root / LEASE_FILE).read_text())["run_id"] == "killed"
    with Lease(rd, "next"):
        assert holder(rd).run_id == "next"


def test_processes_of_one_writer_share_its_lease_and_keep_it_while_any_lives(tmp_path, monkeypatch):
    import hindcast_assets.core.lease as lease

    monkeypatch.setattr(lease, "HEARTBEAT_S", 0.05)
    rd = RunDir(tmp_path / "run")
    code = f"from hindcast_assets.core.lease import Lease; from hindcast_assets.core.rundir import RunDir; " \
           f"import sys; Lease(RunDir({str(rd.root)!r}), 'fanout-1').acquire(); sys.stdin.read()"
    holder_process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        for _ in range(100):  # until the other process holds it
            if holder(rd) is not None:
                break
            time.sleep(0.05)
        first = holder(rd)
        chunk = Lease(rd, "fanout-1").acquire()  # a fold chunk of the same fan-out joins ...
        assert holder(rd) == first  # ... without rewriting the holder's lease
        with pytest.raises(RunDirLeased):
            Lease(rd, "another-run").acquire()
    finally:
        holder_process.kill()  # the holder ends first
        holder_process.wait()
    for _ in range(100):  # the joined process keeps the lease for the writer
        if holder(rd).pid == os.getpid():
            break
        time.sleep(0.05)
    assert holder(rd).run_id == "fanout-1" and holder(rd).pid == os.getpid()
    chunk.release()
