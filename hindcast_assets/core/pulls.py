"""What every pulled table must be before it is read further: not empty (an empty or cut answer)
and one row per key (a source giving a row twice has a fault we cannot resolve by guessing)."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from hindcast_assets.core.errors import PullError


def unique_rows(frame: pd.DataFrame, source: str, nothing: str, keys: list[str],
                twice: Callable[[pd.Series], str]) -> pd.DataFrame:
    """`frame`, or a PullError naming `source`: `nothing` when it is empty, `twice(row)` for the
    first row whose `keys` came before."""
    if frame.empty:
        raise PullError(f"{source}: {nothing}")
    repeated = frame.duplicated(keys)
    if repeated.any():
        raise PullError(f"{source}: {twice(frame[repeated].iloc[0])}")
    return frame
