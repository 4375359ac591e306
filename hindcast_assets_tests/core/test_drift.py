"""Feature drift by hand: a +3 sd shift is caught, an unshifted sample passes, unknown months are left out."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from hindcast_assets.core.drift import (MIN_VALUES, DriftSummary, drift_markdown, drift_plot_png, drift_severity,
                                        measure_drift)

FEATURES = ["a", "b", "c", "d"]
STAMP = "2024-01-01T00:00:00+00:00"


def _normal(rows: int, seed: int) -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(seed).standard_normal((rows, 4)), columns=FEATURES)


@pytest.fixture
def reference() -> pd.DataFrame:
    return _normal(500, seed=0)


@pytest.fixture
def shifted() -> pd.DataFrame:
    return _normal(40, seed=1).assign(a=lambda f: f["a"] + 3.0, b=lambda f: f["b"] + 3.0)


def test_a_three_sd_shift_on_two_of_four_features_drifts_exactly_those(reference, shifted):
    s = measure_drift(reference, shifted, FEATURES, p_value=0.05, timestamp=STAMP)
    assert (s.n_drifted, s.total, s.dataset_drift_score, s.drift_detected) == (2, 4, 0.5, True)
    assert sorted(s.drifted()) == ["a", "b"]
    assert all(s.p_values[f] < 1e-10 for f in "ab") and all(s.p_values[f] >= 0.05 for f in "cd")
    assert s.not_known == [] and s.timestamp == STAMP


def test_severity_is_by_share_above_each_threshold(reference, shifted):
    s = measure_drift(reference, shifted, FEATURES, p_value=0.05)  # share 0.5
    assert drift_severity(s, warn_share=0.3, error_share=0.4) == "ERROR"
    assert drift_severity(s, warn_share=0.3, error_share=0.6) == "WARN"
    assert drift_severity(s, warn_share=0.5, error_share=0.6) is None  # strictly above: 0.5 is not > 0.5


def test_an_unshifted_sample_passes(reference):
    s = measure_drift(reference, _normal(40, seed=2), FEATURES, p_value=0.05)
    assert (s.n_drifted, s.total, s.drift_detected, s.dataset_drift_score) == (0, 4, False, 0.0)
    assert drift_severity(s, 0.3, 0.6) is None


def test_a_feature_unknown_in_current_is_left_out_of_the_share(reference, shifted):
    current = shifted.assign(d=np.nan, c=[1.0] * (MIN_VALUES - 1) + [np.nan] * (40 - MIN_VALUES + 1))
    s = measure_drift(reference, current, [*FEATURES, "not_a_column"], p_value=0.05)
    assert s.not_known == ["c", "d", "not_a_column"]
    assert (s.total, s.n_drifted, s.dataset_drift_score) == (2, 2, 1.0)
    assert set(s.feature_drift) == set(s.p_values) == {"a", "b"}


def test_nothing_known_is_no_drift_not_a_division_by_zero(reference):
    s = measure_drift(reference, reference.iloc[:0], FEATURES, p_value=0.05)
    assert (s.total, s.dataset_drift_score, s.drift_detected, s.not_known) == (0, 0.0, False, FEATURES)


def test_statistic_and_p_value_are_scipys_on_a_hand_example():
    ref, cur = pd.DataFrame({"x": [1.0, 2, 3, 4, 5, np.nan]}), pd.DataFrame({"x": [6.0, 7, 8, 9, 10]})
    s = measure_drift(ref, cur, ["x"], p_value=0.05)
    assert s.feature_drift["x"] == 1.0  # every current value above every reference value
    assert s.p_values["x"] == pytest.approx(2 / 252)  # exact: 2 of the C(10, 5) = 252 orderings are as extreme
    assert s.p_values["x"] == pytest.approx(ks_2samp([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]).pvalue)
    half = measure_drift(pd.DataFrame({"x": [1.0, 2, 3, 4, 5, 6]}), pd.DataFrame({"x": [4.0, 5, 6, 7, 8, 9]}),
                         ["x"], p_value=0.05)
    assert half.feature_drift["x"] == 0.5 and half.n_drifted == 0  # ref CDF at 3.5 is 1/2, current's 0


def test_summary_round_trips_through_json_and_ignores_unknown_keys(reference, shifted):
    s = measure_drift(reference, shifted, FEATURES, p_value=0.05, timestamp=STAMP).with_report("drift/1990.md")
    d = json.loads(json.dumps(s.to_dict()))
    assert DriftSummary.from_dict({**d, "added_later": 1}) == s
    assert s.report_path == "drift/1990.md" and d["not_known"] == []


def test_markdown_has_the_verdict_and_a_row_per_feature_most_drifted_first(reference, shifted):
    current = shifted.assign(d=np.nan)
    s = measure_drift(reference, current, FEATURES, p_value=0.05)
    text = drift_markdown(s, "Drift 1993", "seasons 1970-1992", "season 1993", warn_share=0.3, error_share=0.6)
    assert "**ERROR**: 2 of 3 features drifted (share 0.67" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "feature" not in line]
    assert [r.split(" | ")[0][2:] for r in rows[:2]] == sorted("ab", key=lambda f: -s.feature_drift[f])
    assert rows[0].endswith("| yes |") and rows[2].startswith("| c |") and rows[2].endswith("| no |")
    assert "Not yet known (excluded): d." in text
    ok = drift_markdown(measure_drift(reference, _normal(40, 2), FEATURES, 0.05), "t", "r", "c", 0.3, 0.6)
    assert "**PASS**: 0 of 4" in ok and "Not yet known (excluded): none." in ok


def test_plot_is_a_png(reference, shifted):
    s = measure_drift(reference, shifted, FEATURES, p_value=0.05)
    assert drift_plot_png(reference, shifted, s, "drift").startswith(b"\x89PNG\r\n\x1a\n")
    empty = measure_drift(reference, shifted.iloc[:0], FEATURES, p_value=0.05)
    assert drift_plot_png(reference, shifted.iloc[:0], empty, "nothing known").startswith(b"\x89PNG")


def test_a_season_level_feature_is_one_observation_ranked_among_the_reference_seasons():
    """A region-wide feature repeats one value over the geos: 8 equal values would make any KS test
    reject, so the season's one value is ranked among the training seasons' instead."""
    from hindcast_assets.core.drift import rank_test

    seasons = np.arange(1986, 2026)  # 40 reference seasons, values 40..79, each over 8 geos
    reference = pd.DataFrame({"season_year": np.repeat(seasons, 8), "cci_jul": np.repeat(seasons - 1946.0, 8)})
    inside = pd.DataFrame({"season_year": 2026, "cci_jul": [60.0] * 8})
    beyond = pd.DataFrame({"season_year": 2026, "cci_jul": [30.0] * 8})
    assert rank_test(np.arange(40.0, 80.0), 30.0) == (0.0, 1 / 41)  # below all 40: (0 + 1) / (40 + 1)
    assert rank_test(np.arange(40.0, 80.0), 60.0) == (21 / 40, 21 / 41)  # 21 at or below, 20 at or above: (20 + 1) / 41
    calm = measure_drift(reference, inside, ["cci_jul"], 0.05, "t", season_level=["cci_jul"])
    hot = measure_drift(reference, beyond, ["cci_jul"], 0.05, "t", season_level=["cci_jul"])
    assert calm.n_drifted == 0 and hot.n_drifted == 1 and hot.p_values["cci_jul"] == 1 / 41
    assert measure_drift(reference, inside, ["cci_jul"], 0.05, "t").n_drifted == 1  # as KS over geos: always
