"""Scale-out on real engines (issue 13): a hindcast on the PostgreSQL instance profile, and a
hindcast, forecast and `show` on an `s3://` run_dir served by an S3 API server on loopback.
Under CI=true a service that does not answer fails these tests (conftest.service_or_fail)."""
from __future__ import annotations

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from upath import UPath

from hindcast_assets.cli import main
from hindcast_assets.config import load_config
from hindcast_assets.core.rundir import read_current
from hindcast_assets.instance import libpq_url
from hindcast_assets.pipeline.result import ExperimentResult
from hindcast_assets.runner import run_experiment, run_forecast
from hindcast_assets_tests.conftest import write_config

pytestmark = pytest.mark.scaleout
SMALL = {"hindcast": {"first_test_year": 2009, "last_test_year": 2011}, "model": {"name": "trend", "params": {}},
         "compare": {}, "ensembles": {}}


def test_a_hindcast_runs_on_the_postgresql_instance(postgres_instance, tmp_path, input_dir):
    import psycopg2

    made = run_experiment(load_config(write_config(tmp_path, **SMALL)), "hindcast", str(tmp_path / "runs"))
    instance = DagsterInstance.get()
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    (run,) = instance.get_runs()
    assert run.status == DagsterRunStatus.SUCCESS and run.tags["hindcast/experiment"] == "corn_usa"
    with psycopg2.connect(libpq_url(postgres_instance)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT run_id FROM runs")
        assert cursor.fetchall() == [(run.run_id,)]  # the run is in PostgreSQL, not in a local file
        cursor.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", (run.run_id,))
        assert cursor.fetchone()[0] > 50
    assert ExperimentResult.from_run_dir(made.run_dir).complete


def test_hindcast_forecast_and_show_on_an_s3_run_dir(s3_runs, tmp_path, input_dir, capsys):
    cfg = load_config(write_config(tmp_path, **SMALL))
    on_s3 = run_experiment(cfg, "hindcast", s3_runs).run_dir
    local = run_experiment(cfg, "hindcast", str(tmp_path / "runs")).run_dir
    assert str(on_s3).startswith("s3://") and str(read_current(s3_runs, "corn_usa")) == str(on_s3)
    for fold in ("2009", "2010", "2011"):  # the same bytes as on local disk
        rel = f"preds/corn_usa/{fold}/walk_forward_preds.parquet"
        assert (on_s3.root / rel).read_bytes() == (local.root / rel).read_bytes()

    run_forecast(str(on_s3), 2011, "2011-08-01")
    result = ExperimentResult.from_run_dir(str(on_s3))
    assert result.complete and (2011, "2011-08-01") in result.forecasts
    assert result.forecasts[(2011, "2011-08-01")].national["prediction"].iloc[0] > 100
    assert (on_s3.root / "forecast/2011/2011-08-01/reports/drift.json").exists()
    leftovers = [p for p in UPath(s3_runs).rglob("*") if p.name.endswith(".tmp") or p.name == ".lease"]
    assert leftovers == []

    capsys.readouterr()
    assert main(["show", str(on_s3)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run_dir: {on_s3}\n") and "complete (hindcast)" in out and "forecast 2011 as of 2011-08-01" in out
