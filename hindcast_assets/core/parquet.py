"""Parquet to and from bytes and files, through buffers arrow owns, never a Python file object.

pandas hands pyarrow a Python file object for a local path, and `io.BytesIO` is one. One of
arrow's threads can hold the last reference to it past the read; released there while the
interpreter exits, it takes the GIL and aborts the process after the work is done: "terminate
called without an active exception", exit 134 (apache/arrow#34314; a hang in #50482). Seen in
6 of 60 `hindcast run forecast` processes started two at a time (7 Dec 2026). A buffer or file
arrow owns is released without the GIL.
"""
from __future__ import annotations

import fsspec
import pandas as pd
import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem


def parquet_bytes(df: pd.DataFrame, **options) -> bytes:
    """`df` as parquet, its index dropped (`options` as `DataFrame.to_parquet` takes them)."""
    sink = pa.BufferOutputStream()
    df.to_parquet(sink, **{"index": False, **options})
    return sink.getvalue().to_pybytes()


def parquet_frame(data: bytes, columns: list[str] | None = None) -> pd.DataFrame:
    """The frame in parquet `data`, read from a copy arrow owns."""
    sink = pa.BufferOutputStream()
    sink.write(data)
    return pd.read_parquet(pa.BufferReader(sink.getvalue()), columns=columns)


def read_parquet(url: str, columns: list[str] | None = None) -> pd.DataFrame:
    """The parquet file at `url`: a path or any fsspec URL. A local file is opened by arrow
    itself, so only the columns asked for are read (a sensor's tick reads one)."""
    fs, path = fsspec.core.url_to_fs(str(url))
    if isinstance(fs, LocalFileSystem):
        with pa.OSFile(path) as file:
            frame = pd.read_parquet(file, columns=columns)
    else:
        with fs.open(path, "rb") as file:
            frame = parquet_frame(file.read(), columns)
    release_arrow_memory()  # the table is gone once pandas has the frame
    return frame


def release_arrow_memory() -> None:
    """Give the pages of arrow's freed buffers back to the system. Its allocator keeps them (a
    read's table; a frame's zero-copy columns once the frame is dropped): 1.4 of the 2.9 GB a
    process held after reading 10,000 county geos' inputs, under every later peak, since numpy
    allocates elsewhere (benchmarks/README.md)."""
    pa.default_memory_pool().release_unused()


def write_parquet(df: pd.DataFrame, url: str, **options) -> None:
    """`df` as the parquet file at `url` (`options` as `parquet_bytes` takes them)."""
    with fsspec.open(str(url), "wb") as file:
        file.write(parquet_bytes(df, **options))
