"""Model plugins: every registered model round-trips through its saved bytes; train_one refuses unknown names."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.models import ModelPlugin, TrainedModel, get_plugin, load_model, registry, train_one

# Small, fast parameter overrides for known plugins; others train on their defaults.
FAST = {"lightgbm": {"num_boost_round": 30}, "xgboost": {"num_boost_round": 30}, "hist_gbm": {"max_iter": 30}}


@pytest.fixture(scope="module")
def design() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """A synthetic design: 300 training rows, 60 held-out rows, 4 features and a noisy residual."""
    rng = np.random.default_rng(42)
    n = 360
    features = pd.DataFrame({
        "tavg_jul": rng.normal(24, 2, n), "prcp_jul": rng.gamma(4, 25, n),
        "tmax_aug": rng.normal(30, 3, n), "prcp_jun": rng.gamma(3, 30, n)})
    target = (-3.0 * (features["tavg_jul"] - 24) + 0.05 * (features["prcp_jul"] - 100)
              - 1.5 * np.maximum(features["tmax_aug"] - 32, 0) + rng.normal(0, 1, n))
    return features.iloc[:300], target.iloc[:300], features.iloc[300:].reset_index(drop=True)


def test_registry_finds_the_bundled_plugins():
    plugins = registry()
    assert {"lightgbm", "trend", "xgboost", "ridge", "hist_gbm"} <= set(plugins)
    for name, plugin in plugins.items():
        assert isinstance(plugin, ModelPlugin)
        assert plugin.name == name
        assert plugin.file_name.startswith("model.")


@pytest.mark.parametrize("name", sorted(registry()))
def test_save_and_load_give_identical_predictions(name, design):
    train_x, train_y, test_x = design
    model = train_one(name, train_x, train_y, FAST.get(name, {}))
    assert isinstance(model, TrainedModel) and model.plugin.name == name
    assert model.features == list(train_x.columns)
    expected = model.predict(test_x)
    assert expected.shape == (len(test_x),) and np.isfinite(expected).all()

    data = model.plugin.save(model.estimator)
    assert isinstance(data, bytes) and data
    loaded = load_model(name, data, model.features, model.params)
    np.testing.assert_array_equal(loaded.predict(test_x), expected)
    np.testing.assert_array_equal(loaded.predict(train_x), model.predict(train_x))


@pytest.mark.parametrize("name", sorted(registry()))
def test_predict_selects_features_by_name(name, design):
    train_x, train_y, test_x = design
    model = train_one(name, train_x, train_y, FAST.get(name, {}))
    shuffled = test_x[list(reversed(test_x.columns))].assign(unrelated=1.0)
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(test_x))


def test_params_merge_over_plugin_defaults(design):
    train_x, train_y, _ = design
    model = train_one("lightgbm", train_x, train_y, {"num_boost_round": 5})
    defaults = get_plugin("lightgbm").default_params
    assert model.params == {**defaults, "num_boost_round": 5}
    assert model.estimator.num_trees() == 5
    assert defaults["num_boost_round"] != 5  # the defaults themselves are untouched


def test_lightgbm_learns_the_signal(design):
    train_x, train_y, test_x = design
    model = train_one("lightgbm", train_x, train_y, {})
    hot, cool = test_x.assign(tavg_jul=28.0), test_x.assign(tavg_jul=20.0)
    assert model.predict(hot).mean() < model.predict(cool).mean()


def test_trend_model_predicts_zero_residual(design):
    train_x, train_y, test_x = design
    model = train_one("trend", train_x, train_y, {})
    np.testing.assert_array_equal(model.predict(test_x), np.zeros(len(test_x)))


def test_train_one_unknown_name_lists_known_models(design):
    train_x, train_y, _ = design
    with pytest.raises(KeyError) as excinfo:
        train_one("no_such_model", train_x, train_y, {})
    message = excinfo.value.args[0]
    assert "no_such_model" in message
    for known in registry():
        assert known in message


def test_load_model_unknown_name_raises_key_error():
    with pytest.raises(KeyError, match="no_such_model"):
        load_model("no_such_model", b"", [], {})


@pytest.mark.parametrize("name", sorted(registry()))
def test_the_same_fit_saves_the_same_bytes(name, design):
    """A run_dir refuses different bytes for an artefact, so re-running a fold must reproduce them."""
    train_x, train_y, _ = design
    first, second = (train_one(name, train_x, train_y, FAST.get(name, {})) for _ in range(2))
    assert first.plugin.save(first.estimator) == second.plugin.save(second.estimator)


@pytest.mark.parametrize("name", sorted(registry()))
def test_a_fit_on_one_thread_saves_what_a_fit_on_two_saves(name, design):
    """A process's thread budget follows the CPUs it shares (pipeline/cpu_share.py): the model
    file must not (hist_gbm's bin mapper kept the fit's thread count)."""
    import sklearn.ensemble  # noqa: F401 - its OpenMP runtime loaded before the limits, as in a run
    from threadpoolctl import threadpool_limits

    train_x, train_y, _ = design
    saved = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            model = train_one(name, train_x, train_y, FAST.get(name, {}))
            saved.append((model.plugin.save(model.estimator), model.predict(train_x)))
    assert saved[0][0] == saved[1][0] and np.array_equal(saved[0][1], saved[1][1])


def test_scikit_learn_files_are_not_pickles_and_refuse_untrusted_types(design):
    import io
    import zipfile

    train_x, train_y, _ = design
    model = train_one("hist_gbm", train_x, train_y, FAST["hist_gbm"])
    data = model.plugin.save(model.estimator)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist()[0] == "schema.json"  # a skops archive
    from hindcast_assets.models._sklearn import load_skops

    with pytest.raises(ValueError, match="not trusted: .*TreePredictor"):
        load_skops(data)  # without hist_gbm's allow-list


def test_a_model_spec_runs_its_plugin_on_its_feature_groups_under_its_own_name(design):
    """`compare: {condition: {model: ridge, features: [prcp]}}`: a ridge that sees only the prcp
    columns, named `condition` in predictions and model cards, and read back under that name."""
    from hindcast_assets.config import ModelSpec

    features, target, test = design
    spec = ModelSpec.of("condition", {"model": "ridge", "features": ["prcp"], "alpha": 1.0})
    assert (spec.plugin, spec.features, spec.params) == ("ridge", ("prcp",), {"alpha": 1.0})
    columns = spec.columns(list(features.columns))
    assert columns == ["prcp_jul", "prcp_jun"]
    model = train_one(spec.plugin, features[columns], target, spec.params, alias=spec.name)
    assert model.name == "condition" and model.features == columns
    alone = train_one("ridge", features[columns], target, {"alpha": 1.0})
    np.testing.assert_array_equal(model.predict(test), alone.predict(test))  # the spec only selects columns
    again = load_model("ridge", model.plugin.save(model.estimator), model.features, model.params, "condition")
    assert again.name == "condition" and load_model("ridge", model.plugin.save(model.estimator), columns,
                                                   model.params, "ridge").alias is None


def test_a_scikit_learn_file_names_its_arrays_in_order_and_the_schema_names_only_those(design):
    """skops names arrays after object ids; the saved file renames them 000000.npy... in order
    of first mention, so the bytes do not depend on where the fit's objects lived."""
    import io
    import json
    import re
    import zipfile

    train_x, train_y, _ = design
    model = train_one("hist_gbm", train_x, train_y, FAST["hist_gbm"])
    archive = zipfile.ZipFile(io.BytesIO(model.plugin.save(model.estimator)))
    names = archive.namelist()[1:]
    schema = archive.read("schema.json").decode()
    assert names == [f"{i:06d}.npy" for i in range(len(names))] and len(names) > 10
    mentioned = re.findall(r'"(\d+\.npy)"', schema)
    assert list(dict.fromkeys(mentioned)) == names and json.loads(schema)


def test_the_same_file_is_decoded_once_per_process(design):
    """Readers of one model file share the estimator decoded from it; other bytes decode anew."""
    train_x, train_y, test_x = design
    model = train_one("hist_gbm", train_x, train_y, FAST["hist_gbm"])
    data = model.plugin.save(model.estimator)
    first, again = (load_model("hist_gbm", data, model.features, model.params) for _ in range(2))
    assert first.estimator is again.estimator
    other = train_one("hist_gbm", train_x, train_y, {**FAST["hist_gbm"], "max_iter": 7})
    assert load_model("hist_gbm", other.plugin.save(other.estimator), model.features, {}).estimator is not first.estimator
    np.testing.assert_array_equal(first.predict(test_x), model.predict(test_x))
