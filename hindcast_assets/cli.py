"""`hindcast`: run the hindcast or fit the production model through Dagster, and show a run_dir.

The run_dir is the last line of stdout; progress and errors go to stderr.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from hindcast_assets.core.errors import UserError
from hindcast_assets.paths import default_runs_dir


class UsageError(UserError, ValueError):
    """Arguments that cannot work together; the message names them."""


def _ensure_dagster_home() -> None:
    from hindcast_assets.instance import ensure_dagster_home

    ensure_dagster_home()


class _StderrNow(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the message, not the stream it was made
    with (which may be closed by then: a caller that swaps stderr, such as pytest's capture)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        """A heartbeat (TRANSIENT) overwrites one line on a terminal, until the next line replaces it."""
        from hindcast_assets.pipeline.progress import TRANSIENT

        if not self.stream.isatty():
            return super().emit(record)
        end = "" if getattr(record, TRANSIENT, False) else "\n"
        self.stream.write(f"\r\x1b[K{self.format(record)}{end}")
        self.stream.flush()


def _progress_to_stderr() -> None:
    handler = _StderrNow()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("hindcast_assets.progress")
    log.handlers = [handler]  # one handler, on this call's stderr
    log.setLevel(logging.INFO)
    log.propagate = False


def _prepared(args: argparse.Namespace):
    """The config of `--config`, checked by the preflight, and the runs folder checked writable,
    before anything is written; then the instance and progress on stderr."""
    from hindcast_assets.config import load_config
    from hindcast_assets.launch.hindcast import check_runs_dir, preflight

    cfg = load_config(args.config)
    preflight(cfg, args.config)
    runs_dir = args.runs_dir or default_runs_dir()
    check_runs_dir(runs_dir)
    _ensure_dagster_home()
    _progress_to_stderr()
    return cfg, runs_dir


def cmd_run(args: argparse.Namespace) -> int:
    from hindcast_assets.launch.hindcast import run_experiment

    cfg, runs_dir = _prepared(args)
    from hindcast_assets.defs.deployment import Executor
    from hindcast_assets.launch.hindcast import Scale

    scale = Scale(args.workers, Executor(args.executor)) if args.what == "hindcast" else Scale()
    result = run_experiment(cfg, args.what, runs_dir=runs_dir, source=args.config, scale=scale,
                            reuse_folds=not args.no_reuse)
    print(result.summary())
    print(result.run_dir)
    return 0


def _national_line(rd, at) -> str:
    from hindcast_assets.core.aggregate import NO_NATIONAL
    from hindcast_assets.pipeline import store

    rows = store.FORECAST_NATIONAL.read_optional(rd, **store.forecast_fields(at))
    if rows is None or rows.empty:
        return f"national forecast {at.season_year} as of {at}: none ({NO_NATIONAL})"
    national = rows.iloc[0]
    bounds = [c for c in national.index if c.startswith(("lower_", "upper_"))]
    return (f"national forecast {at.season_year} as of {at}: {national['prediction']:.2f} "
            + " ".join(f"{c}={national[c]:.2f}" for c in bounds))


def cmd_forecast(args: argparse.Namespace) -> int:
    from hindcast_assets.core.season_dates import ForecastDate
    from hindcast_assets.pipeline import store
    from hindcast_assets.launch.forecast import run_forecasts

    _ensure_dagster_home()
    at = ForecastDate.parse(args.init_date, args.season_year)
    rd = run_forecasts(args.run_dir, [at])
    print(_national_line(rd, at))
    print(store.FORECAST_NATIONAL.path(rd, **store.forecast_fields(at)).parent.parent)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from hindcast_assets.core.season_dates import ForecastDate, MonthDay
    from hindcast_assets.launch.forecast import run_forecasts

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

    from hindcast_assets.launch.replay import replay

    _ensure_dagster_home()
    for arrival in replay(args.run_dir, args.season_year, args.vintages):
        made = []
        for init, row in arrival.forecasts:
            lower = sorted(c for c in row.index if c.startswith("lower_"))
            interval = (f" [{row[lower[0]]:.1f}, {row[lower[0].replace('lower_', 'upper_')]:.1f}]"
                        if lower and pd.notna(row[lower[0]]) else "")
            made.append(f"{init}: {row['prediction']:.1f}{interval}")
        published = f"vintage {arrival.vintage}, " if arrival.vintage else ""
        print(f"{published}data through {arrival.data_through}: {'; '.join(made) or 'no new forecast'}")
    print(args.run_dir)
    return 0


def cmd_replay_seasons(args: argparse.Namespace) -> int:
    from hindcast_assets.config import load_config
    from hindcast_assets.core.rundir import utc_stamp
    from hindcast_assets.launch.hindcast import preflight
    from hindcast_assets.launch.replay import replay_seasons

    cfg = load_config(args.config)
    preflight(cfg, args.config)
    if not cfg.hindcast.first_test_year < args.first < args.last:
        raise UsageError(f"replay-seasons: need first_test_year {cfg.hindcast.first_test_year} < --first < --last")
    folder = args.folder or f"{default_runs_dir()}/replays/{cfg.experiment_key}_{utc_stamp()}"
    _ensure_dagster_home()
    for landing in replay_seasons(cfg, args.config, args.first, args.last, folder):
        print(landing.line(), flush=True)
    print(folder)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from hindcast_assets.launch.hindcast import resume

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
    from hindcast_assets.pipeline.registry import Registry

    plan = prune_plan(runs_dir, args.keep, args.older_than, protected=Registry().aliased_run_dirs())
    for decision in plan:
        verb = ("deleted" if args.apply else "would delete") if decision.delete else "keep"
        if decision.delete and args.apply:
            delete_run_dir(decision.run_dir)
        print(f"{verb:<12} {decision.run_dir}  ({decision.reason})")
    doomed = sum(d.delete for d in plan)
    print(f"{doomed} of {len(plan)} run_dirs {'deleted' if args.apply else 'would be deleted; --apply to delete'}",
          file=sys.stderr)
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    from hindcast_assets.launch.replay import retrain

    cfg, runs_dir = _prepared(args)
    result = retrain(cfg, args.config, runs_dir, args.force)
    print(f"retrained: {result.retrained}, promoted: {result.promoted}: {result.reason}", file=sys.stderr)
    print(result.to_json())
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    from hindcast_assets.core.rundir import RunDir
    from hindcast_assets.pipeline.lifecycle import promote

    if not args.reason.strip():
        raise UsageError("promote: --reason: say why this run_dir is signed off (it is recorded)")
    version = promote(RunDir(args.run_dir), f"manual sign-off by {os.environ.get('USER', 'unknown')}: {args.reason}")
    print(f"champion: version {version.version} of {version.name}: {version.run_dir}")
    print(version.run_dir)
    return 0


def cmd_champion(args: argparse.Namespace) -> int:
    from hindcast_assets.config import load_config
    from hindcast_assets.pipeline.lifecycle import describe_champion

    print(describe_champion(load_config(args.config).experiment_key))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from hindcast_assets.pipeline.result import ExperimentResult

    print(ExperimentResult.from_run_dir(args.run_dir).describe())
    return 0


def cmd_season(args: argparse.Namespace) -> int:
    from hindcast_assets.pipeline.result import ExperimentResult

    result = ExperimentResult.from_run_dir(args.run_dir)
    table = result.season_table(args.season_year)
    if table.empty:
        raise UsageError(f"season: {args.run_dir} holds no national forecast"
                         + (f" of season {args.season_year}" if args.season_year else "")
                         + "; make them with `hindcast run forecast` or `hindcast replay`")
    if args.csv:
        print(table.to_csv(index=False), end="")
    else:
        names = result.cfg.yardstick_name or "the yardstick"
        print(f"{result.cfg.experiment_key}: national forecasts ({result.cfg.unit}); yardstick: {names}")
        print(table.to_markdown(index=False, floatfmt=".1f"))
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from hindcast_assets.config import load_config
    from hindcast_assets.pipeline.ingest import ingest_nass, ingest_noaa

    pull = {"noaa": ingest_noaa, "nass": ingest_nass}[args.source](load_config(args.config), args.url)
    vintages = "; ".join(f"{variable} {', '.join(kept)}" for variable, kept in pull.vintages.items())
    fetched = ", ".join(pull.fetched) or "nothing new"
    print(f"fetched: {fetched}; vintages in use: {vintages}", file=sys.stderr)
    for path in pull.inputs.values():
        print(path)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number of at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hindcast", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="materialise a job: hindcast, fit-production or forecast")
    what = run.add_subparsers(dest="what", required=True)
    for name in ("hindcast", "fit-production"):
        job = what.add_parser(name, help=f"mint a run_dir and materialise {name} into it")
        job.add_argument("--config", required=True, help="experiment YAML, e.g. configs/corn_usa.yaml")
        job.add_argument("--runs-dir", help="where to mint the run_dir (default ${INPUT_DATA_DIR}/runs)")
        job.add_argument("--no-reuse", action="store_true",
                         help="refit every fold, even one a complete run_dir beside it holds with the same code, "
                              "config and data (by default that fold is copied)")
        job.set_defaults(func=cmd_run)
        if name == "hindcast":
            job.add_argument("--workers", type=_positive, default=1,
                             help="fold chunks run side by side as runs of their own (default 1: one run)")
            job.add_argument("--executor", choices=["in_process", "celery"], default="in_process",
                             help="where steps run: the run's process, or Celery workers (`make workers`)")
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
    replay.add_argument("--vintages", help="a folder of kept nClimDiv files (`hindcast ingest noaa` keeps them in "
                                           "<input folder>/vintages/nclimdiv): replay each vintage as published, "
                                           "the forecasts reading it; default: the final data, a month at a time")
    replay.set_defaults(func=cmd_replay)
    seasons = sub.add_parser("replay-seasons", help="season rollover: the champion on yields through --first, "
                                                    "then each later season's final yields land and the flow decides")
    seasons.add_argument("--config", required=True)
    seasons.add_argument("--first", required=True, type=int, help="the champion's last season with yields, e.g. 2005")
    seasons.add_argument("--last", required=True, type=int, help="the last season to land, e.g. 2011")
    seasons.add_argument("--folder", help="where the replay's yields copy and run_dirs go "
                                          "(default ${INPUT_DATA_DIR}/runs/replays/<key>_<stamp>)")
    seasons.set_defaults(func=cmd_replay_seasons)
    resume = sub.add_parser("resume", help="complete a killed or failed run_dir: only what its manifest lacks")
    resume.add_argument("run_dir")
    resume.set_defaults(func=cmd_resume)
    prune = sub.add_parser("prune", help="delete old run_dirs (a dry run unless --apply)")
    prune.add_argument("--runs-dir", help="folder of run_dirs (default ${INPUT_DATA_DIR}/runs)")
    prune.add_argument("--keep", type=int, help="keep the newest N run_dirs of each experiment")
    prune.add_argument("--older-than", type=float, metavar="DAYS", help="delete run_dirs older than DAYS")
    prune.add_argument("--apply", action="store_true", help="delete; without it, only say what would go")
    prune.set_defaults(func=cmd_prune)
    retrain = sub.add_parser("retrain", help="the retraining flow: drift, champion error, retrain, promote if better")
    retrain.add_argument("--config", required=True)
    retrain.add_argument("--runs-dir", help="where to mint the challenger (default ${INPUT_DATA_DIR}/runs)")
    retrain.add_argument("--force", action="store_true", help="retrain whatever drift and error say")
    retrain.set_defaults(func=cmd_retrain)
    promote = sub.add_parser("promote", help="make a complete hindcast run_dir the champion (a recorded sign-off)")
    promote.add_argument("run_dir")
    promote.add_argument("--reason", required=True, help="why; recorded on the registry version")
    promote.set_defaults(func=cmd_promote)
    champion = sub.add_parser("champion", help="the experiment's champion: run_dir, version, skill, decision")
    champion.add_argument("--config", required=True)
    champion.set_defaults(func=cmd_champion)
    season = sub.add_parser("season", help="a run_dir's national forecasts beside the yardstick's (USDA's) and "
                                           "the final figure, with the data vintages each used")
    season.add_argument("run_dir")
    season.add_argument("--season-year", type=int, help="one season (default: every forecast made)")
    season.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    season.set_defaults(func=cmd_season)
    ingest = sub.add_parser("ingest", help="pull source data into the config's input folder, every vintage kept")
    ingest.add_argument("source", choices=["noaa", "nass"],
                        help="noaa: NOAA nClimDiv statewide monthly weather (inputs.indices); nass: from USDA NASS Quick "
                             "Stats what the config's ingest section names: state corn yields and acres "
                             "(inputs.yields), USDA's national forecasts (inputs.yardstick), the Corn Belt's weekly "
                             "condition (inputs.regional); key in $NASS_API_KEY")
    ingest.add_argument("--config", required=True, help="the experiment whose input the pull writes")
    ingest.add_argument("--url", help="the source's base URL (default $HINDCAST_NOAA_URL or $HINDCAST_NASS_URL, "
                                      "else the public one)")
    ingest.set_defaults(func=cmd_ingest)
    show = sub.add_parser("show", help="what ExperimentResult.from_run_dir sees in a run_dir")
    show.add_argument("run_dir")
    show.set_defaults(func=cmd_show)
    return p


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # not "Creating initial MLflow database tables" on stderr
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # (the variable counts only before mlflow is imported)
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `hindcast show RUN_DIR | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (UserError, FileNotFoundError) as exc:  # a file a user named that is not there: theirs to fix
        print(f"hindcast: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)


if __name__ == "__main__":
    sys.exit(main())
