"""How features are named (`tavg_jul`, `prcp_oct_apr`): shared by the config, which lists an
experiment's features (`config.feature_columns`), and the builders in core/features.py, kept
apart from the builders so that the config needs no data code."""
from __future__ import annotations

from collections.abc import Sequence

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
PRESEASON_SUFFIX = "oct_apr"


def monthly_feature_names(variables: Sequence[str], months: Sequence[int]) -> list[str]:
    return [f"{v}_{MONTH_NAMES[m - 1]}" for v in variables for m in months]


def preseason_feature_names(variables: Sequence[str]) -> list[str]:
    return [f"{v}_{PRESEASON_SUFFIX}" for v in variables]
