"""The stages through the plain loop (no Dagster) on the tiny experiment (tiny.py): each stage
partition of the table is recorded with exactly the files its row declares, and the numbers are
the ones computed here by hand from the input files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import content_hash
from hindcast_assets.pipeline.loop import plain_hindcast
from hindcast_assets.pipeline.runlog import partition_id, plan_of, read_manifest
from hindcast_assets.pipeline.table import hindcast_stages, stage_writing
from hindcast_assets_tests import tiny

RECORDS = ("manifest.json", "logs/", "metrics/")  # the run records, not artefacts


# ridge, a compared ridge on the condition alone, and their blend: every kind of model folder
WITH_ENSEMBLE = {"model": {"name": "ridge", "params": {}}, "compare": {"ridge_cci": {"model": "ridge", "features": ["cci"]}},
                 "ensembles": {"blend": {"method": "blend_avg", "members": ["ridge", "ridge_cci"]}}}


@pytest.fixture(scope="module")
def hindcast(tmp_path_factory):
    """(config, run_dir, the input folder) of one plain-loop hindcast of the tiny experiment, ridge."""
    root = tmp_path_factory.mktemp("stages")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        env.setenv("INPUT_DATA_DIR", str(tiny.write_inputs(root / "input")))
        cfg = load_config(tiny.write_config(root, **WITH_ENSEMBLE))
        return cfg, plain_hindcast(cfg, str(root / "runs")), root / "input" / tiny.FOLDER


def test_every_stage_partition_is_recorded_with_the_files_its_row_declares(hindcast):
    cfg, rd, _ = hindcast
    stages = {s.name: s for s in hindcast_stages(cfg)}
    manifest = read_manifest(rd)
    assert list(manifest.completed) == plan_of(list(stages.values()), cfg.folds)
    for pid, entry in manifest.completed.items():
        assert pid == partition_id(entry["stage"], entry["partition"])  # (production has no test season: some write none)
        for path in entry["outputs"]:  # ... and by no other stage: a path leads to its stage and asset
            assert stage_writing(cfg, path).name == entry["stage"], (pid, path)
    # every file on disk is an output of one stage partition, with the hash the manifest holds
    written = {str(p.relative_to(rd.root)): p for p in rd.root.rglob("*") if p.is_file()}
    artefacts = {p: f for p, f in written.items() if not p.startswith(RECORDS)}
    outputs = [p for e in manifest.completed.values() for p in e["outputs"]]
    assert sorted(outputs) == sorted(artefacts) and len(set(outputs)) == len(outputs)
    assert {p: content_hash(f.read_bytes()) for p, f in artefacts.items()} == manifest.hashes()


def test_a_folds_trend_is_the_least_squares_line_through_its_training_seasons(hindcast):
    cfg, rd, inputs = hindcast
    yields = pd.read_parquet(inputs / "yields.parquet")
    geo = pd.read_parquet(rd.root / "postprocessed" / "geo.parquet")
    for fold in (2009, 2011):
        for state in tiny.STATES:
            seen = yields[(yields["geo_id"] == state) & yields["season_year"].between(cfg.detrend.start_year, fold - 1)]
            slope, intercept = np.polyfit(seen["season_year"], seen["yield_bu_per_acre"], 1)
            row = geo[(geo["geo_id"] == state) & (geo["season_year"] == fold)]
            assert row["trend"].item() == pytest.approx(intercept + slope * fold, abs=1e-6)


def test_national_figures_are_the_acre_weighted_means_of_the_states(hindcast):
    _, rd, inputs = hindcast
    geo = pd.read_parquet(rd.root / "postprocessed" / "geo.parquet")
    national = pd.read_parquet(rd.root / "postprocessed" / "national.parquet").set_index("season_year")
    acres = pd.read_parquet(inputs / "yields.parquet").set_index(["geo_id", "season_year"])["harvested_acres"]
    reference = pd.read_parquet(inputs / "national_reference.parquet").set_index("season_year")["yield_bu_per_acre"]
    for season, rows in geo.groupby("season_year"):
        weights = acres.loc[list(zip(rows["geo_id"], rows["season_year"]))].to_numpy()
        for column in ("prediction", "actual", "trend"):
            assert national.loc[season, column] == pytest.approx(np.average(rows[column], weights=weights), abs=1e-9)
        assert national.loc[season, "actual"] == pytest.approx(reference[season], abs=0.05)  # rounded to 0.1


def test_skill_is_the_error_of_the_postprocessed_predictions(hindcast):
    _, rd, _ = hindcast
    skill = pd.read_csv(rd.root / "reports" / "skill.csv").set_index(["level", "predictor"])
    for level in ("geo", "national"):
        rows = pd.read_parquet(rd.root / "postprocessed" / f"{level}.parquet")
        for predictor, column in (("model", "prediction"), ("trend", "trend")):
            error = rows[column] - rows["actual"]
            assert skill.loc[(level, predictor), "rmse"] == pytest.approx(np.sqrt(np.mean(error ** 2)), rel=1e-12)
            assert skill.loc[(level, predictor), "bias"] == pytest.approx(error.mean(), rel=1e-12)
            assert skill.loc[(level, predictor), "n"] == len(rows)


@pytest.mark.parametrize("model, writer", [("ridge", "model"), ("blend", "ensembles")])
def test_the_contract_model_path_leads_to_the_stage_that_fits_the_experiments_model(tmp_path, model, writer):
    cfg = load_config(tiny.write_config(tmp_path, **{**WITH_ENSEMBLE, "model": {"name": model}}))
    assert stage_writing(cfg, "models/corn_usa/2010/model_card.json").name == writer
    assert stage_writing(cfg, "models/corn_usa/2010/ridge_cci/model_card.json").name == "model"
    assert stage_writing(cfg, "preds/corn_usa/2010/blend/walk_forward_preds.parquet").name == "ensembles"
    assert stage_writing(cfg, "reports/skill_by_init_date.csv").name == "skill_by_init_date"
    assert stage_writing(cfg, "reports/skill_by_geo.csv").name == "evaluation"
    with pytest.raises(LookupError, match="2010/other/model_card.json: written by no stage"):
        stage_writing(cfg, "models/corn_usa/2010/other/model_card.json")
