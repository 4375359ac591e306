"""The fan-out plan (issue 13): which stages run in the fold chunks, and how the fan-in splits
into a head and lanes that never read each other."""
from __future__ import annotations

import pickle

import pytest

from hindcast_assets.config import load_config
from hindcast_assets.core.data import load_input
from hindcast_assets.pipeline.fanout import Phase, phases, warmup_weight
from hindcast_assets.paths import CONFIGS_DIR
from hindcast_assets.pipeline.fanout import fan_in_waves, fan_out, fold_chunks
from hindcast_assets.pipeline.table import hindcast_stages


def _plan(name: str):
    return fan_out(hindcast_stages(load_config(CONFIGS_DIR / f"{name}.yaml")))


def _names(waves) -> list[list[list[str]]]:
    return [[[s.name for s in group] for group in wave] for wave in waves]


def test_the_fan_in_splits_into_a_head_and_independent_lanes():
    plan = _plan("corn_usa")
    assert _names(fan_in_waves(plan.fan_in, 2)) == [
        [["ensembles", "bias_corrector"]],
        [["conformal", "national", "evaluation", "hindcast_delivery"], ["fold_preds_by_init_date", "calibration_by_init_date", "skill_by_init_date"]],
        [["season_report"]]]  # it reads both lanes: after them, not merging them into one run
    assert _names(fan_in_waves(plan.fan_in, 1)) == [[[s.name for s in plan.fan_in]]]  # one worker: one run


def test_no_lane_reads_another_lane_and_every_fan_in_stage_runs_once():
    for name in ("corn_usa", "corn_usa_county", "soybeans_bra"):
        plan = _plan(name)
        waves = fan_in_waves(plan.fan_in, 2)
        ran = [s.name for wave in waves for group in wave for s in group]
        assert sorted(ran) == sorted(s.name for s in plan.fan_in), name
        for groups in waves:  # no run reads a run beside it in its wave
            for group in groups:
                others = {s.name for g in groups if g is not group for s in g}
                assert not {u.stage for s in group for u in s.upstream} & others, (name, group)


def test_the_warmup_runs_once_beside_the_first_fold_chunk():
    """No fold reads it, so it runs neither in every chunk (as the config and geos do) nor before the fan-in."""
    cfg = load_config(CONFIGS_DIR / "corn_usa.yaml")
    plan = fan_out(hindcast_stages(cfg))
    assert [s.name for s in plan.setup] == ["config_resolved", "included_geos"]
    assert [s.name for s in plan.early] == ["warmup_preds"]
    chunks = phases(cfg, 2)[0]
    assert ["warmup_preds" in c.stages for c in chunks] == [True, False]
    assert all("included_geos" in c.stages for c in chunks)
    # its 20 fits (5 seasons x 4 members, 15-19 training seasons each) against a fold's 25 (5 base
    # models, 4 members x 5 inner blocks): 4 x 85 / 25 = 13.6 training seasons, 2/3 of the 1990 fold
    assert warmup_weight(cfg, load_input(cfg, "yields")) == pytest.approx(13.6)
    assert [(c.folds[0], c.folds[-1]) for c in chunks] == [("1990", "2010"), ("2011", "production")]


def test_fold_chunks_are_contiguous_and_balanced_by_weight():
    folds = ["2006", "2007", "2008", "2009", "2010", "2011", "production"]
    assert fold_chunks(folds, [16, 17, 18, 19, 20, 21, 22], 2) == [folds[:4], folds[4:]]
    assert fold_chunks(folds, [1] * 7, 1) == [folds]


def test_a_phase_pickles_to_a_pool_process():
    plan = _plan("corn_usa")
    phase = Phase.of("folds 2006-2009", plan.setup + plan.per_fold, ["2006", "2009"])
    assert pickle.loads(pickle.dumps(phase)) == phase and "model" in phase.stages


def test_the_pool_starts_beside_the_launchers_preparation_and_a_failed_one_raises_its_own_error():
    import os

    from hindcast_assets.launch.fanout import _pool_started_while

    with _pool_started_while(lambda: "waves", 2) as (pool, prepared):
        assert prepared == "waves" and pool.submit(os.getpid).result() != os.getpid()

    def fails():
        raise ValueError("inputs changed")

    with pytest.raises(ValueError, match="inputs changed"), _pool_started_while(fails, 2):
        raise AssertionError("the block runs only after a preparation that succeeded")
