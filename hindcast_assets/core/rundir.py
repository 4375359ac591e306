"""The run directory: the only hand-off between stages (DESIGN.md §4).

A run_dir is a local path or an fsspec URL, held as a `UPath`, never a `pathlib.Path`.
Writes are atomic (write aside, then rename) and a run_dir is a record: an artefact once
written is never replaced by different bytes; writing identical bytes again is a no-op.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import pickle
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from upath import UPath
from upath.implementations.local import LocalPath

from hindcast_assets.core.errors import UserError
from hindcast_assets.core.parquet import parquet_bytes, parquet_frame



class ArtefactExistsError(FileExistsError):
    """An artefact is already in the run_dir with different content."""


@dataclass(frozen=True)
class Written:
    """What a write left behind: the path, its content hash and size (for asset metadata)."""

    path: str
    sha256: str
    n_bytes: int


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def folder_hash(path: UPath) -> str:
    """The sha256 of a folder artefact (a zarr store) by its contents: every file's run_dir-relative
    name and bytes, in name order; a value changed inside it changes the hash (a digest the store
    keeps in its own attributes would not: it is rewritten with the values)."""
    digest = hashlib.sha256()
    files = sorted((p for p in path.rglob("*") if p.is_file()), key=lambda p: p.relative_to(path).as_posix())
    for f in files:
        digest.update(f.relative_to(path).as_posix().encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()


class LinkedRunDirError(UserError, OSError):
    """A run_dir with a symbolic link inside: a write through it could land outside the run_dir."""


def _publish(tmp: UPath, path: UPath) -> None:
    """Move a finished temp file into place. Locally a hard link, which fails rather than
    replace a file that appeared meanwhile; on object stores a rename (copy + delete)."""
    if isinstance(tmp, LocalPath):
        os.link(tmp, path)
    else:
        tmp.rename(path)


STAMP_FORMAT = "%Y%m%d_%H%M%S"  # UTC, to the second
_NAME = re.compile(r"(\d{8}_\d{6})_(.+)")


def put_object(path: UPath, data: bytes, exclusive: bool = False) -> str | None:
    """One PUT on an object store: readers see the object whole or not at all, and no rename (a
    copy and a delete there) is paid. `exclusive`: never over an existing object, a
    FileExistsError instead (S3's If-None-Match; a store without exclusive writes is asked first).
    The object's ETag where the store answers one: what a later HEAD reports while it is unchanged."""
    if not exclusive:
        return _etag(path.fs.pipe_file(path.path, data))
    try:
        return _etag(path.fs.pipe_file(path.path, data, mode="create"))
    except (NotImplementedError, TypeError, ValueError):  # no exclusive create on this store
        if path.exists():
            raise FileExistsError(str(path)) from None
        path.write_bytes(data)
        return None


def _etag(response: Any) -> str | None:
    return response.get("ETag") if isinstance(response, dict) else None


def get_object(path: UPath) -> bytes:
    """A file's bytes: on an object store one GET, ranged from byte 0 so that no HEAD asks for
    its size first (as opening it, or a plain `cat_file` on S3, does). FileNotFoundError where
    there is none."""
    if isinstance(path, LocalPath):
        return path.read_bytes()
    try:
        return path.fs.cat_file(path.path, start=0)
    except FileNotFoundError:
        raise
    except OSError:  # an empty object has no byte 0
        return path.fs.cat_file(path.path)


def utc_stamp() -> str:
    """Now as `<YYYYMMDD_HHMMSS>` (UTC): how run_dirs and the folders beside them are named."""
    return dt.datetime.now(dt.timezone.utc).strftime(STAMP_FORMAT)


@dataclass(frozen=True)
class RunDirName:
    """A run_dir's folder name, `<YYYYMMDD_HHMMSS>_<experiment key>`: when it was minted (UTC)
    and whose run it is. The one place the name is made and read."""

    minted: dt.datetime
    experiment_key: str

    @classmethod
    def now(cls, experiment_key: str) -> RunDirName:
        return cls(dt.datetime.now(dt.timezone.utc).replace(microsecond=0), experiment_key)

    @classmethod
    def parse(cls, name: str) -> RunDirName | None:
        """The name's parts, or None for a folder that is no minted run_dir."""
        match = _NAME.fullmatch(name)
        try:
            minted = dt.datetime.strptime(match[1], STAMP_FORMAT) if match else None
        except ValueError:
            return None
        return cls(minted.replace(tzinfo=dt.timezone.utc), match[2]) if minted else None

    @property
    def stamp(self) -> str:
        return self.minted.strftime(STAMP_FORMAT)

    def __str__(self) -> str:
        return f"{self.stamp}_{self.experiment_key}"


class RunDir:
    def __init__(self, root: str | UPath):
        self.root = UPath(str(root).rstrip("/"))

    def __str__(self) -> str:
        return str(self.root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    @classmethod
    def mint(cls, runs_dir: str, experiment_key: str) -> RunDir:
        """A fresh `<YYYYMMDD_HHMMSS>_<key>` folder (UTC), never one another process minted: a
        taken stamp waits for the next second."""
        while True:
            root = UPath(f"{str(runs_dir).rstrip('/')}/{RunDirName.now(experiment_key)}")
            try:
                root.mkdir(parents=True, exist_ok=False)  # atomic: of several minting at once, one wins
                return cls(root)
            except FileExistsError:
                time.sleep(0.2)

    def relative(self, path: str | UPath) -> str:
        """`path` (inside the run_dir) as the manifest names it: relative to the run_dir's root."""
        return str(path)[len(str(self.root)) + 1:]

    # -- atomic, immutable writes -----------------------------------------------------------
    def refuse_links(self, path: UPath) -> None:
        """No folder between the run_dir and `path` (nor `path`) is a symbolic link: writes and
        deletes never follow one out of the run_dir. (Object stores have no links.)"""
        if not isinstance(path, LocalPath) or not path.is_relative_to(self.root):
            return
        here = self.root
        for part in path.relative_to(self.root).parts:
            here = here / part
            self._refuse_link(here)

    def _refuse_link(self, path: str | UPath) -> None:
        if os.path.islink(path):
            raise LinkedRunDirError(f"{path}: is a symbolic link inside run_dir {self.root}; writes never follow "
                                    "links out of a run_dir: replace it with a folder of its own")

    def refuse_any_link(self) -> None:
        """No symbolic link anywhere in the run_dir: checked before a command writes into an existing
        one (resume, forecasts), so it is refused in one line before anything runs."""
        if not isinstance(self.root, LocalPath):
            return
        for folder, dirs, files in os.walk(self.root, followlinks=False):  # never enters a linked folder
            for name in sorted(dirs + files):
                self._refuse_link(os.path.join(folder, name))

    def write_bytes(self, path: UPath, data: bytes) -> Written:
        self.refuse_links(path)
        written = Written(str(path), content_hash(data), len(data))
        if not isinstance(path, LocalPath):
            return self._put_once(path, data, written)
        if path.exists():
            return self._same_as_there(path, written)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(data)
        try:
            _publish(tmp, path)
        except FileExistsError:  # another writer got there first: same rule as above
            return self.write_bytes(path, data)
        finally:
            if tmp.exists():
                tmp.unlink()
        return written

    @staticmethod
    def _same_as_there(path: UPath, written: Written) -> Written:
        if content_hash(path.read_bytes()) == written.sha256:
            return written
        raise ArtefactExistsError(f"{path}: already written with different content; a run_dir is a record, "
                                  "write to a fresh run_dir instead")

    def _put_once(self, path: UPath, data: bytes, written: Written) -> Written:
        """On an object store, one PUT that never replaces an object (`put_object`): no existence
        check or rename is paid per write; an object already there must be the same bytes."""
        try:
            put_object(path, data, exclusive=True)
        except FileExistsError:
            return self._same_as_there(path, written)
        return written

    def write_parquet(self, path: UPath, df: pd.DataFrame) -> Written:
        return self.write_bytes(path, parquet_bytes(df))

    def write_text(self, path: UPath, text: str) -> Written:
        return self.write_bytes(path, text.encode())

    # -- reads (of bytes read once, and checked by the caller) --------------------------------
    @staticmethod
    def parse_parquet(data: bytes) -> pd.DataFrame:
        return parquet_frame(data)

    @staticmethod
    def parse_pickle(data: bytes, path: UPath) -> Any:
        """A detrender or bias corrector, through the allow-list (see `ArtefactUnpickler`)."""
        try:
            return ArtefactUnpickler(io.BytesIO(data)).load()
        except pickle.UnpicklingError as exc:
            raise UnsafeArtefactError(f"{path}: refused to load: {exc}") from None


def remove_tree(path: UPath) -> None:
    """Delete a folder and all below it, locally or on an fsspec store."""
    import shutil

    shutil.rmtree(path) if isinstance(path, LocalPath) else path.fs.rm(path.path, recursive=True)


def remove_orphan_temps(rd: RunDir) -> list[str]:
    """Delete what killed writers left half-done (`.<name>.<hex>.tmp` files and folders); only
    safe while nobody writes the run_dir."""
    removed = []
    for path in sorted(rd.root.rglob(".*.tmp")):
        rd.refuse_links(path)
        if path.exists():
            remove_tree(path) if path.is_dir() else path.unlink()
            removed.append(str(path))
    return removed


class UnsafeArtefactError(UserError, pickle.UnpicklingError):
    """A run_dir pickle that names something outside the allow-list: nothing of it ran."""


# What the project's own pickles hold (protocol 5, frozen dataclasses of floats, dicts and tuples
# of numpy scalars). Pickle can call any importable callable; allowing only these keeps
# `detrender.pkl` and `bias_corrector.pkl` data. (numpy moved `core` to `_core` in 2.0.)
PICKLE_ALLOW_LIST = frozenset({
    ("hindcast_assets.core.detrend", "LinearTrend"),
    ("hindcast_assets.core.bias", "BiasCorrector"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy", "dtype"),
})


class ArtefactUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals, so a crafted pickle fails before any call is made."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in PICKLE_ALLOW_LIST:
            raise pickle.UnpicklingError(f"it references {module}.{name}, which is not on the allow-list "
                                         "(LinearTrend, BiasCorrector, numpy scalars)")
        return super().find_class(module, name)


# -- the experiment's current run_dir ------------------------------------------------------------
# A pointer file per experiment beside its run_dirs, not an artefact: it moves on. UI runs,
# backfills and the sensor write to the run_dir it names; only a launcher moves it.

def current_pointer(runs_dir: str, experiment_key: str) -> UPath:
    return UPath(f"{str(runs_dir).rstrip('/')}/{experiment_key}.current")


def read_current(runs_dir: str, experiment_key: str) -> RunDir | None:
    pointer = current_pointer(runs_dir, experiment_key)
    return RunDir(pointer.read_text().strip()) if pointer.exists() else None


def set_current(runs_dir: str, experiment_key: str, run_dir: RunDir) -> None:
    """Point the experiment at `run_dir`, atomically (write aside, then rename over)."""
    pointer = current_pointer(runs_dir, experiment_key)
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.parent / f".{pointer.name}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(f"{run_dir}\n")
    tmp.rename(pointer)
