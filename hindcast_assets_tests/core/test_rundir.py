"""RunDir: atomic, immutable writes on local paths and fsspec URLs (DESIGN.md §4)."""
from __future__ import annotations

import datetime as dt
import os
import pickle
import re
import uuid

import numpy as np
import pandas as pd
import pytest
from upath import UPath

from hindcast_assets.core.rundir import ArtefactExistsError, RunDir, RunDirName, UnsafeArtefactError, content_hash
from hindcast_assets.pipeline import store


def _all_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_write_creates_parents_and_leaves_no_temp_files(tmp_path):
    rd = RunDir(str(tmp_path / "run"))
    path = rd.root / "models/corn_usa/2005/model.txt"
    written = rd.write_bytes(path, b"hello")
    assert path.read_bytes() == b"hello"
    assert written.n_bytes == 5 and written.sha256 == content_hash(b"hello") and written.path == str(path)
    rd.write_text(rd.root / "notes.txt", "x")
    rd.write_parquet(rd.root / "preds/corn_usa/2005/p.parquet", pd.DataFrame({"a": [1]}))
    files = _all_files(tmp_path / "run")
    assert files == ["models/corn_usa/2005/model.txt", "notes.txt", "preds/corn_usa/2005/p.parquet"]
    assert not [f for f in files if f.endswith(".tmp") or "/." in f or f.startswith(".")]


def test_identical_bytes_twice_is_a_no_op(tmp_path):
    rd = RunDir(str(tmp_path / "run"))
    path = rd.root / "a.txt"
    first = rd.write_bytes(path, b"same")
    inode = os.stat(str(path)).st_ino
    second = rd.write_bytes(path, b"same")
    assert second == first
    assert os.stat(str(path)).st_ino == inode  # not rewritten via a new temp file
    assert path.read_bytes() == b"same"
    assert _all_files(tmp_path / "run") == ["a.txt"]


def test_identical_dataframe_twice_is_a_no_op(tmp_path):
    rd = RunDir(str(tmp_path / "run"))
    df = pd.DataFrame({"geo_id": ["A", "B"], "x": [1.5, 2.5]})
    path = rd.root / "df.parquet"
    assert rd.write_parquet(path, df) == rd.write_parquet(path, df.copy())


def test_different_bytes_raise_and_keep_the_original(tmp_path):
    rd = RunDir(str(tmp_path / "run"))
    path = rd.root / "a.txt"
    rd.write_bytes(path, b"original")
    with pytest.raises(ArtefactExistsError, match="a.txt"):
        rd.write_bytes(path, b"different")
    assert path.read_bytes() == b"original"
    assert _all_files(tmp_path / "run") == ["a.txt"]
    assert issubclass(ArtefactExistsError, FileExistsError)


def test_the_project_pickles_round_trip_through_the_allow_list(tmp_path):
    from hindcast_assets.core.bias import BiasCorrector
    from hindcast_assets.core.detrend import LinearTrend

    rd = RunDir(str(tmp_path / "run"))
    trend = LinearTrend({"A": 1.0}, {"A": 2.0}, {"A": 3}, 2.0, 1970, tuple(np.array([1990, 1991])))
    corrector = BiasCorrector(0.5, {"A": 0.1}, 10, ("1990",))
    for name, obj in (("d.pkl", trend), ("b.pkl", corrector)):
        rd.write_bytes(rd.root / name, pickle.dumps(obj, protocol=5))
        assert RunDir.parse_pickle((rd.root / name).read_bytes(), rd.root / name) == obj


def test_a_crafted_pickle_runs_nothing_and_names_the_file(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    rd = RunDir(str(tmp_path / "run"))
    path = rd.root / "models/corn_usa/2005/detrender.pkl"
    rd.write_bytes(path, pickle.dumps(Exploit()))
    with pytest.raises(UnsafeArtefactError, match=r"detrender.pkl: refused to load: it references posix.system"):
        RunDir.parse_pickle(path.read_bytes(), path)
    assert not marker.exists()


def test_root_is_a_upath_not_stripped_of_its_scheme(tmp_path):
    rd = RunDir("memory://somewhere/run/")
    assert isinstance(rd.root, UPath)
    assert str(rd) == "memory://somewhere/run"


@pytest.fixture
def memory_run_dir():
    root = f"memory://hindcast-test-{uuid.uuid4().hex}/run"
    yield RunDir(root)
    UPath(root).fs.rm(root, recursive=True)


def test_memory_run_dir_parquet_round_trip(memory_run_dir):
    rd = memory_run_dir
    df = pd.DataFrame({"geo_id": ["A", "B", "C"], "season_year": [2000, 2001, 2002], "v": [1.0, None, 3.0]})
    path = rd.root / "preds/corn_usa/production/train_preds.parquet"
    written = rd.write_parquet(path, df)
    assert written.path.startswith("memory://")
    pd.testing.assert_frame_equal(RunDir.parse_parquet(path.read_bytes()), df)
    names = [p.name for p in path.parent.iterdir()]
    assert names == ["train_preds.parquet"]  # no temp file left beside it


def test_memory_run_dir_is_immutable(memory_run_dir):
    rd = memory_run_dir
    path = rd.root / "config_resolved.yaml"
    rd.write_text(path, "a: 1\n")
    rd.write_text(path, "a: 1\n")
    with pytest.raises(ArtefactExistsError):
        rd.write_text(path, "a: 2\n")
    assert path.read_text() == "a: 1\n"


def test_mint_names_folder_by_utc_stamp_and_key_and_never_reuses_one(tmp_path):
    runs = str(tmp_path / "runs")
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    first = RunDir.mint(runs, "corn_usa")
    second = RunDir.mint(runs, "corn_usa")
    after = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    for rd in (first, second):
        assert rd.root.exists() and rd.root.is_dir()
        assert str(rd.root.parent) == runs
        match = re.fullmatch(r"(\d{8}_\d{6})_corn_usa", rd.root.name)
        assert match, rd.root.name
        assert before <= dt.datetime.strptime(match[1], "%Y%m%d_%H%M%S") <= after  # a UTC stamp
    assert first.root.name != second.root.name
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted([first.root.name, second.root.name])


@pytest.mark.parametrize("name, minted, key", [
    ("20261206_101912_corn_usa", dt.datetime(2026, 12, 6, 10, 19, 12, tzinfo=dt.timezone.utc), "corn_usa"),
    ("20240101_000000_a_b", dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), "a_b"),
])
def test_a_run_dir_name_is_its_mint_time_and_experiment(name, minted, key):
    parsed = RunDirName.parse(name)
    assert (parsed.minted, parsed.experiment_key, str(parsed)) == (minted, key, name)
    assert store.run_stamp(RunDir(f"/runs/{name}")) == name[:15]
    assert store.run_created_at(RunDir(f"/runs/{name}")) == minted.isoformat()


@pytest.mark.parametrize("name", ["20261306_101912_corn_usa", "20261206_101912", "20261206_101912_", "corn_usa",
                                  "2026120_101912_corn_usa", "lifecycle"])
def test_a_folder_that_is_no_minted_run_dir_has_no_run_dir_name(name):
    assert RunDirName.parse(name) is None
    assert store.run_stamp(RunDir(f"/runs/{name}")) == name and store.run_created_at(RunDir(f"/runs/{name}")) == ""


def test_a_minted_run_dir_is_named_by_the_codec(tmp_path):
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rd = RunDir.mint(str(tmp_path), "corn_usa")
    after = dt.datetime.now(dt.timezone.utc)
    name = RunDirName.parse(rd.root.name)
    assert name.experiment_key == "corn_usa" and str(name) == rd.root.name
    assert before <= name.minted <= after  # stamped with the UTC time it was minted at, to the second
