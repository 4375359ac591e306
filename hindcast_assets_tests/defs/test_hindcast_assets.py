"""The Dagster layer generated from the stage table, materialised into a tmp run_dir (the tiny
experiment, tiny.py; a trend-only run on Brazil's real soybeans): layout, metadata, in-process
execution, the run_dir rule, staleness and input checks."""
from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, materialize
from dagster._core.definitions.data_version import StaleStatus

from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import ArtefactExistsError, RunDir, read_current
from hindcast_assets.definitions import build_definitions
from hindcast_assets.defs.assets import build_stage_assets
from hindcast_assets.defs.inputs import build_input_assets, observe_inputs
from hindcast_assets.defs.resources import MlflowTracking, RunDirError, RunDirResource
from hindcast_assets.pipeline import store
from hindcast_assets.defs.resources import RANGE_END, RANGE_START

FOLD_FILES = {"detrender.pkl", "feature_fill_values.parquet", "model.txt", "model_card.json", "bias_corrector.pkl",
              "lightgbm"}  # every trained model also has a folder of its own
REPORTS = {"report.md", "report.html", "skill.csv", "skill_by_fold.csv", "skill_by_geo.csv", "coverage.csv",
           "model_comparison.csv",
           "national_hindcast.png", "error_by_season.png", "coverage.png", "skill_by_init_date.csv",
           "skill_by_init_date.png", "yardstick.csv", "seasons.csv"}
PRED_FILES = {"train_preds.parquet", "walk_forward_preds.parquet", "year_data.parquet", "lightgbm",
              "inner_national.parquet", "by_init_date.parquet"}


def _resources(run_dir: str = "", runs_dir: str = "") -> dict:
    return {"run_dir": RunDirResource(run_dir=run_dir, runs_dir=runs_dir), "mlflow": MlflowTracking()}


def _files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _hindcast_assets(cfg):
    return [build_input_assets(cfg), *build_stage_assets(cfg, "test.yaml")]


def _stages(cfg, names):
    return [a for a in build_stage_assets(cfg, "test.yaml") if a.key.path[-1] in names]


def _stale_status_resolver(instance, defs):
    """What the UI asks to colour an asset stale or fresh (Dagster's own resolver)."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._time import get_current_datetime

    graph = defs.resolve_asset_graph()
    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    return CachingStaleStatusResolver(instance, graph, view)


SETUP = {"config_resolved", "included_geos"}
CHAIN = SETUP | {"detrender", "feature_fill_values", "model"}


@pytest.mark.both_instances
def test_one_range_run_writes_every_fold_in_the_rundir_layout(tiny_config, tmp_path):
    cfg = load_config(tiny_config)
    run_dir = str(tmp_path / "run")
    instance, defs = DagsterInstance.ephemeral(), build_definitions([cfg])
    observe_inputs(instance, cfg)
    run_config = {"resources": {"run_dir": {"config": {"run_dir": run_dir}}}}
    result = defs.resolve_job_def("corn_usa__hindcast").execute_in_process(
        instance=instance, run_config=run_config, tags={RANGE_START: "2009", RANGE_END: "production"})
    assert result.success
    rd = RunDir(run_dir)
    assert (rd.root / "config_resolved.yaml").exists() and (rd.root / "included_geo_identifiers.txt").exists()
    for fold in ["2009", "2010", "2011", "production"]:
        assert _files(rd.root / "models" / "corn_usa" / fold) == FOLD_FILES
    for fold in ["2009", "2010", "2011"]:
        assert _files(rd.root / "preds" / "corn_usa" / fold) == PRED_FILES
    assert _files(rd.root / "preds" / "corn_usa" / "production") == {"train_preds.parquet", "lightgbm",
                                                                      "inner_national.parquet"}
    assert _files(rd.root / "conformal") == {"absolute.parquet", "relative.parquet", "by_init_date"}
    assert _files(rd.root / "conformal" / "by_init_date") == {"absolute.parquet", "relative.parquet"}
    assert _files(rd.root / "postprocessed") == {"geo.parquet", "national.parquet", "by_init_date"}
    assert _files(rd.root / "reports") == REPORTS
    assert _files(rd.root / "delivery") == {"Treefera_corn_usa_Hindcast_run.csv"}
    markdown = (rd.root / "reports" / "report.md").read_text()  # the season report's headline and sections
    assert "**At the end of the season our national number missed the final by" in markdown
    assert "## Skill by init date" in markdown and "rmse_yardstick" in markdown and "### Season by season" in markdown
    assert "| US-19    | Iowa " in markdown  # geos by name
    national = store.POSTPROCESSED.read(rd, scope="national")
    assert national["season_year"].tolist() == [2009, 2010, 2011] and set(national["geo_id"]) == {"NATIONAL"}
    # at the end-of-season init date (the features' own as_of) the forecast path is the hindcast path
    by_init = pd.read_csv(rd.root / "reports" / "skill_by_init_date.csv").set_index(["init_md", "level"])
    assert len(by_init) == 2 * len(cfg.forecast.init_dates)
    skill = pd.read_csv(rd.root / "reports" / "skill.csv").set_index(["level", "predictor"])
    assert by_init.loc[("10-01", "geo"), "rmse"] == pytest.approx(skill.loc[("geo", "model"), "rmse"])
    assert by_init.loc[("06-01", "geo"), "rmse"] != by_init.loc[("10-01", "geo"), "rmse"]
    (run,) = instance.get_runs()  # one Dagster run for all partitions, its run_dir recorded as a tag
    assert run.tags["hindcast/run_dir/corn_usa"] == run_dir
    model_mats = instance.fetch_materializations(AssetKey(["corn_usa", "model"]), limit=10).records
    assert sorted(r.partition_key for r in model_mats) == ["2009", "2010", "2011", "production"]
    meta = model_mats[0].asset_materialization.metadata
    assert meta["run_dir"].value == run_dir and meta["n_partitions"].value == 4
    # the MLflow run's page, opening on runs (MLflow 3 picks the view from the URL, not the experiment)
    experiment_id, mlflow_run = re.fullmatch(r"http://127\.0\.0\.1:5000/#/experiments/(\w+)/runs/(\w+)"
                                             r"\?workflowType=machine_learning", meta["mlflow_run"].value).groups()
    assert MlflowTracking().tracker().client.get_run(mlflow_run).info.experiment_id == experiment_id
    table = meta["partitions"].value.splitlines()
    assert "| 2011 " in meta["partitions"].value and len({line.count("|") for line in table}) == 1  # well formed
    # the plots are drawn in the materialisation's metadata: the PNG the run_dir holds, inline
    (evaluation,) = instance.fetch_materializations(AssetKey(["corn_usa", "evaluation"]), limit=1).records
    shown = evaluation.asset_materialization.metadata["plot_national_hindcast"].value
    png = base64.b64decode(re.fullmatch(r"!\[national_hindcast\]\(data:image/png;base64,(.+)\)", shown)[1])
    assert png == (rd.root / "reports" / "national_hindcast.png").read_bytes()

    # a no-op fit_production after the range run leaves nothing stale: the range gave all its
    # partitions one data version (dagster#34013) and the no-op keeps it
    assert defs.resolve_job_def("corn_usa__fit_production").execute_in_process(
        instance=instance, partition_key="production", run_config=run_config).success
    resolver = _stale_status_resolver(instance, defs)
    stale = {name: partition for name, partition in [
        *((s, "production") for s in ("detrender", "feature_fill_values", "model", "fold_preds",
                                      "bias_corrector", "inner_national")),
        *((s, None) for s in ("included_geos", "conformal", "national", "evaluation", "hindcast_delivery",
                              "calibration_by_init_date", "skill_by_init_date"))]
        if resolver.get_status(AssetKey(["corn_usa", name]), partition) != StaleStatus.FRESH}
    assert stale == {}


def test_single_partition_metadata_names_path_rows_and_hash(tiny_config, tmp_path):
    cfg = load_config(tiny_config)
    run_dir = str(tmp_path / "run")
    assets = _stages(cfg, CHAIN)
    materialize(assets, instance=DagsterInstance.ephemeral(), resources=_resources(run_dir), partition_key="2010")
    result = materialize(assets, instance=DagsterInstance.ephemeral(), resources=_resources(run_dir),
                         partition_key="2010")  # identical bytes again: a no-op, not an error
    mat = [e for e in result.get_asset_materialization_events()
           if e.asset_key == AssetKey(["corn_usa", "detrender"])][0].materialization
    assert mat.metadata["path"].value == f"{run_dir}/models/corn_usa/2010/detrender.pkl"
    assert len(mat.metadata["sha256"].value) == 64 and mat.metadata["rows"].value > 0
    fill = [e for e in result.get_asset_materialization_events()
            if e.asset_key == AssetKey(["corn_usa", "feature_fill_values"])][0].materialization
    lines = fill.metadata["partitions"].value.splitlines()
    assert len({line.count("|") for line in lines}) == 1  # header, delimiter and rows alike


def test_an_existing_artefact_is_never_overwritten_with_other_content(tiny_config, tmp_path):
    cfg = load_config(tiny_config)
    run_dir = str(tmp_path / "run")
    materialize(_stages(cfg, SETUP), instance=DagsterInstance.ephemeral(), resources=_resources(run_dir))
    other = cfg.model_copy(update={"description": "changed"})
    with pytest.raises(ArtefactExistsError, match="config_resolved.yaml"):
        materialize(_stages(other, {"config_resolved"}), instance=DagsterInstance.ephemeral(),
                    resources=_resources(run_dir))
    assert "changed" not in (RunDir(run_dir).root / "config_resolved.yaml").read_text()


def test_a_ui_run_with_no_current_run_dir_fails_clearly_and_mints_nothing(tiny_config, tmp_path):
    cfg = load_config(tiny_config)
    runs = tmp_path / "runs"
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("corn_usa__init_date", ["08-01"])
    job = build_definitions([cfg]).resolve_implicit_global_asset_job_def()
    with pytest.raises(RunDirError, match=r"corn_usa: no run_dir to write: .*hindcast run hindcast --config"):
        job.execute_in_process(instance=instance, asset_selection=[AssetKey(["corn_usa", "forecast_indices"])],
                               partition_key="08-01|2011",
                               run_config={"resources": {"run_dir": {"config": {"runs_dir": str(runs)}}}})
    assert not runs.exists()
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    assert not [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]


@pytest.mark.both_instances
def test_ui_runs_write_the_current_run_dir_and_refuse_one_of_another_shape(tiny_config, tmp_path):
    cfg = load_config(tiny_config)
    runs = str(tmp_path / "runs")
    from hindcast_assets.core.rundir import set_current

    made = RunDir.mint(runs, "corn_usa")
    set_current(runs, "corn_usa", made)
    materialize(_stages(cfg, SETUP), instance=DagsterInstance.ephemeral(), resources=_resources(runs_dir=runs))
    assert (made.root / "included_geo_identifiers.txt").exists()
    assert read_current(runs, "corn_usa").root == made.root
    edited = cfg.model_copy(update={"hindcast": cfg.hindcast.model_copy(update={"last_test_year": 2010})})
    with pytest.raises(RunDirError, match=r"test.yaml and .*config_resolved.yaml differ in hindcast.last_test_year "
                                          r"\(2010 vs 2011\), which shapes the asset graph"):
        materialize(_stages(edited, {"included_geos"}), instance=DagsterInstance.ephemeral(),
                    resources=_resources(runs_dir=runs))


def test_every_job_and_the_implicit_asset_job_run_in_process():
    from hindcast_assets.definitions import defs

    defs = defs()
    jobs = [*defs.resolve_all_job_defs(), defs.resolve_implicit_global_asset_job_def()]
    assert {j.name for j in jobs} >= {"__ASSET_JOB", "corn_usa__hindcast", "corn_usa__forecast"}
    assert {j.executor_def.name for j in jobs} == {"in_process"}


def test_every_config_is_its_own_group_with_its_jobs_and_inputs():
    from hindcast_assets.definitions import defs

    defs = defs()
    groups = {spec.key.path[-1]: spec.group_name for spec in defs.resolve_all_asset_specs()
              if spec.key.path[0] == "corn_usa"}
    assert (groups["model"], groups["forecast_preds"], groups["yields"]) == ("corn_usa", "corn_usa_forecast",
                                                                             "corn_usa_inputs")
    assert {s.group_name for s in defs.resolve_all_asset_specs()} >= {"corn_usa_county", "soybeans_bra"}
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    for key in ["corn_usa", "corn_usa_county", "soybeans_bra"]:
        assert {f"{key}__hindcast", f"{key}__fit_production"} <= jobs
    model = defs.resolve_assets_def(AssetKey(["corn_usa", "model"]))
    assert model.partitions_def.get_partition_keys()[-2:] == ["2023", "production"]
    graph = defs.resolve_asset_graph()
    assert AssetKey(["corn_usa", "indices"]) in graph.get(AssetKey(["corn_usa", "forecast_indices"])).parent_keys
    assert AssetKey(["corn_usa", "included_geos"]) in graph.get(AssetKey(["corn_usa", "forecast_indices"])).parent_keys
    assert AssetKey(["corn_usa", "calibration_by_init_date"]) in graph.get(
        AssetKey(["corn_usa", "forecast_national"])).parent_keys


def test_fit_production_job_selects_only_the_model_chain_and_its_input_checks(tiny_config):
    job = build_definitions([load_config(tiny_config)]).resolve_job_def("corn_usa__fit_production")
    assert {k.path[-1] for k in job.asset_layer.executable_asset_keys} == CHAIN
    assert {c.asset_key.path[-1] for c in job.asset_layer.asset_graph.asset_check_keys} >= {"yields", "indices"}


@pytest.mark.both_instances
def test_a_changed_input_file_marks_its_downstream_assets_stale(tiny_config, tiny_input_dir, tmp_path):
    cfg = load_config(tiny_config)
    instance = DagsterInstance.get()
    defs = build_definitions([cfg])
    observe_inputs(instance, cfg)
    result = defs.resolve_job_def("corn_usa__fit_production").execute_in_process(
        instance=instance, partition_key="2010",
        run_config={"resources": {"run_dir": {"config": {"run_dir": str(tmp_path / "run")}}}})
    assert result.success

    def status(name, partition=None):
        return _stale_status_resolver(instance, defs).get_status(AssetKey(["corn_usa", name]), partition)

    assert status("included_geos") == StaleStatus.FRESH and status("detrender", "2010") == StaleStatus.FRESH
    again = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[AssetKey(["corn_usa", "included_geos"])],
        run_config={"resources": {"run_dir": {"config": {"run_dir": str(tmp_path / "run")}}}})
    assert again.success and status("detrender", "2010") == StaleStatus.FRESH  # same code, same inputs
    yields = tiny_input_dir / "us_state_corn" / "yields.parquet"
    frame = pd.read_parquet(yields)
    frame.loc[0, "harvested_acres"] += 1.0
    frame.to_parquet(yields, index=False)
    observe_inputs(instance, cfg)
    assert status("included_geos") == StaleStatus.STALE and status("detrender", "2010") == StaleStatus.STALE
    # re-making it in that run_dir would mix data: one message saying what to do, nothing written
    remade = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[AssetKey(["corn_usa", "detrender"])], partition_key="2010",
        run_config={"resources": {"run_dir": {"config": {"run_dir": str(tmp_path / "run")}}}}, raise_on_error=False)
    (failure,) = [e for e in remade.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    while error.cause is not None:  # Dagster wraps the stage's error
        error = error.cause
    assert error.message.strip().endswith(
        f"{yields} (inputs.yields): changed since run_dir {tmp_path / 'run'} was made (sha256 differs from its "
        f"manifest.json); re-making its artefacts there would mix data: make a new run_dir with `hindcast run "
        f"hindcast --config {tmp_path / 'run' / 'config_resolved.yaml'}` (or your edited config)")


@pytest.mark.both_instances
def test_a_no_op_run_leaves_everything_fresh(tiny_config, tmp_path):
    """Data versions are content hashes of what a stage wrote: a re-run that writes the same bytes
    (here: every partition already complete) leaves nothing downstream stale."""
    cfg = load_config(tiny_config)
    instance, defs = DagsterInstance.get(), build_definitions([cfg])
    observe_inputs(instance, cfg)
    job = defs.resolve_job_def("corn_usa__fit_production")
    run_config = {"resources": {"run_dir": {"config": {"run_dir": str(tmp_path / "run")}}}}
    versions = []
    for _ in range(2):
        assert job.execute_in_process(instance=instance, partition_key="production", run_config=run_config).success
        record = instance.get_latest_materialization_event(AssetKey(["corn_usa", "model"]))
        versions.append(record.asset_materialization.tags["dagster/data_version"])
    resolver = _stale_status_resolver(instance, defs)
    assert versions[0] == versions[1]
    for name in ("included_geos", "detrender", "feature_fill_values", "model"):
        partition = None if name == "included_geos" else "production"
        assert resolver.get_status(AssetKey(["corn_usa", name]), partition) == StaleStatus.FRESH, name


def test_a_bad_input_fails_its_blocking_check_and_nothing_downstream_runs(tiny_config, tiny_input_dir, tmp_path):
    cfg = load_config(tiny_config)
    yields = tiny_input_dir / "us_state_corn" / "yields.parquet"
    frame = pd.read_parquet(yields)
    frame.loc[3, "yield_bu_per_acre"] = float("inf")
    frame.to_parquet(yields, index=False)
    result = build_definitions([cfg]).resolve_job_def("corn_usa__fit_production").execute_in_process(
        instance=DagsterInstance.ephemeral(), partition_key="production", raise_on_error=False,
        run_config={"resources": {"run_dir": {"config": {"run_dir": str(tmp_path / "run")}}}})
    assert not result.success
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    (evaluation,) = [c for c in checks if c.asset_key.path[-1] == "yields"]
    assert not evaluation.passed and "is not finite at geo_id=" in evaluation.metadata["problem"].value
    # only the config stage (reads no input) ran, and its run records
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config_resolved.yaml", "logs", "manifest.json"]


def test_a_trend_only_experiment_without_predictors_runs_end_to_end(tmp_path, input_dir):
    from hindcast_assets.pipeline.result import ExperimentResult
    from hindcast_assets.launch.hindcast import run_experiment
    from hindcast_assets_tests.conftest import write_config

    cfg = load_config(write_config(tmp_path, base="soybeans_bra"))
    outcome = run_experiment(cfg, "hindcast", str(tmp_path / "runs"))
    result = ExperimentResult.from_run_dir(outcome.run_dir)
    wf = result.walk_forward_preds()
    assert (wf["prediction"] == wf["trend"]).all() and len(wf) == 10 * 11  # 10 states x 2015-2025
    assert result.hindcast["production"].model.plugin.name == "trend"
    stamp = outcome.run_dir.root.name[:15]
    assert (outcome.run_dir.root / "delivery" / f"Treefera_soybeans_bra_Hindcast_{stamp}.csv").exists()


def test_only_transient_io_errors_are_retried():
    from hindcast_assets.core.rundir import ArtefactExistsError
    from hindcast_assets.defs.assets import is_transient

    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError()) and is_transient(OSError(5, "EIO"))
    final = [FileNotFoundError(), ArtefactExistsError(), PermissionError(), NotADirectoryError(), IsADirectoryError()]
    assert not any(is_transient(e) for e in final)


def test_a_ui_backfill_runs_the_per_fold_stages_as_fold_runs_and_the_rest_once(tiny_config):
    from dagster._core.definitions.backfill_policy import BackfillPolicyType

    defs = build_definitions([load_config(tiny_config)])  # 2009-2011 and production; hindcast.fold_runs 2

    def policy(stage: str):
        return defs.resolve_assets_def(AssetKey(["corn_usa", stage])).backfill_policy

    for stage in ("detrender", "feature_fill_values", "model", "fold_preds"):
        assert (policy(stage).policy_type, policy(stage).max_partitions_per_run) == (BackfillPolicyType.MULTI_RUN, 2)
    assert policy("bias_corrector").policy_type is BackfillPolicyType.SINGLE_RUN  # reads every earlier fold
    assert policy("national") is None and policy("included_geos") is None
