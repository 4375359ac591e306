"""The hindcast assets materialised through Dagster into a tmp run_dir (real data, ephemeral instance)."""
from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize

from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import ArtefactExistsError, RunDir
from hindcast_assets.definitions import build_definitions
from hindcast_assets.defs.hindcast.assets import build_hindcast_assets, production_chain
from hindcast_assets.defs.resources import MlflowTracking, RunDirResource, read_current
from hindcast_assets.runner import RANGE_END, RANGE_START

FOLD_FILES = {"detrender.pkl", "feature_fill_values.parquet", "model.txt", "model_card.json", "bias_corrector.pkl",
              "lightgbm"}  # every trained model also has a folder of its own
REPORTS = {"report.md", "skill.csv", "skill_by_fold.csv", "skill_by_geo.csv", "coverage.csv", "model_comparison.csv",
           "national_hindcast.png", "error_by_season.png", "coverage.png", "skill_by_init_date.csv",
           "skill_by_init_date.png"}
PRED_FILES = {"train_preds.parquet", "walk_forward_preds.parquet", "year_data.parquet", "lightgbm"}


def _resources(run_dir: str = "", runs_dir: str = "") -> dict:
    return {"run_dir": RunDirResource(run_dir=run_dir, runs_dir=runs_dir), "mlflow": MlflowTracking()}


def _files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_one_range_run_writes_every_fold_in_the_rundir_layout(small_config, tmp_path):
    cfg = load_config(small_config)
    run_dir = str(tmp_path / "run")
    instance = DagsterInstance.ephemeral()
    result = materialize(build_hindcast_assets(cfg), instance=instance, resources=_resources(run_dir),
                         tags={RANGE_START: "2009", RANGE_END: "production"})
    assert result.success
    rd = RunDir(run_dir)
    assert rd.config_path.exists() and rd.included_geos_path.exists()
    for fold in ["2009", "2010", "2011", "production"]:
        assert _files(rd.model_dir("corn_usa", fold)) == FOLD_FILES
    for fold in ["2009", "2010", "2011"]:
        assert _files(rd.preds_dir("corn_usa", fold)) == PRED_FILES
    assert _files(rd.preds_dir("corn_usa", "production")) == {"train_preds.parquet", "lightgbm"}
    assert _files(rd.root / "conformal") == {"absolute.parquet", "relative.parquet", "by_init_date"}
    assert _files(rd.root / "conformal" / "by_init_date") == {"absolute.parquet", "relative.parquet"}
    assert _files(rd.root / "postprocessed") == {"geo.parquet", "national.parquet"}
    assert _files(rd.root / "reports") == REPORTS
    assert _files(rd.root / "delivery") == {"Treefera_corn_usa_Hindcast_run.csv"}
    national = rd.read_parquet(rd.root / "postprocessed" / "national.parquet")
    assert national["season_year"].tolist() == [2009, 2010, 2011] and set(national["geo_id"]) == {"NATIONAL"}
    # at the end-of-season init date (the features' own as_of) the forecast path is the hindcast path
    by_init = pd.read_csv(rd.root / "reports" / "skill_by_init_date.csv").set_index(["init_md", "level"])
    assert len(by_init) == 2 * len(cfg.forecast.init_dates)
    skill = pd.read_csv(rd.root / "reports" / "skill.csv").set_index(["level", "predictor"])
    assert by_init.loc[("10-01", "geo"), "rmse"] == pytest.approx(skill.loc[("geo", "model"), "rmse"])
    assert by_init.loc[("06-01", "geo"), "rmse"] != by_init.loc[("10-01", "geo"), "rmse"]
    assert len(instance.get_runs()) == 1  # one Dagster run for all partitions
    model_mats = instance.fetch_materializations(AssetKey(["corn_usa", "model"]), limit=10).records
    assert sorted(r.partition_key for r in model_mats) == ["2009", "2010", "2011", "production"]
    meta = model_mats[0].asset_materialization.metadata
    assert meta["run_dir"].value == run_dir and meta["n_folds"].value == 4
    assert "| 2011 |" in meta["folds"].value


def test_single_partition_metadata_names_path_rows_and_hash(small_config, tmp_path):
    cfg = load_config(small_config)
    run_dir = str(tmp_path / "run")
    assets = build_hindcast_assets(cfg)
    materialize(production_chain(assets), instance=DagsterInstance.ephemeral(), resources=_resources(run_dir),
                partition_key="2010")
    instance = DagsterInstance.ephemeral()
    result = materialize(production_chain(assets), instance=instance, resources=_resources(run_dir),
                         partition_key="2010")  # identical bytes again: a no-op, not an error
    mat = [e for e in result.get_asset_materialization_events()
           if e.asset_key == AssetKey(["corn_usa", "detrender"])][0].materialization
    assert mat.metadata["path"].value == f"{run_dir}/models/corn_usa/2010/detrender.pkl"
    assert len(mat.metadata["sha256"].value) == 64
    assert mat.metadata["rows"].value > 0


def test_an_existing_artefact_is_never_overwritten_with_other_content(small_config, tmp_path):
    cfg = load_config(small_config)
    run_dir = str(tmp_path / "run")
    materialize(build_hindcast_assets(cfg)[:2], instance=DagsterInstance.ephemeral(),
                resources=_resources(run_dir))
    other = cfg.model_copy(update={"description": "changed"})
    with pytest.raises(ArtefactExistsError, match="config_resolved.yaml"):
        materialize(build_hindcast_assets(other)[:1], instance=DagsterInstance.ephemeral(),
                    resources=_resources(run_dir))
    assert "changed" not in RunDir(run_dir).config_path.read_text()


def test_ui_materialisations_use_the_current_run_dir(small_config, tmp_path):
    """No run_dir in the launchpad: mint one, make it current, and keep writing there."""
    cfg = load_config(small_config)
    runs = str(tmp_path / "runs")
    for _ in range(2):
        materialize(build_hindcast_assets(cfg)[:2], instance=DagsterInstance.ephemeral(),
                    resources=_resources(runs_dir=runs))
    current = read_current(runs, "corn_usa")
    assert current and RunDir(current).included_geos_path.exists()
    assert {p.name for p in (tmp_path / "runs").iterdir()} == {"corn_usa.current", current.rsplit("/", 1)[1]}


def test_every_config_is_its_own_group_with_two_jobs():
    from hindcast_assets.definitions import defs

    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert {"corn_usa", "corn_usa_county", "soybeans_bra"} <= groups
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    for key in ["corn_usa", "corn_usa_county", "soybeans_bra"]:
        assert {f"{key}__hindcast", f"{key}__fit_production"} <= jobs
    model = defs.resolve_assets_def(AssetKey(["corn_usa", "model"]))
    assert model.partitions_def.get_partition_keys()[-2:] == ["2011", "production"]


def test_fit_production_job_selects_only_the_model_chain(small_config):
    job = build_definitions([load_config(small_config)]).resolve_job_def("corn_usa__fit_production")
    keys = {k.path[-1] for k in job.asset_layer.executable_asset_keys}
    assert keys == {"config_resolved", "included_geos", "detrender", "feature_fill_values", "model"}


def test_a_trend_only_experiment_without_predictors_runs_end_to_end(tmp_path, input_dir):
    from hindcast_assets.core.result import ExperimentResult
    from hindcast_assets.runner import run_experiment
    from hindcast_assets_tests.conftest import write_config

    cfg = load_config(write_config(tmp_path, base="soybeans_bra"))
    outcome = run_experiment(cfg, "hindcast", str(tmp_path / "runs"))
    result = ExperimentResult.from_run_dir(outcome.run_dir)
    wf = result.walk_forward_preds()
    assert (wf["prediction"] == wf["trend"]).all() and len(wf) == 10 * 11  # 10 states x 2015-2025
    assert result.hindcast["production"].model.plugin.name == "trend"
    assert (outcome.run_dir.root / "delivery" / f"Treefera_soybeans_bra_Hindcast_{outcome.run_dir.root.name[:15]}.csv").exists()
