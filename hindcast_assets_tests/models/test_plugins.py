"""New models by dropping one file or through an entry point, trained once per fold, composed
by ensembles, reported by the hindcast; bad plugins and names fail at config load."""
from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint

import pandas as pd
import pytest
from dagster import DagsterInstance

import hindcast_assets.models as models
from hindcast_assets.config import ConfigError, load_config
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.pipeline.cpu_share import THREADS_ENV
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.launch.hindcast import run_experiment
from hindcast_assets_tests.conftest import TEST_INNER, write_config as corn_usa_config
from hindcast_assets_tests.tiny import write_config
from hindcast_assets_tests.models import third_party_plugin

DROP_IN = '''"""Median of the training residuals (a test's drop-in model)."""
import json

import numpy as np

from hindcast_assets.models import ModelPlugin

PLUGIN = ModelPlugin(
    name="median_residual",
    fit=lambda features, target, params: {"median": float(np.median(target))},
    predict=lambda est, features: np.full(len(features), est["median"]),
    save=lambda est: json.dumps(est).encode(),
    load=lambda data: json.loads(data),
    file_name="model.json",
)
'''
ENTRY_POINT = EntryPoint("shrunk_mean", "hindcast_assets_tests.models.third_party_plugin:PLUGIN",
                         models.ENTRY_POINT_GROUP)


@pytest.fixture
def extra_models(monkeypatch, tmp_path):
    """One model dropped in as a file of the models package (a folder added to the package's
    path, so no test writes into the installed package), one from a (monkeypatched) entry point."""
    folder = tmp_path / "dropped_in_models"
    folder.mkdir()
    (folder / "zz_test_median_residual.py").write_text(DROP_IN)
    monkeypatch.setattr(models, "__path__", [*models.__path__, str(folder)])
    monkeypatch.setattr(models, "entry_points", lambda group: [ENTRY_POINT] if group == ENTRY_POINT_GROUP else [])
    monkeypatch.setenv(THREADS_ENV, "1")  # both patches live in this process only: no worker processes
    models.registry.cache_clear()
    third_party_plugin.FITS.clear()
    yield
    sys.modules.pop(f"{models.__name__}.zz_test_median_residual", None)
    models.registry.cache_clear()


ENTRY_POINT_GROUP = models.ENTRY_POINT_GROUP


@pytest.mark.long_running
def test_dropped_in_and_entry_point_models_are_trained_saved_and_reported(tmp_path, tiny_input_dir, extra_models):
    assert {"median_residual", "shrunk_mean"} <= set(models.registry())
    config = write_config(tmp_path, hindcast={"first_test_year": 2009, "last_test_year": 2011},
                          model={"name": "pair"}, compare={"median_residual": {}, "shrunk_mean": {"shrink": 0.25}},
                          ensembles={"pair": {"method": "blend_avg", "members": ["median_residual", "shrunk_mean"]},
                                     "stacked": {"method": "stack_ridge", "members": ["shrunk_mean", "lightgbm"],
                                                 "min_folds": 2}})
    outcome = run_experiment(load_config(config), "hindcast", str(tmp_path / "runs"))
    rd: RunDir = outcome.run_dir
    for name in ["median_residual", "shrunk_mean", "lightgbm", "pair", "stacked"]:
        assert (rd.root / "models/corn_usa/2011" / name / "model_card.json").exists()
        assert (rd.root / "preds/corn_usa/2011" / name / "walk_forward_preds.parquet").exists()
    assert json.loads((rd.root / "models/corn_usa/2010" / "shrunk_mean" / "model.json").read_text())["mean"] != 0
    # base models are fitted once per fold although two ensembles use shrunk_mean: 4 folds, 4 fits,
    # and the experiment's model (pair: shrunk_mean and trend) once per inner refit (4 folds x 2) and
    # once per warm-up season (2004-2008)
    assert len(third_party_plugin.FITS) == 4 + 4 * TEST_INNER["inner_blocks"] + 5
    pair = json.loads((rd.root / "models/corn_usa/2011" / "model.json").read_text())
    assert pair["method"] == "blend_avg" and pair["weights"] == [0.5, 0.5]
    stacked = json.loads((rd.root / "models/corn_usa/2011" / "stacked" / "model.json").read_text())
    assert stacked["n_calibration_rows"] > 0  # fitted on folds 2009-2010 (min_folds 2)
    comparison = pd.read_csv(rd.root / "reports" / "model_comparison.csv").set_index("model")
    assert {"median_residual", "shrunk_mean", "lightgbm", "pair", "stacked", "trend (baseline)"} <= set(comparison.index)
    assert bool(comparison.loc["pair", "primary"])
    shown = ExperimentResult.from_run_dir(rd).describe()
    assert "2011       pair (blend_avg of median_residual, shrunk_mean) trained on 1975-2010 (36 seasons)" in shown


def test_every_model_emits_the_same_training_events(tmp_path, tiny_input_dir, extra_models):
    config = write_config(tmp_path, hindcast={"first_test_year": 2011, "last_test_year": 2011},
                          compare={name: {} for name in models.registry()})  # built in, dropped in, by entry point
    cfg = load_config(config)
    outcome = run_experiment(cfg, "fit-production", str(tmp_path / "runs"))
    logs = DagsterInstance.get().all_logs(outcome.dagster_run_id)
    lines = [line for e in logs for line in e.user_message.splitlines()]  # a fold's events: JSON lines
    events = [json.loads(line) for line in lines if line.startswith('{"event"')]
    complete = [e for e in events if e["event"] == "training_complete"]
    assert sorted(e["model"] for e in complete) == sorted(cfg.base_models) == sorted(models.registry())
    assert len({tuple(sorted(e)) for e in complete}) == 1  # identical fields for every model
    assert set(complete[0]) == {"event", "experiment", "fold", "model", "n_rows", "n_features", "seconds", "metrics"}
    assert [e["event"] for e in events].count("training_started") == len(complete)


def _config_error(tmp_path, **overrides) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(corn_usa_config(tmp_path, **overrides))
    return str(err.value)


def test_unknown_names_fail_at_config_load(tmp_path):
    assert "compare.nope: unknown model 'nope'" in _config_error(tmp_path, compare={"nope": {}})
    message = _config_error(tmp_path, ensembles={"e": {"method": "blend_avg", "members": ["lightgbm", "ghost"]}})
    assert "ensembles.e.members[1]: unregistered model 'ghost'" in message
    assert "ensembles.e.method" in _config_error(tmp_path, ensembles={"e": {"method": "vote", "members": ["a", "b"]}})
    assert "model.name: unknown model 'e2'" in _config_error(tmp_path, model={"name": "e2"})


def test_a_plugin_missing_a_hook_fails_at_config_load(tmp_path, monkeypatch):
    broken = EntryPoint("broken", "hindcast_assets_tests.models.test_plugins:NOT_A_PLUGIN", ENTRY_POINT_GROUP)
    monkeypatch.setattr(models, "entry_points", lambda group: [broken])
    models.registry.cache_clear()
    try:
        assert "PLUGIN must be a ModelPlugin" in _config_error(tmp_path)
    finally:
        models.registry.cache_clear()


NOT_A_PLUGIN = {"name": "broken", "fit": None}
