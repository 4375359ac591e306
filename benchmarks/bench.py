"""`make bench`: what the pipeline costs on this machine, and how the cost grows.

Every timed run is a fresh Python process (`bench.py worker ...`), so no figure is helped by what
an earlier one left in memory, and each reports its own peak RSS. Figures are medians of the
repeats given below. Writes `benchmarks/results/<date>T<HHMM>.json` and `.md`; see
benchmarks/README.md for what each figure means and how to reproduce it.

    python benchmarks/bench.py            # the full set (about 20 min on 2 cores)
    python benchmarks/bench.py --quick    # tiny sizes, a smoke run (the test suite runs it)
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from scaleout import state_config  # noqa: E402
from synthetic import write_config, write_synthetic  # noqa: E402

from hindcast_assets.instance import PROFILES  # noqa: E402

STATE_CONFIG = ROOT / "configs" / "corn_usa.yaml"
# Runs of minutes are costly: the long runs once each (said so in the table), cheap figures medians
# of `repeats`. The county overhead and threads ratios run at `pair_geos`, the fan-out at the
# largest size, so the whole set stays within 20 minutes on 2 cores (24 min with 3,000 geos and the
# install, 7 Dec); `--install` adds the install on a fresh clone (~1 min).
FULL = {"geos": [250, 500, 1000], "folds": [5, 10, 20], "fold_geos": 500, "pair_geos": 500, "seasons": 40,
        "repeats": 2, "pairs": 1, "state": True, "install": False, "scaleout": True, "at_once": 3}
QUICK = {"geos": [30, 60], "folds": [2, 3], "fold_geos": 30, "pair_geos": 60, "seasons": 15, "repeats": 1,
         "pairs": 1, "state": False, "install": False, "scaleout": True, "at_once": 2}
# The hindcasts started together: corn_usa with every model and interval, 1 test season + production
AT_ONCE = {"hindcast": {"first_test_year": 2023, "last_test_year": 2023}}
SCALES = {"hindcast-2-workers": (2, "in_process"), "hindcast-celery-2-workers": (2, "celery")}  # workers, executor


# ---- worker: one measured job in this process --------------------------------------------------

def forecast_refresh(run_dir: str) -> float:
    """Seconds from a sensor tick that sees one new init date to its delivery CSV: the replay's
    arrivals that make exactly one forecast (2011, month by month), median."""
    from hindcast_assets.launch.replay import replay

    times, start = [], time.perf_counter()
    for arrival in replay(run_dir, 2011):
        if len(arrival.forecasts) == 1:
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return statistics.median(times)


def worker(what: str, config: str, runs_dir: str) -> dict:
    import warnings

    warnings.filterwarnings("ignore")
    from hindcast_assets.config import load_config
    from hindcast_assets.launch.hindcast import run_experiment

    if what == "forecast-refresh":  # `config` is the run_dir of a hindcast here
        return {"seconds": forecast_refresh(config), "max_rss_mb": _max_rss_mb()}
    cfg = load_config(config)
    start, cpu = time.perf_counter(), _cpu_s()
    run_dir = None
    # Every job fits every fold (--no-reuse), so repeats into one runs folder cost the same; only
    # `hindcast-reusing` copies folds a run_dir beside it holds (the new-season figure).
    if what in ("hindcast", "fit-production"):
        run_dir = str(run_experiment(cfg, what, runs_dir, reuse_folds=False).run_dir)
    elif what == "hindcast-reusing":
        run_dir = str(run_experiment(cfg, "hindcast", runs_dir).run_dir)
    elif what in SCALES:
        from hindcast_assets.launch.hindcast import Scale

        run_dir = str(run_experiment(cfg, "hindcast", runs_dir, scale=Scale(*SCALES[what]), reuse_folds=False).run_dir)
    elif what == "plain":
        from hindcast_assets.pipeline.loop import plain_hindcast

        run_dir = str(plain_hindcast(cfg, runs_dir, reuse_folds=False))
    else:
        raise SystemExit(f"bench.py worker: unknown job {what!r}")
    return {"seconds": time.perf_counter() - start, "cpu_s": _cpu_s() - cpu, "max_rss_mb": _max_rss_mb(),
            "run_dir": run_dir}


def _cpu_s() -> float:
    """User + system CPU seconds of this process: unlike wall time, not inflated by CPU stolen
    by other tenants of the machine (this code fits on one core)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (`VmRSS:`, `VmHWM:`), in MB."""
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(field)).split()[1]) / 1024


def _max_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM). Not ru_maxrss: Linux carries that across fork and
    exec, so a worker would report its parent's peak if larger."""
    return status_mb("VmHWM:")


# ---- driver -------------------------------------------------------------------------------------

def fresh_state(scratch: Path) -> dict[str, str]:
    """A new Dagster home (the SQLite profile `make demo` runs on) and MLflow store in `scratch`:
    the variables that point a run at them."""
    (scratch / "dagster").mkdir(parents=True)
    shutil.copy(PROFILES["sqlite"], scratch / "dagster" / "dagster.yaml")
    return {"DAGSTER_HOME": str(scratch / "dagster"), "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}"}


class Bench:
    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.env = {**os.environ, **fresh_state(scratch), "PYTHONWARNINGS": "ignore"}

    def _worker(self, what: str, config: Path | str, runs_dir: str | None = None) -> list[str]:
        """The command line of one measured job in a fresh process (`worker` below)."""
        return [sys.executable, __file__, "worker", what, str(config), runs_dir or str(self.scratch / "runs")]

    def job(self, what: str, config: Path | str, repeats: int = 1, env: dict | None = None,
            runs_dir: str | None = None) -> dict:
        """Median seconds and max peak RSS of `repeats` fresh-process runs of one job (`env`:
        variables over the bench's own, e.g. another Dagster instance)."""
        runs = []
        for _ in range(repeats):
            out = subprocess.run(self._worker(what, config, runs_dir), env={**self.env, **(env or {})}, check=True,
                                 capture_output=True, text=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {what} {Path(config).name}: {runs[-1]['seconds']:.1f} s, {runs[-1]['max_rss_mb']:.0f} MB",
                  file=sys.stderr)
        return {"seconds": statistics.median(r["seconds"] for r in runs),
                "cpu_s": statistics.median(r.get("cpu_s", r["seconds"]) for r in runs),
                "max_rss_mb": max(r["max_rss_mb"] for r in runs), "runs": [r["seconds"] for r in runs],
                "run_dir": runs[-1].get("run_dir")}

    def at_once(self, config: Path, count: int) -> dict:
        """`count` hindcasts of `config` one after another, then `count` started together: the
        wall time of each set and their ratio (1.0: sharing the machine costs nothing more)."""
        after = [self.job("hindcast", config)["seconds"] for _ in range(count)]
        start = time.perf_counter()
        jobs = [subprocess.Popen(self._worker("hindcast", config), env=self.env, stdout=subprocess.PIPE, text=True)
                for _ in range(count)]
        printed = [job.communicate()[0] for job in jobs]
        together = time.perf_counter() - start
        if any(job.returncode for job in jobs):
            raise SystemExit(f"bench.py: a hindcast started together with others failed ({config})")
        outs = [json.loads(text.strip().splitlines()[-1]) for text in printed]
        print(f"  {count} x hindcast {config.name} at once: {together:.1f} s", file=sys.stderr)
        return {"count": count, "config": config.name, "one_after_another_s": sum(after), "together_s": together,
                "each_together_s": [o["seconds"] for o in outs], "ratio": together / sum(after)}

    def pair(self, config: Path, pairs: int, first: dict | None = None) -> dict:
        """Dagster hindcast and plain loop, alternated `pairs` times (so drift on the machine hits
        both alike); medians, and their ratio in wall and in CPU time."""
        dagster = [first] if first else []
        plain = []
        for i in range(pairs):
            if len(dagster) <= i:
                dagster.append(self.job("hindcast", config))
            plain.append(self.job("plain", config))
        d, p = _merge(dagster), _merge(plain)
        return {"dagster": d, "plain": p, "ratio": d["seconds"] / p["seconds"], "cpu_ratio": d["cpu_s"] / p["cpu_s"]}


def _merge(jobs: list[dict]) -> dict:
    return {"seconds": statistics.median(j["seconds"] for j in jobs),
            "cpu_s": statistics.median(j["cpu_s"] for j in jobs),
            "max_rss_mb": max(j["max_rss_mb"] for j in jobs), "runs": [s for j in jobs for s in j["runs"]],
            "run_dir": jobs[-1]["run_dir"]}


def startup(repeats: int = 5) -> dict:
    """Seconds to import the code location in a fresh interpreter (what `dagster dev`, the daemon
    and every sensor tick's code server pay), beside a bare interpreter."""
    def median_run(code: str) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return {"code_location_s": median_run("from hindcast_assets.definitions import defs; defs()"), "python_s": median_run("pass")}


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Slope of log(seconds) on log(size): 1.0 is linear growth."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def install(scratch: Path) -> dict:
    """The README's first set-up step on a fresh clone with an empty uv cache: time and size."""
    clone = scratch / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    # the clone is not beside the shared data as this checkout is: name the folder make would use
    env = {"SHARED_DATA": str((ROOT / "../shared/data").resolve()), **os.environ,
           "UV_CACHE_DIR": str(scratch / "uv-cache")}
    env.pop("VIRTUAL_ENV", None)
    start = time.perf_counter()
    subprocess.run(["make", "install"], cwd=clone, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    size = subprocess.run(["du", "-sm", ".venv", ".state/tools"], cwd=clone, capture_output=True, text=True,
                          check=True).stdout.split()
    return {"seconds": seconds, "venv_mb": int(size[0]), "tools_mb": int(size[2])}


def run(sizes: dict, out: Path) -> dict:
    started = time.perf_counter()
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="hindcast_bench_") as tmp:
        scratch = Path(tmp)
        bench = Bench(scratch)
        figures["startup"] = startup(max(sizes["repeats"], 3))
        growth, configs = {}, {}
        for n in sizes["geos"]:
            data = write_synthetic(scratch / f"geos{n}", n, sizes["seasons"])
            configs[n] = write_config(data, "synthetic", sizes["folds"][-1], sizes["seasons"])
            growth[n] = bench.job("hindcast", configs[n])
        figures["growth_geos"] = {"points": growth, "exponent": exponent(sizes["geos"],
                                                                          [growth[n]["seconds"] for n in growth])}
        n, k = sizes["pair_geos"], sizes["folds"][-1]
        figures["overhead_county"] = {"geos": n, "folds": k, **bench.pair(configs[n], sizes["pairs"], growth[n])}
        production = bench.job("fit-production", configs[n])
        figures["fit_production_county"] = {"seconds": production["seconds"], "runs": production["runs"],
                                            "hindcast_s": growth[n]["seconds"],
                                            "ratio": production["seconds"] / growth[n]["seconds"],
                                            "one_fold_share": 1 / (k + 1)}
        m = sizes["fold_geos"]
        folder = configs[m].parent
        by_folds = {f: bench.job("hindcast", write_config(folder, f"folds{f}", f, sizes["seasons"]))
                    for f in sizes["folds"][:-1]} | {k: growth[m]}
        figures["growth_folds"] = {"geos": m, "points": by_folds,
                                   "exponent": exponent(list(by_folds), [p["seconds"] for p in by_folds.values()])}
        p = sizes["pair_geos"]
        two = bench.job("hindcast", write_config(configs[p].parent, "threads2", k, sizes["seasons"], threads=2))
        figures["parallel"] = {"geos": p, "threads_1_s": growth[p]["seconds"], "threads_2_s": two["seconds"],
                               "speedup": growth[p]["seconds"] / two["seconds"]}
        if sizes["state"]:
            figures["overhead_state"] = bench.pair(STATE_CONFIG, 1)
            hindcast = figures["overhead_state"]["dagster"]
            production = bench.job("fit-production", STATE_CONFIG, sizes["repeats"])
            figures["fit_production_state"] = {"seconds": production["seconds"], "runs": production["runs"],
                                               "hindcast_s": hindcast["seconds"],
                                               "ratio": production["seconds"] / hindcast["seconds"],
                                               "one_fold_share": 1 / 23}
            from new_season import new_season_figures

            figures.update(new_season_figures(bench, hindcast))
            refresh = bench.job("forecast-refresh", hindcast["run_dir"])
            figures["forecast_refresh_state"] = {"seconds": refresh["seconds"],
                                                 "ratio": refresh["seconds"] / hindcast["seconds"]}
        # corn_usa narrowed to AT_ONCE in the full set; the smallest synthetic county in the quick one
        together = state_config(scratch, "corn_usa_at_once", AT_ONCE) if sizes["state"] else configs[sizes["geos"][0]]
        figures["at_once"] = bench.at_once(together, sizes["at_once"])
        if sizes["scaleout"]:
            from scaleout import scaleout_figures

            largest = sizes["geos"][-1]  # fold fan-out pays a process per chunk: measured where the folds are dearest
            figures.update(scaleout_figures(bench, configs[largest], growth[largest], sizes["repeats"]))
        if sizes["install"]:
            figures["install"] = install(scratch)
    figures["bench_wall_s"] = time.perf_counter() - started
    return write_results(figures, sizes, out)


def write_results(figures: dict, sizes: dict, out: Path) -> dict:
    meta = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "sizes": sizes,
            "versions": {p: version(p) for p in ("dagster", "lightgbm", "xgboost-cpu", "pandas", "scikit-learn")}}
    result = {"meta": meta, "figures": figures}
    out.mkdir(parents=True, exist_ok=True)
    stamp = meta["date"][:16].replace(":", "")  # <date>T<HHMM>: several runs a day keep their own record
    (out / f"{stamp}.json").write_text(json.dumps(result, indent=2))
    (out / f"{stamp}.md").write_text(markdown(result))
    print(markdown(result))
    return result


def _runs(figure: dict) -> str:
    n = len(figure.get("runs", [None]))
    return "1 run" if n == 1 else f"median of {n}"


def rows(f: dict) -> list[tuple[str, str, str]]:
    """(figure, value, bar) lines of the results table, for the figures present."""
    out = [("code location start-up", f"{f['startup']['code_location_s']:.2f} s (bare Python "
            f"{f['startup']['python_s']:.2f} s)", "<= 3 s")]
    for scope in ("county", "state"):
        o = f.get(f"overhead_{scope}")
        if o:
            where = f"{o['geos']:,} geos x {o['folds']} folds" if scope == "county" else "corn_usa (make demo)"
            out.append((f"orchestration overhead, {where}", f"{o['ratio']:.3f} (Dagster {o['dagster']['seconds']:.1f} s"
                        f" / plain loop {o['plain']['seconds']:.1f} s; {_runs(o['plain'])} each, alternated); "
                        f"CPU time {o['cpu_ratio']:.3f}", "<= 1.10"))
        if o and scope == "state":
            out.append(("make demo's hindcast (corn_usa 1990-2023, every interval), installed",
                        f"{o['dagster']['seconds']:.1f} s", "<= 150 s (goal 90)"))
        p = f.get(f"fit_production_{scope}")
        if p:
            out.append((f"fit-production / hindcast, {scope}", f"{p['ratio']:.3f} ({p['seconds']:.1f} s / "
                        f"{p['hindcast_s']:.1f} s; one fold's share {p['one_fold_share']:.3f}; {_runs(p)})",
                        "-> one fold"))
    if "new_season" in f:
        from new_season import rows as new_season_rows

        out += new_season_rows(f)
    r = f.get("forecast_refresh_state")
    if r:
        out.append(("forecast refresh, sensor tick to delivery CSV", f"{r['seconds']:.1f} s ({r['ratio']:.3f} of "
                    "the hindcast)", "-"))
    a = f.get("at_once")
    if a:
        out.append((f"{a['count']} hindcasts started together vs one after another ({a['config']})",
                    f"{a['ratio']:.2f} ({a['together_s']:.1f} s vs {a['one_after_another_s']:.1f} s)", "<= 1.2"))
    for dim in ("geos", "folds"):
        g = f[f"growth_{dim}"]
        points = ", ".join(f"{k}: {v['seconds']:.0f} s / {v['max_rss_mb']:.0f} MB" for k, v in g["points"].items())
        out.append((f"growth in {dim} (wall / peak RSS)", f"{points}; exponent {g['exponent']:.2f}", "<= 1 (linear)"))
    par = f["parallel"]
    out.append((f"model threads 2 vs 1, {par['geos']} geos", f"speed-up {par['speedup']:.2f} "
                f"({par['threads_1_s']:.1f} s -> {par['threads_2_s']:.1f} s)", "-"))
    if "speedup" in f:
        from scaleout import rows as scaleout_rows

        out += scaleout_rows(f)
    if "install" in f:
        i = f["install"]
        out.append(("install (make install, fresh clone, empty uv cache)",
                    f"{i['seconds']:.0f} s, .venv {i['venv_mb']} MB + uv {i['tools_mb']} MB", "-"))
    out.append(("make bench wall time", f"{f['bench_wall_s'] / 60:.1f} min", "< 20 min"))
    return out


def markdown(result: dict) -> str:
    meta = result["meta"]
    head = [f"# Benchmarks {meta['date']}", "",
            f"{meta['machine']}, {meta['cpus']} CPUs, Python {meta['python']}; "
            + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()), "",
            "| figure | value | bar |", "|---|---|---|"]
    return "\n".join(head + [f"| {a} | {b} | {c} |" for a, b, c in rows(result["figures"])]) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command")
    w = sub.add_parser("worker", help="internal: time one job in this process, print JSON")
    w.add_argument("what", choices=["hindcast", "hindcast-reusing", "plain", "fit-production", "forecast-refresh",
                                    *SCALES])
    w.add_argument("config")
    w.add_argument("runs_dir")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    p.add_argument("--install", action="store_true", help="also time make install on a fresh clone")
    p.add_argument("--out", default=str(HERE / "results"), help="folder for <date>.json and <date>.md")
    p.add_argument("--new-season", action="store_true", help="only the retraining figure (two corn_usa hindcasts "
                                                             "and the new season, about 12 min)")
    args = p.parse_args(argv)
    if args.command == "worker":
        print(json.dumps(worker(args.what, args.config, args.runs_dir)))
    elif args.new_season:
        with tempfile.TemporaryDirectory(prefix="hindcast_bench_") as tmp:
            bench = Bench(Path(tmp))
            from new_season import new_season_figures, rows as new_season_rows

            figures = new_season_figures(bench, bench.job("hindcast", STATE_CONFIG))
        print("\n".join(f"| {a} | {b} | {c} |" for a, b, c in new_season_rows(figures)))
        print(json.dumps(figures))
    else:
        run((QUICK if args.quick else FULL) | ({"install": True} if args.install else {}), Path(args.out))


if __name__ == "__main__":
    main()
