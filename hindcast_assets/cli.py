"""`hindcast`: run the hindcast or fit the production model through Dagster, and show a run_dir.

The run_dir is the last line of stdout; progress and errors go to stderr.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path

from hindcast_assets.paths import PROJECT_ROOT, STATE_DIR, default_runs_dir


class UsageError(ValueError):
    """Arguments that cannot work together; the message names them."""


def _ensure_dagster_home() -> None:
    """Runs must land on a persistent instance so `dagster dev` shows them: `$DAGSTER_HOME`,
    else the project's `.state/dagster`, with the project's dagster.yaml if it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or STATE_DIR / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)


def _progress_to_stderr() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("hindcast_assets.progress")
    log.handlers = [handler]  # one handler, on this call's stderr
    log.setLevel(logging.INFO)
    log.propagate = False


def cmd_run(args: argparse.Namespace) -> int:
    from hindcast_assets.config import load_config
    from hindcast_assets.runner import check_runs_dir, preflight, run_experiment

    cfg = load_config(args.config)
    preflight(cfg, args.config)
    runs_dir = args.runs_dir or default_runs_dir()
    check_runs_dir(runs_dir)
    _ensure_dagster_home()
    _progress_to_stderr()
    result = run_experiment(cfg, args.what, runs_dir=runs_dir, source=args.config)
    print(result.summary())
    print(result.run_dir)
    return 0


def _national_line(rd, at) -> str:
    from hindcast_assets.pipeline import store

    national = store.FORECAST_NATIONAL.read(rd, **store.forecast_fields(at)).iloc[0]
    bounds = [c for c in national.index if c.startswith(("lower_", "upper_"))]
    return (f"national forecast {at.season_year} as of {at}: {national['prediction']:.2f} "
            + " ".join(f"{c}={national[c]:.2f}" for c in bounds))


def cmd_forecast(args: argparse.Namespace) -> int:
    from hindcast_assets.core.season_dates import ForecastDate
    from hindcast_assets.pipeline import store
    from hindcast_assets.runner import run_forecasts

    _ensure_dagster_home()
    at = ForecastDate.parse(args.init_date, args.season_year)
    rd = run_forecasts(args.run_dir, [at])
    print(_national_line(rd, at))
    print(store.FORECAST_NATIONAL.path(rd, **store.forecast_fields(at)).parent.parent)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from hindcast_assets.core.season_dates import ForecastDate, MonthDay
    from hindcast_assets.runner import run_forecasts

    _ensure_dagster_home()
    _progress_to_stderr()
    dates = [ForecastDate(y, MonthDay.parse(md)) for y in args.season_years for md in args.init_dates]
    rd = run_forecasts(args.run_dir, dates)
    for at in dates:
        print(_national_line(rd, at))
    print(rd)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    import pandas as pd

    from hindcast_assets.runner import replay

    _ensure_dagster_home()
    for arrival in replay(args.run_dir, args.season_year):
        made = []
        for init, row in arrival.forecasts:
            lower = sorted(c for c in row.index if c.startswith("lower_"))
            interval = (f" [{row[lower[0]]:.1f}, {row[lower[0].replace('lower_', 'upper_')]:.1f}]"
                        if lower and pd.notna(row[lower[0]]) else "")
            made.append(f"{init}: {row['prediction']:.1f}{interval}")
        print(f"data through {arrival.data_through}: {'; '.join(made) or 'no new forecast'}")
    print(args.run_dir)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from hindcast_assets.runner import resume

    _ensure_dagster_home()
    _progress_to_stderr()
    outcome = resume(args.run_dir)
    if not outcome.dagster_run_id:
        print("nothing to resume: the run_dir is complete", file=sys.stderr)
    print(outcome.summary())
    print(outcome.run_dir)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from hindcast_assets.core.retention import delete_run_dir, prune_plan

    if args.keep is None and args.older_than is None:
        raise UsageError("prune: --keep N or --older-than DAYS: say which run_dirs may go")
    if (args.keep is not None and args.keep < 1) or (args.older_than is not None and args.older_than < 0):
        raise UsageError("prune: --keep must be at least 1 and --older-than at least 0")
    runs_dir = args.runs_dir or default_runs_dir()
    plan = prune_plan(runs_dir, args.keep, args.older_than)
    for decision in plan:
        verb = ("deleted" if args.apply else "would delete") if decision.delete else "keep"
        if decision.delete and args.apply:
            delete_run_dir(decision.run_dir)
        print(f"{verb:<12} {decision.run_dir}  ({decision.reason})")
    doomed = sum(d.delete for d in plan)
    print(f"{doomed} of {len(plan)} run_dirs {'deleted' if args.apply else 'would be deleted; --apply to delete'}",
          file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from hindcast_assets.pipeline.result import ExperimentResult

    print(ExperimentResult.from_run_dir(args.run_dir).describe())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hindcast", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialise a job: hindcast, fit-production or forecast")
    what = run.add_subparsers(dest="what", required=True)
    for name in ("hindcast", "fit-production"):
        job = what.add_parser(name, help=f"mint a run_dir and materialise {name} into it")
        job.add_argument("--config", required=True, help="experiment YAML, e.g. configs/corn_usa.yaml")
        job.add_argument("--runs-dir", help="where to mint the run_dir (default ${INPUT_DATA_DIR}/runs)")
        job.set_defaults(func=cmd_run)
    forecast = what.add_parser("forecast", help="forecast one (season_year, init_date) into a run_dir")
    forecast.add_argument("--run-dir", required=True)
    forecast.add_argument("--season-year", required=True, type=int)
    forecast.add_argument("--init-date", required=True, help="YYYY-MM-DD")
    forecast.set_defaults(func=cmd_forecast)
    backfill = sub.add_parser("backfill", help="forecast many (season_year, init_date) partitions")
    backfill.add_argument("what", choices=["forecast"])
    backfill.add_argument("--run-dir", required=True)
    backfill.add_argument("--season-years", required=True, type=int, nargs="+")
    backfill.add_argument("--init-dates", required=True, nargs="+", help="month-days, e.g. 07-01 08-01")
    backfill.set_defaults(func=cmd_backfill)
    replay = sub.add_parser("replay", help="replay a past season's data month by month through the sensor")
    replay.add_argument("--run-dir", required=True, help="a run_dir with models (e.g. from `run hindcast`)")
    replay.add_argument("--season-year", required=True, type=int)
    replay.set_defaults(func=cmd_replay)
    resume = sub.add_parser("resume", help="complete a killed or failed run_dir: only what its manifest lacks")
    resume.add_argument("run_dir")
    resume.set_defaults(func=cmd_resume)
    prune = sub.add_parser("prune", help="delete old run_dirs (a dry run unless --apply)")
    prune.add_argument("--runs-dir", help="folder of run_dirs (default ${INPUT_DATA_DIR}/runs)")
    prune.add_argument("--keep", type=int, help="keep the newest N run_dirs of each experiment")
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="delete run_dirs older than DAYS")
    prune.add_argument("--apply", action="store_true", help="delete; without it, only say what would go")
    prune.set_defaults(func=cmd_prune)
    show = sub.add_parser("show", help="what ExperimentResult.from_run_dir sees in a run_dir")
    show.add_argument("run_dir")
    show.set_defaults(func=cmd_show)
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    args = parser().parse_args(argv)
    from hindcast_assets.config import ConfigError
    from hindcast_assets.core.data import InputError
    from hindcast_assets.core.forecast import ForecastError
    from hindcast_assets.core.rundir import UnsafeArtefactError
    from hindcast_assets.pipeline.runlog import ManifestMismatchError
    from hindcast_assets.core.season_dates import SeasonDateError
    from hindcast_assets.runner import PreflightError, RunFailed

    try:
        return args.func(args)
    except BrokenPipeError:  # `hindcast show RUN_DIR | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ConfigError, InputError, PreflightError, ForecastError, SeasonDateError, FileNotFoundError, RunFailed,
            UnsafeArtefactError, ManifestMismatchError, UsageError) as exc:
        print(f"hindcast: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
