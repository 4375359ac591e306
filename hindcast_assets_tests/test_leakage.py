"""No leakage across seasons: nothing fold Y fits may depend on season Y or later.

Two full hindcasts of the tiny experiment (tiny.py) with every model and ensemble of corn_usa,
through the plain loop, the second on data where every season >= Y (2005) is
perturbed (yields, areas, weather and the region-wide crop-condition index). Fold Y's fitted
artefacts (all models, ensembles, bias corrector, in-sample predictions, the inner refits' national
predictions) and the warm-up seasons' predictions must be byte-identical; its test-season outputs
(walk-forward predictions, at the end of the season and at each init date)
and fold Y+1's models (which train on Y) must differ, which shows the perturbation reached the run.
"""
from __future__ import annotations

import pandas as pd
import pytest
import yaml

from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import content_hash
from hindcast_assets.paths import CONFIGS_DIR
from hindcast_assets.pipeline.loop import plain_hindcast
from hindcast_assets_tests import tiny

Y = 2005
TEST_SEASON_FILES = ("walk_forward_preds.parquet", "year_data.parquet", "by_init_date.parquet")  # the fold's outputs


def _fold_files(run_dir, fold, pattern: str = "*") -> dict[str, str]:
    """Content hash of every file of a fold (every model, ensemble and bias corrector)."""
    files = {}
    for top in ("models", "preds"):
        base = run_dir.root / top / "corn_usa" / str(fold)
        files |= {str(p.relative_to(base.parent.parent)): content_hash(p.read_bytes())
                  for p in base.rglob(pattern) if p.is_file()}
    return files


def _fitted(files: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in files.items() if not k.endswith(TEST_SEASON_FILES)}


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
    condition = pd.read_parquet(folder / "crop_condition.parquet")
    condition.loc[condition["date"].dt.year >= season, "value"] -= 20.0
    condition.to_parquet(folder / "crop_condition.parquet", index=False)


@pytest.mark.long_running
def test_fold_artefacts_do_not_depend_on_the_test_season_or_later(tmp_path, tiny_input_dir):
    """Every model and ensemble of the corn_usa config, every artefact of fold Y."""
    corn_usa = yaml.safe_load((CONFIGS_DIR / "corn_usa.yaml").read_text())
    config = load_config(tiny.write_config(tmp_path, hindcast={"first_test_year": Y, "last_test_year": Y + 1},
                                           **{key: corn_usa[key] for key in ("model", "compare", "ensembles")}))
    assert len(config.model_names) > 3
    clean = plain_hindcast(config, str(tmp_path / "clean"))  # the stages alone: leakage is theirs to prevent
    _perturb_from(tiny_input_dir, Y)
    perturbed = plain_hindcast(config, str(tmp_path / "perturbed"), reuse_folds=False)

    fitted = _fitted(_fold_files(clean, Y))
    assert any(k.endswith("/bias_corrector.pkl") for k in fitted) and any("/stack/" in k for k in fitted)
    assert any(k.endswith("/inner_national.parquet") for k in fitted)  # the inner refits
    assert fitted == _fitted(_fold_files(perturbed, Y))
    geos = "included_geo_identifiers.txt"
    assert (clean.root / geos).read_text() == (perturbed.root / geos).read_text()
    # the warm-up seasons before Y (the first folds' interval residuals) are walked forward on earlier seasons only
    warm = [f"preds/corn_usa/warmup/{scope}.parquet" for scope in ("geo", "national")]
    assert [content_hash((clean.root / w).read_bytes()) for w in warm] == \
        [content_hash((perturbed.root / w).read_bytes()) for w in warm]
    # the perturbation did reach the test season's outputs, the condition features among them ...
    for name in TEST_SEASON_FILES:
        assert _fold_files(clean, Y, name) != _fold_files(perturbed, Y, name)
    seen = [pd.read_parquet(rd.root / f"preds/corn_usa/{Y}/year_data.parquet").set_index("geo_id")
            for rd in (clean, perturbed)]
    moved = (seen[0]["cci_aug"] - seen[1]["cci_aug"]).round(6)
    belt = moved.index.isin(config.features.regional.geos)  # the geos the condition applies to
    assert belt.sum() == len(tiny.BELT) and moved[belt].eq(20.0).all() and moved[~belt].eq(0.0).all()
    # ... and every base model of the next fold, which trains on season Y (the ensembles' weights
    # here are data-free: blend_avg, and stack_ridge below its min_folds)
    later_clean, later_perturbed = _fold_files(clean, Y + 1, "model.*"), _fold_files(perturbed, Y + 1, "model.*")
    base = [k for k in later_clean if k.split("/")[-2] in config.base_models]
    assert len(base) == len(config.base_models)
    assert all(later_clean[k] != later_perturbed[k] for k in base)
