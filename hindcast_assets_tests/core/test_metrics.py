"""Skill metrics against values computed by hand."""
import math

from hindcast_assets.core.metrics import mape, mean_bias, r2, rmse


def test_metrics_match_hand_computed_values_and_drop_nan_pairs():
    actual, predicted = [100.0, 110.0, 120.0, float("nan")], [102.0, 106.0, 120.0, 130.0]
    # errors 2, -4, 0: SSE 20, SST 200 around the mean 110
    assert rmse(actual, predicted) == math.sqrt(20 / 3)
    assert math.isclose(mape(actual, predicted), 100 * (2 / 100 + 4 / 110) / 3)
    assert math.isclose(mean_bias(actual, predicted), -2 / 3)
    assert math.isclose(r2(actual, predicted), 1 - 20 / 200)


def test_r2_is_undefined_when_the_actuals_do_not_vary():
    assert math.isnan(r2([150.0, 150.0, 150.0], [149.0, 151.0, 150.0]))
    assert math.isnan(r2([150.0], [149.0]))
