"""Worker processes for a partition's independent pieces: they run in other processes on one
thread each, come back in order and equal to computing them here, get the shared inputs once per
pool, and are not started when the budget is one thread."""
from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_info

from hindcast_assets.config import config_from_dict
from hindcast_assets.core import hindcast as hc
from hindcast_assets.core import inner_folds
from hindcast_assets.core.data import load_experiment_data
from hindcast_assets.core.features import model_inputs
from hindcast_assets.core.skill_by_init import features_by_init_date
from hindcast_assets.pipeline import workers
from hindcast_assets.pipeline.cpu_share import THREADS_ENV
from hindcast_assets.pipeline.stages.folds import _block_national, _fit_member
from hindcast_assets_tests.core.test_inner_folds import _synthetic


def _where_and_what(offset: int, item: int) -> tuple[int, int, set[int]]:
    """Where a piece ran, its value, and the thread counts its OpenMP/BLAS pools were given."""
    import sklearn.ensemble  # noqa: F401 - its OpenMP runtime

    return os.getpid(), offset + item, {pool["num_threads"] for pool in threadpool_info()}


def _fails_on(bad: int, offset: int, item: int) -> int:
    if item == bad:
        raise ValueError(f"piece {item} is bad")
    return offset + item


@pytest.fixture
def threads(monkeypatch):
    workers.stop_workers()  # the workers an earlier test's hindcast left in this process (kept for its next stage)
    yield lambda n: monkeypatch.setenv(THREADS_ENV, str(n))
    workers.stop_workers()


def test_pieces_run_in_order_on_one_thread_each_in_other_processes(threads):
    threads(2)
    shared = (100,)
    got = workers.each_on_workers(_where_and_what, range(6), shared)
    assert [value for _, value, _ in got] == [100, 101, 102, 103, 104, 105]
    assert os.getpid() not in {pid for pid, _, _ in got}
    assert {n for _, _, counts in got for n in counts} == {1}
    pool = workers._POOL
    assert workers.each_on_workers(_where_and_what, range(2), shared)[1][1] == 101
    assert workers._POOL is pool  # the same shared objects: the same workers
    assert [v for _, v, _ in workers.each_on_workers(_where_and_what, range(2), (7,))] == [7, 8]
    assert workers._POOL is not pool  # other shared inputs: new workers that hold them


def test_one_thread_runs_every_piece_here(threads):
    threads(1)
    got = workers.each_on_workers(_where_and_what, range(3), (0,))
    assert {pid for pid, _, _ in got} == {os.getpid()} and workers._POOL is None


def _pieces_in_a_celery_child(out: str) -> None:
    got = workers.each_on_workers(_where_and_what, range(3), (0,))
    ran_in = {pid for pid, _, _ in got}
    Path(out).write_text(json.dumps([os.getpid(), sorted(ran_in), workers._POOL is None]))


def test_a_celery_prefork_child_runs_every_piece_itself(threads, tmp_path):
    """Celery's prefork pool runs tasks in billiard children it marks daemonic; the stdlib sees
    them as daemonic too, so such a child starts no workers of its own. (A billiard Process, not
    a billiard Pool: the Pool's own queues could hang a forked pytest worker at shutdown.)"""
    import billiard

    threads(2)
    out = tmp_path / "ran.json"
    child = billiard.Process(target=_pieces_in_a_celery_child, args=(str(out),), daemon=True)
    child.start()
    child.join(120)
    # what the child wrote, not its exit code: at exit billiard joins the stdlib children it
    # inherited from this pytest worker (an earlier test's), which fails in a forked child
    pid, ran_in, no_pool = json.loads(out.read_text())
    assert ran_in == [pid] and pid != os.getpid() and no_pool


def test_a_failing_piece_raises_its_error_and_stops_the_workers(threads):
    threads(2)
    with pytest.raises(ValueError, match="piece 3 is bad"):
        workers.each_on_workers(partial(_fails_on, 3), range(5), (0,))
    assert workers._POOL is None


def _experiment(folder: Path, **overrides) -> tuple:
    """The synthetic experiment of core/test_inner_folds.py with `overrides`: config, data, geos."""
    cfg = config_from_dict(_synthetic(folder) | overrides, str(folder / "synthetic.yaml"))
    data = load_experiment_data(cfg)
    return cfg, data, sorted(data.yields["geo_id"].unique())


def test_inner_refits_on_workers_equal_the_refits_in_one_process(tmp_path, threads):
    """hist_gbm's OpenMP threads differ (two here, one in a worker): the rows are equal to the bit."""
    cfg, data, geos = _experiment(tmp_path, model={"name": "hist_gbm", "params": {"max_iter": 30}})
    fold = hc.fold_of(cfg, data.yields, "1990")
    threads(2)
    by_init = partial(features_by_init_date, cfg, data, geos)
    here = inner_folds.national_by_block(cfg, data, geos, fold, 5, None, by_init if cfg.has_skill_by_init else None)
    blocks = inner_folds.season_blocks(fold.train_seasons, 5)
    spread = inner_folds.stacked_blocks(workers.each_on_workers(partial(_block_national, fold=fold), blocks,
                                                                (cfg, data, geos)))
    pd.testing.assert_frame_equal(spread, here, check_exact=True)
    assert sorted(spread.loc[spread["init_md"] == inner_folds.END_OF_SEASON, "season_year"]) == list(fold.train_seasons)


def test_a_folds_models_fitted_on_workers_are_the_bytes_fitted_here(tmp_path, threads):
    """The model stage fits a fold's base models side by side: each file's bytes and in-sample
    score equal a fit in this process (hist_gbm on two OpenMP threads here, one there)."""
    cfg, data, geos = _experiment(tmp_path, compare={"hist_gbm": {"max_iter": 30}, "lightgbm": {"num_boost_round": 30}})
    fold = hc.fold_of(cfg, data.yields, "1990")
    trend = hc.fit_detrender(cfg, data, geos, fold)
    train = hc.design_frame(cfg, data, geos, fold.train_seasons, trend)
    pieces = [(name, train[["target", "trend"]], model_inputs(cfg, train, hc.fit_fill_values(cfg, train)))
              for name in cfg.model_specs]
    threads(2)
    here = [_fit_member(cfg, data, geos, piece) for piece in pieces]
    there = workers.each_on_workers(_fit_member, pieces, (cfg, data, geos))
    assert workers._POOL is not None and [f.spec.name for f in there] == ["ridge", "hist_gbm", "lightgbm"]
    assert [(f.saved, f.train_rmse) for f in there] == [(f.saved, f.train_rmse) for f in here]


def _add(offset: int, item: int, base: int) -> int:
    return offset + base + item


def test_the_next_partitions_pieces_start_behind_this_ones_and_are_taken_by_it(threads):
    """A stage started the next partition's pieces (`ahead`); that partition takes their results
    instead of running them again, and what was started for a partition that never came is
    dropped when the stage ends."""
    threads(2)
    seen = []

    def run(partition: int) -> list[int]:
        after = workers.upcoming_partition()
        ahead = None if after is None else (partial(_add, base=10 * after), range(3))
        got = workers.each_on_workers(partial(_add, base=10 * partition), range(3), (100,), ahead=ahead)
        seen.append((partition, after, len(workers._AHEAD)))
        return got

    assert workers.run_in_turn([1, 2, 3], run) == [[110, 111, 112], [120, 121, 122], [130, 131, 132]]
    assert seen == [(1, 2, 3), (2, 3, 3), (3, None, 0)] and workers._AHEAD == {}
    with workers.running_before(9):
        run(1)
    assert len(workers._AHEAD) == 3  # started for partition 9 ...
    workers.run_in_turn([], run)
    assert workers._AHEAD == {}  # ... and dropped by the next stage's end


def _item(_cfg, _data, _geos, item: int) -> int:
    return item


def test_an_equal_config_and_geo_list_keep_the_workers_and_other_data_does_not(tmp_path, threads):
    """Each Dagster step opens the run_dir afresh: its config and geos are new objects, equal to
    the last step's, and the workers started for those serve it; new data starts new ones."""
    cfg, data, _ = _experiment(tmp_path)
    threads(2)
    workers.each_on_workers(_item, range(2), (cfg, data, ["G0", "G1"]))
    pool = workers._POOL
    again = config_from_dict(_synthetic(tmp_path), str(tmp_path / "synthetic.yaml"))
    assert again is not cfg and again == cfg
    workers.each_on_workers(_item, range(2), (again, data, ["G0", "G1"]))
    assert workers._POOL is pool
    workers.each_on_workers(_item, range(2), (again, data, ["G0"]))
    assert workers._POOL is not pool
    pool = workers._POOL
    workers.each_on_workers(_item, range(2), (again, data.__class__(data.yields.copy()), ["G0"]))
    assert workers._POOL is not pool
