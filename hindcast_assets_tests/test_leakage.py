"""No leakage across seasons: nothing fold Y fits may depend on season Y or later.

Two full Dagster hindcasts, the second on data where every season >= 2010 is perturbed (yields,
areas and weather). Fold 2010's fitted artefacts must be byte-identical; its test-season outputs
and fold 2011 (which trains on 2010) must differ, which shows the perturbation reached the run.
"""
from __future__ import annotations

import pandas as pd

from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import content_hash
from hindcast_assets.runner import run_experiment
from hindcast_assets_tests.conftest import write_config

Y = 2010
FITTED = ["models/corn_usa/{f}/detrender.pkl", "models/corn_usa/{f}/feature_fill_values.parquet",
          "models/corn_usa/{f}/model.txt", "models/corn_usa/{f}/model_card.json",
          "preds/corn_usa/{f}/train_preds.parquet"]
TEST_SEASON = ["preds/corn_usa/{f}/walk_forward_preds.parquet", "preds/corn_usa/{f}/year_data.parquet"]


def _perturb_from(input_dir, season: int) -> None:
    folder = input_dir / "us_state_corn"
    yields = pd.read_parquet(folder / "yields.parquet")
    later = yields["season_year"] >= season
    yields.loc[later, "yield_bu_per_acre"] *= 0.5
    yields.loc[later, "harvested_acres"] *= 3
    yields.to_parquet(folder / "yields.parquet", index=False)
    indices = pd.read_parquet(folder / "indices.parquet")
    indices.loc[indices["date"].dt.year >= season, "value"] += 7.0
    indices.to_parquet(folder / "indices.parquet", index=False)


def _hashes(run_dir, templates, fold) -> dict[str, str]:
    return {t: content_hash((run_dir.root / t.format(f=fold)).read_bytes()) for t in templates}


def test_fold_artefacts_do_not_depend_on_the_test_season_or_later(tmp_path, input_dir):
    config = load_config(write_config(tmp_path, hindcast={"first_test_year": Y, "last_test_year": Y + 1}))
    clean = run_experiment(config, "hindcast", str(tmp_path / "clean")).run_dir
    _perturb_from(input_dir, Y)
    perturbed = run_experiment(config, "hindcast", str(tmp_path / "perturbed")).run_dir

    assert _hashes(clean, FITTED, Y) == _hashes(perturbed, FITTED, Y)
    assert clean.included_geos_path.read_text() == perturbed.included_geos_path.read_text()
    for template in TEST_SEASON:  # the perturbation did reach the test season ...
        assert _hashes(clean, [template], Y) != _hashes(perturbed, [template], Y)
    for template in FITTED[:3]:  # ... and every later fold that trains on it
        assert _hashes(clean, [template], Y + 1) != _hashes(perturbed, [template], Y + 1)
