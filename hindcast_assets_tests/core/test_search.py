"""Hyperparameter search stays inside the fold's training seasons and is reproducible."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from hindcast_assets.config import ConfigError, load_config
from hindcast_assets.core.search import inner_split
from hindcast_assets.launch.hindcast import run_experiment
from hindcast_assets_tests.tiny import write_config


def test_inner_split_validates_on_the_last_training_seasons():
    train = pd.DataFrame({"season_year": [2001, 2002, 2003, 2004, 2005] * 2, "residual": range(10)})
    fit, valid = inner_split(train, 2)
    assert sorted(fit["season_year"].unique()) == [2001, 2002, 2003]
    assert sorted(valid["season_year"].unique()) == [2004, 2005]
    with pytest.raises(ValueError, match="5 training seasons cannot hold 5 validation seasons"):
        inner_split(train, 5)


def test_search_is_recorded_in_the_model_card_and_never_sees_the_test_season(tmp_path, tiny_input_dir):
    config = load_config(write_config(
        tmp_path, hindcast={"first_test_year": 2011, "last_test_year": 2011},
        search={"models": ["lightgbm"], "trials": 3, "validation_seasons": 2}))
    first = run_experiment(config, "hindcast", str(tmp_path / "a")).run_dir
    card = json.loads((first.root / "models/corn_usa/2011" / "lightgbm" / "model_card.json").read_text())
    assert card["search"]["validation_seasons"] == [2009, 2010] and card["search"]["trials"] == 3
    assert set(card["search"]["best_params"]) == {"num_leaves", "learning_rate", "min_data_in_leaf",
                                                  "feature_fraction"}
    assert card["params"]["num_leaves"] == card["search"]["best_params"]["num_leaves"]
    again = run_experiment(config, "fit-production", str(tmp_path / "b")).run_dir
    production = "models/corn_usa/production/lightgbm/model.txt"
    assert (first.root / production).read_bytes() == (again.root / production).read_bytes()


def test_search_names_must_be_models_of_the_experiment(tmp_path):
    with pytest.raises(ConfigError, match="search.models\\[0\\]: 'xgb' is not a model of this experiment"):
        load_config(write_config(tmp_path, search={"models": ["xgb"]}))
