"""Walk-forward folds: a test season is predicted only from seasons strictly before it."""
from __future__ import annotations

import pytest

from hindcast_assets.core.splits import PRODUCTION, walk_forward_fold, walk_forward_splits

SEASONS = list(range(1970, 2016))  # data runs past the last test season, as real data can
TEST_YEARS = list(range(1990, 2012))


def test_fold_names_are_test_years_then_production():
    folds = walk_forward_splits(SEASONS, TEST_YEARS)
    assert [f.name for f in folds] == [str(y) for y in TEST_YEARS] + ["production"]
    assert [f.test_season for f in folds[:-1]] == TEST_YEARS
    assert folds[-1].test_season is None and folds[-1].is_production
    assert not any(f.is_production for f in folds[:-1])


@pytest.mark.parametrize("rolling_window", [None, 5])
def test_training_seasons_strictly_before_the_test_season_for_every_fold(rolling_window):
    for fold in walk_forward_splits(SEASONS, TEST_YEARS, rolling_window):
        if fold.is_production:
            continue
        assert fold.train_seasons, fold
        assert fold.test_season not in fold.train_seasons
        future = [s for s in fold.train_seasons if s >= fold.test_season]
        assert not future, f"fold {fold.name} trains on future seasons {future}"
        assert max(fold.train_seasons) == fold.test_season - 1


def test_expanding_window_trains_on_every_earlier_season():
    fold = walk_forward_fold("1995", SEASONS)
    assert fold.name == "1995" and fold.test_season == 1995
    assert fold.train_seasons == tuple(range(1970, 1995))


def test_rolling_window_keeps_only_the_last_seasons():
    fold = walk_forward_fold("2000", SEASONS, rolling_window=5)
    assert fold.train_seasons == (1995, 1996, 1997, 1998, 1999)
    for f in walk_forward_splits(SEASONS, TEST_YEARS, rolling_window=5)[:-1]:
        assert f.train_seasons == tuple(range(f.test_season - 5, f.test_season))


def test_rolling_window_with_a_gap_keeps_seasons_inside_the_window():
    seasons = [s for s in SEASONS if s != 1997]
    assert walk_forward_fold("2000", seasons, rolling_window=5).train_seasons == (1995, 1996, 1998, 1999)


def test_production_trains_on_all_seasons():
    fold = walk_forward_fold(PRODUCTION, SEASONS)
    assert fold.name == "production" and fold.test_season is None
    assert fold.train_seasons == tuple(SEASONS)
    assert walk_forward_splits(SEASONS, TEST_YEARS)[-1] == fold


def test_production_with_rolling_window_trains_on_the_latest_seasons():
    fold = walk_forward_fold(PRODUCTION, SEASONS, rolling_window=4)
    assert fold.train_seasons == (2012, 2013, 2014, 2015)


def test_unsorted_duplicated_seasons_give_sorted_unique_training_seasons():
    seasons = [2003, 2001, 2001, 2002, 2000, 2004, 2003]
    assert walk_forward_fold("2003", seasons).train_seasons == (2000, 2001, 2002)
    assert walk_forward_fold(PRODUCTION, seasons).train_seasons == (2000, 2001, 2002, 2003, 2004)


def test_first_season_fold_has_no_training_seasons():
    assert walk_forward_fold("1970", SEASONS).train_seasons == ()
