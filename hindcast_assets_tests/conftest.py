"""Shared fixtures: an isolated Dagster home and MLflow store per test, and small real configs."""
from __future__ import annotations

import os
import shutil
import socket
import uuid
import warnings
from pathlib import Path

import pytest
import yaml

from hindcast_assets.paths import BUNDLED_DATA_DIR, CONFIGS_DIR, PROJECT_ROOT

warnings.filterwarnings("ignore")

SCRATCH_ON_TMPFS = Path("/dev/shm")
SCRATCH_ROOM = 4 * 2**30  # a passing test's folder is removed as it ends (tmp_path_retention_policy)


def _scratch_in_memory() -> None:
    """Tests' scratch folders (tmp_path) on tmpfs where the machine has one with room, unless the
    user chose a place (PYTEST_DEBUG_TEMPROOT, --basetemp): each test's SQLite Dagster instance,
    MLflow store and run_dirs commit with fsync, which on this project's virtual disks was 14 % of
    `make test` (339 -> 291 s, 7 Dec 2026). The stores and their commits are the same code."""
    usable = SCRATCH_ON_TMPFS.is_dir() and os.access(SCRATCH_ON_TMPFS, os.W_OK)
    if usable and shutil.disk_usage(SCRATCH_ON_TMPFS).free > SCRATCH_ROOM:
        os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", str(SCRATCH_ON_TMPFS))


_scratch_in_memory()


def pytest_collection_modifyitems(config, items):
    """Long tests first (stable otherwise): the workers take tests in order, so the long ones are
    shared between them rather than left to one at the end."""
    items.sort(key=lambda item: item.get_closest_marker("long_running") is None)


def _project_files() -> dict[str, int]:
    """Files of the checkout that tests must never write: the package, bundled data, run_dirs,
    configs and local state (bytecode caches aside)."""
    roots = [PROJECT_ROOT / "hindcast_assets", BUNDLED_DATA_DIR, CONFIGS_DIR, PROJECT_ROOT / ".state" / "dagster",
             PROJECT_ROOT / ".state" / "mlflow.db"]
    files = [f for r in roots if r.exists() for f in ([r] if r.is_file() else r.rglob("*"))
             if f.is_file() and "__pycache__" not in f.parts]
    return {str(f): f.stat().st_mtime_ns for f in files}


@pytest.fixture(scope="session", autouse=True)
def checkout_untouched():
    """No test writes into the project's own folders (data/, configs/, .state/)."""
    before = _project_files()
    yield
    after = _project_files()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"tests wrote into the checkout: {changed[:5]}"


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its schema and nothing else, made once: MLflow migrates a new
    store's schema on first use (about 1.2 s), and most tests would pay it."""
    import mlflow.tracking

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    mlflow.tracking.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(scope="session")
def empty_dagster_home(tmp_path_factory) -> Path:
    """A Dagster home (the SQLite profile) whose storage has its schema and nothing else, made
    once: an instance on a new home creates and stamps its tables (0.12 s against 0.04 s on a
    made one), and most tests open one, many several."""
    from dagster import DagsterInstance

    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DAGSTER_HOME", str(home))
        with DagsterInstance.get() as instance:
            instance.get_runs()
    return home


def own_state(root: Path, env: pytest.MonkeyPatch, empty_dagster_home: Path, empty_mlflow_store: Path) -> None:
    """A DAGSTER_HOME and MLflow store in `root` (copies of the empty ones), set in `env`."""
    shutil.copytree(empty_dagster_home, root / "dagster_home")
    env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    shutil.copy(empty_mlflow_store, root / "mlflow.db")
    env.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch, empty_mlflow_store, empty_dagster_home):
    """Every test gets its own DAGSTER_HOME and MLflow store; nothing touches the project's .state."""
    own_state(tmp_path, monkeypatch, empty_dagster_home, empty_mlflow_store)
    return tmp_path


@pytest.fixture
def input_dir(tmp_path, monkeypatch) -> Path:
    """A writable copy of the bundled real data, used as INPUT_DATA_DIR (tests may corrupt it)."""
    target = tmp_path / "input"
    shutil.copytree(BUNDLED_DATA_DIR, target, ignore=shutil.ignore_patterns("runs"))
    monkeypatch.setenv("INPUT_DATA_DIR", str(target))
    return target


# Test runs refit 2 inner blocks per fold for the national intervals, not the default 5: the same
# code path at 2/5 of its cost (make test: 16 min on 2 cores, 3 Dec 2026); core/test_inner_folds.py uses 5.
TEST_INNER = {"inner_blocks": 2}


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` one level down: a dict merges into the key's dict; any other value,
    an empty dict among them, replaces it."""
    out = dict(base)
    for key, value in overrides.items():
        merge = isinstance(value, dict) and value and isinstance(out.get(key), dict)
        out[key] = {**out[key], **value} if merge else value
    return out


def write_config(folder: Path, base: str = "corn_usa", replacing: tuple[str, ...] = (), **overrides) -> Path:
    """A config from `configs/<base>.yaml` with nested overrides (`hindcast={"first_test_year": 2009}`);
    an empty dict replaces the key's value (`compare={}`: no compared models), as does any value of
    a key in `replacing`."""
    raw = merged(merged(yaml.safe_load((CONFIGS_DIR / f"{base}.yaml").read_text()), {"conformal": TEST_INNER}),
                 overrides)
    raw |= {key: overrides[key] for key in replacing if key in overrides}
    path = folder / f"{raw['experiment_key']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def small_config(tmp_path, input_dir) -> Path:
    """corn_usa on the real state data with LightGBM alone, three test seasons (2009-2011) plus production."""
    return write_config(tmp_path, hindcast={"first_test_year": 2009, "last_test_year": 2011},
                        model={"name": "lightgbm", "params": {}}, compare={}, ensembles={})


@pytest.fixture(scope="session")
def small_hindcast(tmp_path_factory, empty_dagster_home, empty_mlflow_store):
    """One real-data hindcast (corn_usa, LightGBM, 2009-2011 + production) for the whole session,
    in its own input copy, Dagster home and MLflow store; tests only add forecasts to it or read it."""
    from hindcast_assets.config import load_config
    from hindcast_assets.launch.hindcast import run_experiment

    root = tmp_path_factory.mktemp("shared_hindcast")
    with pytest.MonkeyPatch.context() as env:
        own_state(root, env, empty_dagster_home, empty_mlflow_store)
        shutil.copytree(BUNDLED_DATA_DIR, root / "input", ignore=shutil.ignore_patterns("runs"))
        env.setenv("INPUT_DATA_DIR", str(root / "input"))
        config = write_config(root, hindcast={"first_test_year": 2009, "last_test_year": 2011},
                              model={"name": "lightgbm", "params": {}}, compare={}, ensembles={})
        return run_experiment(load_config(config), "hindcast", str(root / "runs")).run_dir


@pytest.fixture(scope="session")
def tiny_hindcast(tmp_path_factory, empty_dagster_home, empty_mlflow_store):
    """One hindcast of the tiny experiment (`tiny_config`) for the whole session, in its own
    inputs, Dagster home and MLflow store; tests only add forecasts to it or read it."""
    from hindcast_assets.config import load_config
    from hindcast_assets.launch.hindcast import run_experiment
    from hindcast_assets_tests import tiny

    root = tmp_path_factory.mktemp("shared_hindcast")
    with pytest.MonkeyPatch.context() as env:
        own_state(root, env, empty_dagster_home, empty_mlflow_store)
        env.setenv("INPUT_DATA_DIR", str(tiny.write_inputs(root / "input")))
        return run_experiment(load_config(tiny.write_config(root)), "hindcast", str(root / "runs")).run_dir


@pytest.fixture
def tiny_input_dir(tmp_path, monkeypatch) -> Path:
    """The tiny synthetic experiment's inputs (`tiny.py`), used as INPUT_DATA_DIR."""
    from hindcast_assets_tests import tiny

    monkeypatch.setenv("INPUT_DATA_DIR", str(tiny.write_inputs(tmp_path / "tiny_input")))
    return tmp_path / "tiny_input"


@pytest.fixture
def tiny_config(tmp_path, tiny_input_dir) -> Path:
    """The tiny experiment: four synthetic states, LightGBM, 2009-2011 plus production, live season 2013."""
    from hindcast_assets_tests import tiny

    return tiny.write_config(tmp_path)


# -- services on loopback (issue 13): PostgreSQL, and an S3 API server (moto) ------------------------

def service_or_fail(name: str, check) -> None:
    """Run `check`; a service that does not answer fails the test under CI (where every service
    must be up) and skips it elsewhere, saying which."""
    from hindcast_assets.instance import InstanceError

    try:
        check()
    except (OSError, InstanceError) as exc:  # cannot connect (TimeoutError is an OSError)
        message = f"{name} is not reachable on loopback: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"


def _on_postgres_server(statement: str, *names: str) -> None:
    """One statement on the server's maintenance database, `names` quoted into it as identifiers."""
    import psycopg2
    from psycopg2 import sql

    from hindcast_assets.instance import libpq_url

    admin = psycopg2.connect(libpq_url(f"{PG_SERVER}/postgres"), connect_timeout=5)
    admin.autocommit = True  # CREATE / DROP DATABASE run outside a transaction
    try:
        with admin.cursor() as cursor:
            cursor.execute(sql.SQL(statement).format(*map(sql.Identifier, names)))
    finally:
        admin.close()


def _drop_database(name: str) -> None:
    _on_postgres_server("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)  # FORCE: its connections ended first


def _postgres_home(home: Path, env: pytest.MonkeyPatch, url: str) -> None:
    from hindcast_assets.instance import PROFILES

    home.mkdir(exist_ok=True)
    shutil.copy(PROFILES["postgres"], home / "dagster.yaml")
    env.setenv("DAGSTER_HOME", str(home))
    env.setenv("DAGSTER_PG_URL", url)


@pytest.fixture(scope="session")
def postgres_schema(tmp_path_factory) -> str:
    """A database holding the Dagster instance's tables and nothing else, made once per worker:
    each test's database is a copy of it (CREATE DATABASE ... TEMPLATE, 0.1 s) where an instance
    on an empty one creates and stamps them itself (1.3 s)."""
    from dagster import DagsterInstance

    from hindcast_assets.instance import ensure_postgres_database

    name = f"hindcast_schema_{uuid.uuid4().hex[:12]}"
    service_or_fail("PostgreSQL", lambda: ensure_postgres_database(f"{PG_SERVER}/{name}"))
    with pytest.MonkeyPatch.context() as env:
        _postgres_home(tmp_path_factory.mktemp("pg_schema") / "home", env, f"{PG_SERVER}/{name}")
        with DagsterInstance.get() as instance:
            instance.get_runs()
    yield name
    _drop_database(name)


@pytest.fixture
def postgres_instance(postgres_schema, tmp_path, monkeypatch) -> str:
    """A DAGSTER_HOME of the PostgreSQL profile on a fresh database of its own, dropped afterwards."""
    name = f"hindcast_test_{uuid.uuid4().hex[:12]}"
    _on_postgres_server("CREATE DATABASE {} TEMPLATE {}", name, postgres_schema)
    _postgres_home(tmp_path / "pg_home", monkeypatch, f"{PG_SERVER}/{name}")
    yield f"{PG_SERVER}/{name}"
    _drop_database(name)


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 API server on a free loopback port, for the session: a real HTTP S3 endpoint."""
    from benchmarks.scaleout import start_moto  # the bench's server, started the same way

    started = []
    service_or_fail("moto S3 server", lambda: started.append(start_moto()))
    server, url = started[0]
    yield url
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def s3_runs(s3_server, monkeypatch) -> str:
    """`s3://<bucket>/runs` on the loopback S3 server, a bucket of its own per test."""
    import fsspec.config
    import s3fs

    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                        "FSSPEC_S3_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(name, value)  # for processes started by the test
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_server})  # fsspec read its env at import

    bucket = f"runs-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem(endpoint_url=s3_server, skip_instance_cache=True).mkdir(bucket)
    return f"s3://{bucket}/runs"


def _answers_on(port: int) -> None:
    socket.create_connection(("127.0.0.1", port), timeout=5).close()


@pytest.fixture
def celery_workers(tmp_path, monkeypatch):
    """Two Celery workers (`make workers` starts the same) on a queue of this test's own, with
    RabbitMQ as broker and Redis as result backend on loopback."""
    service_or_fail("RabbitMQ", lambda: _answers_on(5672))
    service_or_fail("Redis", lambda: _answers_on(6379))
    from hindcast_assets.defs.celery import WorkerPool

    monkeypatch.setenv("HINDCAST_CELERY_QUEUE", f"hindcast-test-{uuid.uuid4().hex[:12]}")
    workers = WorkerPool(log_dir=str(tmp_path)).start("w1", "w2")
    try:
        workers.wait_ready()
        yield workers
    finally:
        workers.stop()
