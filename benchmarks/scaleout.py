"""`make bench`'s scale-out figures (issue 13): the county hindcast on 2 workers (fold chunks in
processes of their own, and on two Celery workers) against one in-process run; the per-run cost
of a PostgreSQL instance against SQLite; and of an `s3://` run_dir (moto's S3 API server on
loopback) against local disk. Each pair alternates its two sides, so drift hits both alike."""
from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"hindcast": {"first_test_year": 2009, "last_test_year": 2011}, "model": {"name": "trend", "params": {}},
         "compare": {}, "ensembles": {}}  # corn_usa, 3 folds + production, trend: a run that is mostly overhead


def state_config(folder: Path, name: str, overrides: dict) -> Path:
    """configs/corn_usa.yaml with `overrides` (`hindcast` merged into its own, any other key
    replaced), written as `folder/<name>.yaml`: the bench's smaller state runs."""
    raw = yaml.safe_load((ROOT / "configs" / "corn_usa.yaml").read_text())
    raw.update({k: {**raw[k], **v} if k == "hindcast" else v for k, v in overrides.items()})
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def small_config(folder: Path) -> Path:
    return state_config(folder, "corn_usa_small", SMALL)


@contextmanager
def celery_workers(count: int, log_dir: Path, env: dict):
    from hindcast_assets.defs.celery import WorkerPool

    pool = WorkerPool(f"hindcast-bench-{uuid.uuid4().hex[:8]}", str(log_dir), env).start(
        *(f"w{i}" for i in range(1, count + 1)))
    try:
        pool.wait_ready()
        yield {"HINDCAST_CELERY_QUEUE": pool.queue}
    finally:
        pool.stop()


@contextmanager
def postgres_instance(scratch: Path):
    import psycopg2

    from hindcast_assets.instance import PROFILES, ensure_postgres_database, libpq_url

    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/hindcast_bench_{uuid.uuid4().hex[:8]}"
    ensure_postgres_database(url)
    home = scratch / "dagster-pg"
    home.mkdir()
    shutil.copy(PROFILES["postgres"], home / "dagster.yaml")
    try:
        yield {"DAGSTER_HOME": str(home), "DAGSTER_PG_URL": url}
    finally:
        admin = psycopg2.connect(libpq_url(url).rsplit("/", 1)[0] + "/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        admin.close()


def start_moto(log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """moto's S3 API server on a free loopback port, once it answers (the tests' server too);
    TimeoutError after 10 s. `log`: where its request lines go."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = open(log, "w") if log else subprocess.DEVNULL
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=out, stderr=out)
    if log:
        out.close()  # the server holds its own copy
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            return server, url
        except urllib.error.HTTPError:  # it answers (an S3 error is an answer)
            return server, url
        except OSError:
            time.sleep(0.1)
    server.terminate()
    raise TimeoutError(f"moto_server on {url} did not answer in 10 s")


@contextmanager
def s3_server(log: Path | None = None):
    import s3fs

    server, url = start_moto(log)
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
           "FSSPEC_S3_ENDPOINT_URL": url}
    s3fs.S3FileSystem(endpoint_url=url, key="bench", secret="bench").mkdir("bench")
    try:
        yield env, "s3://bench/runs"
    finally:
        server.terminate()
        server.wait(timeout=10)


def alternated(bench, config: Path, sides: dict, repeats: int) -> dict:
    """`sides`: name -> job kwargs; each side run `repeats` times, alternated; medians."""
    times = {name: [] for name in sides}
    for _ in range(repeats):
        for name, kwargs in sides.items():
            times[name].append(bench.job("hindcast", config, **kwargs)["seconds"])
    return {name: {"seconds": statistics.median(t), "runs": t} for name, t in times.items()}


def scaleout_figures(bench, county_config: Path, one_worker: dict, repeats: int) -> dict:
    two = bench.job("hindcast-2-workers", county_config)
    with celery_workers(2, bench.scratch, bench.env) as env:
        celery = bench.job("hindcast-celery-2-workers", county_config, env=env)
    speedup = {"in_process_1_s": one_worker["seconds"], "in_process_2_s": two["seconds"],
               "celery_2_s": celery["seconds"], "speedup_in_process": one_worker["seconds"] / two["seconds"],
               "speedup_celery": one_worker["seconds"] / celery["seconds"]}
    small = small_config(bench.scratch)
    with postgres_instance(bench.scratch) as pg_env:
        instance = alternated(bench, small, {"sqlite": {}, "postgres": {"env": pg_env}}, repeats)
    with s3_server(bench.scratch / "moto.log") as (s3_env, s3_runs):
        storage = alternated(bench, small, {"local": {}, "s3": {"env": s3_env, "runs_dir": s3_runs}}, repeats)
    storage["s3"]["requests_per_run"] = requests_in(bench.scratch / "moto.log") / repeats
    return {"speedup": speedup, "instance_overhead": instance, "s3_cost": storage}


def requests_in(log: Path) -> int:
    """S3 API requests moto answered (one access-log line each)."""
    return len(re.findall(r'"(?:GET|HEAD|PUT|POST|DELETE) /', log.read_text()))


def rows(f: dict) -> list[tuple[str, str, str]]:
    s, i, c = f["speedup"], f["instance_overhead"], f["s3_cost"]
    return [
        ("county hindcast on 2 workers vs 1 in-process run",
         f"fold chunks in 2 processes {s['speedup_in_process']:.2f}x ({s['in_process_1_s']:.1f} s -> "
         f"{s['in_process_2_s']:.1f} s); on 2 Celery workers {s['speedup_celery']:.2f}x (-> {s['celery_2_s']:.1f} s); "
         "1 run each", ">= 1.6x"),
        ("PostgreSQL vs SQLite instance, small hindcast (corn_usa, trend, 3 folds)",
         f"{i['postgres']['seconds']:.1f} s vs {i['sqlite']['seconds']:.1f} s: "
         f"{i['postgres']['seconds'] - i['sqlite']['seconds']:+.1f} s per run "
         f"({i['postgres']['seconds'] / i['sqlite']['seconds']:.2f}x; median of {len(i['sqlite']['runs'])})", "-"),
        ("s3:// run_dir (moto on loopback) vs local disk, same hindcast",
         f"{c['s3']['seconds']:.1f} s vs {c['local']['seconds']:.1f} s: "
         f"{c['s3']['seconds'] - c['local']['seconds']:+.1f} s per run "
         f"({c['s3']['seconds'] / c['local']['seconds']:.2f}x; median of {len(c['local']['runs'])}; "
         f"{c['s3'].get('requests_per_run', float('nan')):.0f} requests a run)", "<= 1.2"),
    ]
