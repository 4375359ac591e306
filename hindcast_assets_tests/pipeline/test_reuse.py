"""A new season costs one fold (pipeline/reuse.py): folds a complete run_dir beside the new one
holds with the same code, config fields and data are copied, and the run_dir is byte-identical
to a full refit. The tiny experiment (tiny.py), the plain loop, a ridge model."""
from __future__ import annotations

import pandas as pd
import pytest

from hindcast_assets.config import load_config
from hindcast_assets.pipeline.loop import plain_hindcast
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.pipeline.runlog import read_manifest
from hindcast_assets_tests.tiny import write_config

YIELDS = "us_state_corn/yields.parquet"
STAMPED = ("delivery/", "reports/report.md", "reports/report.html")  # carry the run_dir's name


def _config(folder, last: int, **overrides):
    return load_config(write_config(folder, hindcast={"first_test_year": 2008, "last_test_year": last},
                                    model={"name": "ridge", "params": {}}, **overrides))


def _hindcast(tmp_path, name: str, last: int, runs: str = "runs", reuse: bool = True, **overrides):
    folder = tmp_path / name
    folder.mkdir()
    return plain_hindcast(_config(folder, last, **overrides), str(tmp_path / runs), reuse)


def _keep_seasons_through(tiny_input_dir, last: int) -> pd.DataFrame:
    full = pd.read_parquet(tiny_input_dir / YIELDS)
    full[full["season_year"] <= last].to_parquet(tiny_input_dir / YIELDS, index=False)
    return full


def _origins(rd) -> dict[str, str]:
    """stage partition -> the run_dir it was copied from ('' where it was made)."""
    return {pid: c.get("reused_from", "") for pid, c in read_manifest(rd).completed.items()}


def _artefacts(rd) -> dict[str, str]:
    return {p: h for p, h in read_manifest(rd).hashes().items() if not p.startswith(STAMPED)}


def test_a_new_season_refits_its_own_fold_and_production_and_copies_the_rest(tmp_path, tiny_input_dir):
    full = _keep_seasons_through(tiny_input_dir, 2010)  # the champion: yields through 2010
    champion = _hindcast(tmp_path, "champion", 2010)
    full.to_parquet(tiny_input_dir / YIELDS, index=False)  # 2011's yields land
    challenger = _hindcast(tmp_path, "challenger", 2011)
    refit = _hindcast(tmp_path, "refit", 2011, runs="alone")  # no run_dir beside it: every fold fitted

    origins = _origins(challenger)
    fold_stages = {"detrender", "feature_fill_values", "model", "fold_preds", "features_by_init_date",
                   "inner_national", "bias_corrector", "fold_preds_by_init_date"}
    assert {f"{s}[{f}]" for s in fold_stages for f in ("2008", "2009", "2010")} | {"warmup_preds"} == \
        {pid for pid, origin in origins.items() if origin == str(champion.root)}
    assert not any(origins[f"{s}[{f}]"] for s in fold_stages for f in ("2011", "production"))
    assert _artefacts(challenger) == _artefacts(refit)
    said = ExperimentResult.from_run_dir(challenger).summary().splitlines()[1]
    # 50 partitions: config, geos, warm-up, 8 fold stages x 5 folds, 7 whole-run stages; 25 copied: 8 x 3 + warm-up
    assert said.startswith(f"25 of 50 stage partitions copied from {champion.root.name} ") and "--no-reuse" in said


def test_a_revised_season_refits_every_fold_that_sees_it(tmp_path, tiny_input_dir):
    champion = _hindcast(tmp_path, "champion", 2010)
    yields = pd.read_parquet(tiny_input_dir / YIELDS)
    yields.loc[(yields["season_year"] == 2009) & (yields["geo_id"] == "US-19"), "yield_bu_per_acre"] += 1.0
    yields.to_parquet(tiny_input_dir / YIELDS, index=False)  # USDA revises Iowa's 2009
    revised = _hindcast(tmp_path, "revised", 2010)

    origins = _origins(revised)
    assert origins["model[2008]"] == str(champion.root)  # trained on seasons before 2008 only
    assert not any(origins[f"{s}[{f}]"] for s in ("detrender", "fold_preds") for f in ("2009", "2010", "production"))


@pytest.mark.parametrize("change", [{"detrend": {"min_seasons": 12}}, {"features": {"months": [6, 7, 8]}}])
def test_a_config_field_a_fold_reads_is_never_reused_across(tmp_path, tiny_input_dir, change):
    _hindcast(tmp_path, "before", 2009)
    after = _hindcast(tmp_path, "after", 2009, **change)
    assert not any(_origins(after).values())


def test_a_changed_donor_file_is_not_copied_and_without_reuse_nothing_is(tmp_path, tiny_input_dir):
    champion = _hindcast(tmp_path, "champion", 2009)
    model = next((champion.root / "models" / "corn_usa" / "2008").glob("*.json"))  # its model card
    model.write_text(model.read_text().replace("2007", "2006"))  # changed after its run
    again = _hindcast(tmp_path, "again", 2009)
    assert "model[2008]" in _origins(again) and not _origins(again)["model[2008]"]
    assert _origins(again)["detrender[2008]"] == str(champion.root)
    refit = _hindcast(tmp_path, "refit", 2009, reuse=False)
    assert not any(_origins(refit).values()) and not read_manifest(refit).reuse
    assert _artefacts(refit) == _artefacts(again)
