"""`indices.zarr`: the predictor rows known at an init date, as a small zarr group of columns.

Written aside and moved into place like every artefact; its content hash is kept in the group's
attributes so writing the same rows again is a no-op and different rows are refused. On an
object store there is no folder rename: the arrays are uploaded first and the group's metadata
(`MARKERS`) last, so a folder without them is an upload cut short, never read, and replaced.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import uuid

import numpy as np
import pandas as pd
from upath import UPath
from upath.implementations.local import LocalPath

from hindcast_assets.core.parquet import parquet_bytes
from hindcast_assets.core.rundir import ArtefactExistsError, Written, content_hash, folder_hash

COLUMNS = ("geo_id", "date", "variable", "value")
MARKERS = (".zattrs", ".zgroup")  # the group's metadata: on object stores, written last


def _open(path: UPath, mode: str):
    import zarr

    store = str(path) if isinstance(path, LocalPath) else path.fs.get_mapper(path.path)
    return zarr.open_group(store, mode=mode, zarr_format=2)


def _same_or_refused(path: UPath, digest: str) -> Written:
    if stored_digest(path) == digest:
        return _published(path)
    raise ArtefactExistsError(f"{path}: already written with different content; use a fresh run_dir")


def _published(path: UPath) -> Written:
    """What the manifest records for the store: the sha256 of its files (`folder_hash`), so a value
    changed inside it is caught on read (the digest in its attributes would be rewritten too)."""
    return Written(str(path), folder_hash(path), 0)


def write_indices(path: UPath, rows: pd.DataFrame, attrs: dict) -> Written:
    rows = rows[list(COLUMNS)].reset_index(drop=True)
    digest = content_hash(parquet_bytes(rows) + json.dumps(attrs, sort_keys=True).encode())
    local = isinstance(path, LocalPath)
    if path.exists() and (local or published(path)):
        return _same_or_refused(path, digest)
    if path.exists():
        path.fs.rm(path.path, recursive=True)  # an upload cut short: never published
    staging = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp" if local else UPath(tempfile.mkdtemp()) / path.name
    staging.parent.mkdir(parents=True, exist_ok=True)
    group = _open(staging, "w")
    group.create_array("geo_id", data=rows["geo_id"].to_numpy(str))
    group.create_array("date", data=rows["date"].to_numpy("datetime64[ns]").astype("int64"))
    group.create_array("variable", data=rows["variable"].to_numpy(str))
    group.create_array("value", data=rows["value"].to_numpy(float))
    group.attrs.update({**attrs, "sha256": digest, "date_unit": "ns since epoch"})
    if not local:
        _upload_markers_last(staging, path)
        shutil.rmtree(staging.parent)
        return _published(path)
    try:
        staging.rename(path)  # a folder: fails if another writer published it first
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not path.exists():
            raise
        return _same_or_refused(path, digest)  # that writer's copy: the same rows are a no-op
    return _published(path)


def _upload_markers_last(staging: UPath, path: UPath) -> None:
    """Each object PUT is all-or-nothing; the group's metadata goes up after every array."""
    files = [f for f in staging.rglob("*") if f.is_file()]
    for f in sorted(files, key=lambda f: f.parent == staging and f.name in MARKERS):  # False first
        path.fs.put_file(str(f), f"{path.path}/{f.relative_to(staging).as_posix()}")


def published(path: UPath) -> bool:
    """The folder's group metadata is there: every array before it was uploaded whole."""
    return all((path / marker).exists() for marker in MARKERS)


def stored_digest(path: UPath) -> str | None:
    """The sha256 a published indices store was written with (of its rows and attributes)."""
    return _open(path, "r").attrs.get("sha256")


def read_indices(path: UPath) -> tuple[pd.DataFrame, dict]:
    group = _open(path, "r")
    frame = pd.DataFrame({"geo_id": np.asarray(group["geo_id"][:], str),
                          "date": pd.to_datetime(np.asarray(group["date"][:], "int64")),
                          "variable": np.asarray(group["variable"][:], str),
                          "value": np.asarray(group["value"][:], float)})
    return frame, dict(group.attrs)
