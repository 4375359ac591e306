"""The stage table: which stages an experiment has, edges in dependency order, the graph shape."""
from __future__ import annotations

from hindcast_assets.config import load_config
from hindcast_assets.paths import CONFIGS_DIR
from hindcast_assets.pipeline.table import (STAGES, Partitioning, fit_production_stages, shape_difference,
                                            stage_table)


def _cfg(name: str):
    return load_config(CONFIGS_DIR / f"{name}.yaml")


def test_rows_are_in_dependency_order_and_name_only_stages_that_exist():
    for cfg in (_cfg("corn_usa"), _cfg("corn_usa_county"), _cfg("soybeans_bra")):
        seen = set()
        for stage in stage_table(cfg):
            assert {u.stage for u in stage.upstream} <= seen, stage.name
            seen.add(stage.name)
    assert len({s.name for s in STAGES}) == len(STAGES)


def test_stages_follow_the_config():
    county = {s.name for s in stage_table(_cfg("corn_usa_county"))}
    assert "ensembles" not in county and "forecast_preds" not in county  # static features: no forecasts
    corn = stage_table(_cfg("corn_usa"))
    assert {"ensembles", "calibration_by_init_date", "forecast_delivery"} <= {s.name for s in corn}
    soy = {s.name: s for s in stage_table(_cfg("soybeans_bra"))}
    assert "calibration_by_init_date" not in soy and soy["feature_fill_values"].inputs == ("yields",)
    assert [s.name for s in fit_production_stages(_cfg("corn_usa"))] == [
        "config_resolved", "included_geos", "detrender", "feature_fill_values", "model"]
    assert {s.partitioning for s in corn} == set(Partitioning)


def test_graph_shape_differences_name_the_key():
    cfg = _cfg("corn_usa")
    assert shape_difference(cfg, cfg) is None
    params_only = cfg.model_copy(update={"description": "other", "model": cfg.model.model_copy(update={"params": {"a": 1}})})
    assert shape_difference(cfg, params_only) is None
    more = cfg.model_copy(update={"ensembles": {**cfg.ensembles, "other": cfg.ensembles["blend"]}})
    assert shape_difference(cfg, more) == ("ensembles", ["blend", "stack"], ["blend", "other", "stack"])
