"""How much a failed check weighs: WARN is shown, ERROR blocks what reads the checked asset
(Dagster's asset check severities, by the same names)."""
from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    WARN = "WARN"
    ERROR = "ERROR"

    @staticmethod
    def worst(severities) -> Severity | None:
        """The heaviest of `severities` (None: passed; None when every one passed)."""
        failed = [s for s in severities if s is not None]
        return max(failed, key=[Severity.WARN, Severity.ERROR].index) if failed else None
