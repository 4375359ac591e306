"""The benchmarks compare like with like: the synthetic inputs pass the real loaders, and the plain
loop `make bench` times against Dagster writes byte-identical artefacts. (No timing here.)"""
from __future__ import annotations

import sys

import pandas as pd
import pytest

from hindcast_assets.config import load_config
from hindcast_assets.core.data import load_experiment_data
from hindcast_assets.core.rundir import content_hash
from hindcast_assets.paths import PROJECT_ROOT
from hindcast_assets.pipeline.loop import plain_hindcast
from hindcast_assets.launch.hindcast import run_experiment

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import bench  # noqa: E402
import synthetic  # noqa: E402


@pytest.fixture
def synthetic_config(tmp_path):
    folder = synthetic.write_synthetic(tmp_path / "synthetic", n_geos=24, n_seasons=14, seed=3)
    return load_config(synthetic.write_config(folder, "synthetic", n_folds=2, n_seasons=14))


def test_synthetic_inputs_have_the_real_schema_and_are_seeded(synthetic_config, tmp_path):
    data = load_experiment_data(synthetic_config)  # the loaders' validation: columns, duplicates, dates
    assert data.yields["geo_id"].nunique() == 24 and data.yields["season_year"].nunique() == 14
    assert data.indices["variable"].nunique() == len(synthetic.VARIABLES)
    assert data.indices.groupby("geo_id").size().min() < 14 * len(synthetic.VARIABLES) * len(synthetic.MONTHS)
    again, _ = synthetic.synthetic_frames(24, 14, seed=3)
    pd.testing.assert_frame_equal(again, pd.read_parquet(tmp_path / "synthetic" / "yields.parquet"))
    other, _ = synthetic.synthetic_frames(24, 14, seed=4)
    assert not other["yield_bu_per_acre"].equals(again["yield_bu_per_acre"])


def _hashes(root, folders=("models", "preds", "conformal", "postprocessed")) -> dict[str, str]:
    return {str(p.relative_to(root)): content_hash(p.read_bytes()) for f in folders
            for p in sorted((root / f).rglob("*")) if p.is_file()}


def test_plain_loop_writes_what_the_dagster_hindcast_writes(synthetic_config, tmp_path):
    dagster = run_experiment(synthetic_config, "hindcast", str(tmp_path / "dagster")).run_dir
    plain = plain_hindcast(synthetic_config, str(tmp_path / "plain"))
    expected = _hashes(dagster.root)
    assert len(expected) > 30 and any(k.startswith("conformal/by_init_date") for k in expected)
    assert _hashes(plain.root) == expected
    assert sorted(p.name for p in (plain.root / "reports").iterdir()) == \
        sorted(p.name for p in (dagster.root / "reports").iterdir())


def test_growth_exponent_is_the_log_log_slope():
    assert bench.exponent([500, 1000, 2000], [10.0, 20.0, 40.0]) == pytest.approx(1.0)
    assert bench.exponent([1, 2, 4], [3.0, 12.0, 48.0]) == pytest.approx(2.0)


def test_the_bench_starts_its_jobs_on_the_instance_make_demo_uses(tmp_path):
    """`make bench` gives every job a scratch DAGSTER_HOME holding the sqlite profile (it broke
    once when the profile moved to deploy/instance/)."""
    from hindcast_assets.instance import PROFILES

    harness = bench.Bench(tmp_path)
    home = tmp_path / "dagster"
    assert harness.env["DAGSTER_HOME"] == str(home)
    assert (home / "dagster.yaml").read_bytes() == PROFILES["sqlite"].read_bytes()
