"""`hindcast forecast` and `hindcast backfill`: forecasts into an existing run_dir, each validated
before any runs (a bad season or a missing model is one line), then one in-process Dagster run
each: a multi-partition range would also span other seasons' init dates, so each forecast is
its own small run (~1 s here), in one process."""
from __future__ import annotations

from hindcast_assets.core.data import load_input
from hindcast_assets.core.errors import PreflightError
from hindcast_assets.core.forecast import require_season_data
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.core.season_dates import ForecastDate
from hindcast_assets.defs.execute import add_partitions, execute_in_process, observed_instance
from hindcast_assets.defs.experiment import job_def
from hindcast_assets.defs.jobs import forecast_job_name
from hindcast_assets.defs.partitions import forecast_key, init_date_partitions_name
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.run_dirs import launch_lease
from hindcast_assets.pipeline.runlog import forecast_needs, incomplete_for, read_manifest


def run_forecast(run_dir: str, season_year: int, init_date: str) -> RunDir:
    """Materialise the forecast of (season_year, init_date) into an existing run_dir."""
    return run_forecasts(run_dir, [ForecastDate.parse(init_date, season_year)])


def run_forecasts(run_dir: str, dates: list[ForecastDate], indices_file: str | None = None) -> RunDir:
    """Forecasts of `dates` into an existing run_dir, every one validated before the first runs
    (`indices_file`: read instead of the config's indices, as a replay of a vintage does)."""
    rd = RunDir(run_dir)
    rd.refuse_any_link()
    cfg = store.read_config(rd)
    key, manifest = cfg.experiment_key, read_manifest(rd)
    read = store.with_indices(cfg, indices_file) if indices_file else cfg
    indices = load_input(read, "indices") if read.inputs.indices else None
    geos = store.INCLUDED_GEOS.read(rd) if indices is not None else []
    for at in dates:
        if at.season_year not in cfg.forecast_season_years:
            raise PreflightError(f"{store.CONFIG.path(rd)}: forecast: season {at.season_year} is outside "
                                 f"{cfg.forecast_season_years[0]}-{cfg.forecast_season_years[-1]}")
        fold = store.forecast_fold(rd, key, cfg, at.season_year)
        missing = incomplete_for(manifest, forecast_needs(cfg, fold))
        if missing:
            raise PreflightError(f"{rd.root / store.MANIFEST_FILE}: completed: the forecast of {at} needs "
                                 f"{', '.join(missing)}, which the run never finished; run `hindcast resume {rd}`")
        store.read_fold_models(rd, key, fold)  # one clear error
        if indices is not None:
            require_season_data(indices, read.inputs.indices, geos, at)
    with launch_lease(rd) as lease, observed_instance(cfg) as instance:
        job = job_def(cfg, str(store.CONFIG.path(rd)), forecast_job_name(key))
        add_partitions(instance, init_date_partitions_name(key), sorted({str(d.init) for d in dates}))
        for at in dates:
            execute_in_process(instance, job, cfg, rd, lease, indices_file, partition_key=forecast_key(at))
    return rd
