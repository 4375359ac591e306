"""Walk-forward folds: each test season is predicted only from seasons strictly before it."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PRODUCTION = "production"


@dataclass(frozen=True)
class Fold:
    name: str
    train_seasons: tuple[int, ...]
    test_season: int | None  # None for production

    @property
    def is_production(self) -> bool:
        return self.test_season is None


def _window(seasons: Iterable[int], before: int, rolling_window: int | None) -> tuple[int, ...]:
    low = before - rolling_window if rolling_window else None
    return tuple(sorted(int(s) for s in set(seasons) if s < before and (low is None or s >= low)))


def walk_forward_fold(name: str, seasons: Sequence[int], rolling_window: int | None = None) -> Fold:
    """The fold called `name` (a test season year, or `production` = train on every season)."""
    if name == PRODUCTION:
        return Fold(PRODUCTION, _window(seasons, max(seasons) + 1, rolling_window), None)
    test = int(name)
    return Fold(name, _window(seasons, test, rolling_window), test)


def walk_forward_splits(seasons: Sequence[int], test_years: Iterable[int],
                        rolling_window: int | None = None) -> list[Fold]:
    """One fold per test year, then production."""
    names = [str(y) for y in test_years] + [PRODUCTION]
    return [walk_forward_fold(n, seasons, rolling_window) for n in names]
