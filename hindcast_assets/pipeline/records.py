"""What a stage reports for one partition (files written, rows, metrics and tables), and what a
check stage concludes."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from hindcast_assets.core.rundir import Written
from hindcast_assets.core.severity import Severity


@dataclass
class StageRecord:
    partition: str | None  # fold name, forecast date or None for a whole-run stage
    written: list[Written]
    rows: int
    metrics: dict[str, float] = field(default_factory=dict)  # tracked in MLflow, shown per partition
    events: list[dict] = field(default_factory=list)  # structured training events
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # shown in the UI
    plots: dict[str, bytes] = field(default_factory=dict)  # PNG images shown in the UI
    note: str = ""  # one line of context for the partition (which fold forecast it, ...)
    already_complete: bool = False  # read back from the manifest, not made by this run


@dataclass(frozen=True)
class CheckVerdict:
    """A check stage's conclusion, read from what it wrote: passed, else WARN or ERROR."""

    severity: Severity | None  # None: passed
    description: str
    metadata: dict[str, float | str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.severity is None
