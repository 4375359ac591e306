"""Forecast assets of one experiment (DESIGN.md §4 `forecast/`, §5 `forecast_*`), partitioned by
season_year x init_date (init month-days are dynamic: added as predictor data reaches them).

Each writes `forecast/<season_year>/<init_date>/`. A season is forecast by the production fold,
or, for a season the hindcast tested, by that season's own walk-forward fold, so a replay of a
past season never uses a model that saw it.
"""
import numpy as np
import pandas as pd
from dagster import (AllPartitionMapping, AssetDep, AssetExecutionContext, AssetKey, AssetsDefinition,
                     BackfillPolicy, DynamicPartitionsDefinition, MaterializeResult, MultiPartitionKey,
                     MultiPartitionsDefinition,
                     StaticPartitionsDefinition, asset)

from hindcast_assets.config import ExperimentConfig, parse_month_day
from hindcast_assets.core import artefacts as art
from hindcast_assets.core import forecast as fc
from hindcast_assets.core import postprocess as pp
from hindcast_assets.core.delivery import delivery_file_name, delivery_frame
from hindcast_assets.core.indices_store import read_indices, write_indices
from hindcast_assets.defs.metadata import FoldRecord, fold_metadata
from hindcast_assets.defs.resources import RunDirResource

SEASON, INIT = "season_year", "init_date"


def init_date_partitions_name(key: str) -> str:
    return f"{key}__init_date"


def forecast_partitions(cfg: ExperimentConfig) -> MultiPartitionsDefinition:
    """season_year x init_date, where an init_date key is the month-day in the season (`08-01`):
    the date is `<season_year>-<MM-DD>`. Every combination is a valid forecast, so any
    selection in the UI (a season x all init dates, a rectangle) backfills; with full dates as
    keys, most combinations were impossible (2010 as of 2011-08-01) and failed their runs."""
    return MultiPartitionsDefinition({
        SEASON: StaticPartitionsDefinition([str(y) for y in cfg.forecast_season_years]),
        INIT: DynamicPartitionsDefinition(name=init_date_partitions_name(cfg.experiment_key))})


def partition_key(season_year: int, init_date: str) -> MultiPartitionKey:
    """The partition of the forecast of `season_year` as of `init_date` (YYYY-MM-DD)."""
    fc.parse_init_date(init_date, season_year)
    return MultiPartitionKey({SEASON: str(season_year), INIT: init_date[5:]})


def partition_dims(key) -> tuple[int, str]:
    """(season_year, init date YYYY-MM-DD) of a multi-partition key (object or 'MM-DD|season')."""
    dims = key.keys_by_dimension if hasattr(key, "keys_by_dimension") else dict(zip((INIT, SEASON), key.split("|")))
    season = int(dims[SEASON])
    try:
        parse_month_day(dims[INIT])
    except ValueError as exc:
        raise fc.ForecastError(f"init_date partition {dims[INIT]!r}: {exc} (keys are month-days, e.g. 08-01)") \
            from None
    return season, f"{season}-{dims[INIT]}"


def _each(context: AssetExecutionContext, view: art.RunDirView, step) -> list[FoldRecord]:
    records = []
    for key in context.partition_keys:
        season, init = partition_dims(key)
        context.log.info(f"{view.key}: forecast {season} as of {init}")
        records.append(step(view, season, init))
    return records


def indices_step(view: art.RunDirView, season: int, init: str) -> FoldRecord:
    indices = view.data.indices
    known = (fc.indices_known_at(indices, view.geos, season, fc.parse_init_date(init)) if indices is not None
             else pd.DataFrame(columns=["geo_id", "date", "variable", "value"]).astype({"date": "datetime64[ns]"}))
    path = art.forecast_dir(view.run_dir, season, init) / "indices.zarr"
    written = write_indices(path, known, {"season_year": season, "init_date": init})
    last = str(known["date"].max().date()) if len(known) else "none"
    return FoldRecord(f"{season}/{init} (latest value {last})", [written], len(known))


def features_step(view: art.RunDirView, season: int, init: str) -> FoldRecord:
    folder = art.forecast_dir(view.run_dir, season, init)
    known, _ = read_indices(folder / "indices.zarr")
    frame = fc.forecast_features(view.cfg, known, view.geos, season, fc.parse_init_date(init))
    return FoldRecord(f"{season}/{init}", [view.run_dir.write_parquet(folder / "features" / "pred.parquet", frame)],
                      len(frame))


def preds_step(view: art.RunDirView, season: int, init: str) -> FoldRecord:
    rd, cfg = view.run_dir, view.cfg
    fold = art.forecast_fold(rd, view.key, cfg, season)
    models = art.read_fold_models(rd, view.key, fold)
    folder = art.forecast_dir(rd, season, init)
    out = fc.predict_rows(cfg, models, rd.read_parquet(folder / "features" / "pred.parquet"))
    actual = view.data.yields.set_index(["geo_id", "season_year"])["target"]
    out["actual"] = actual.reindex(pd.MultiIndex.from_frame(out[["geo_id", "season_year"]])).to_numpy(float)
    out = out.assign(fold=fold)
    written = rd.write_parquet(folder / "preds" / "walk_forward_preds.parquet", out)
    return FoldRecord(f"{season}/{init} (fold {fold})", [written], len(out),
                      {"bias_corrected": float(models[-1] is not None)})


def _sidecars(view: art.RunDirView, init: str) -> dict[str, pd.DataFrame]:
    """Sidecars calibrated for this init month-day where the hindcast made them, else the
    end-of-season ones, else none (a production-only run_dir: forecasts without intervals)."""
    rd, md = view.run_dir, init[5:]
    out = {}
    for mode in view.cfg.conformal.modes:
        by_init = art.conformal_by_init_path(rd, mode)
        table = rd.read_parquet(by_init) if by_init.exists() else None
        if table is not None and md in set(table["init_md"]):
            out[mode] = table[table["init_md"] == md]
        elif art.conformal_path(rd, mode).exists():
            out[mode] = rd.read_parquet(art.conformal_path(rd, mode))
    return out


def national_step(view: art.RunDirView, season: int, init: str) -> FoldRecord:
    folder = art.forecast_dir(view.run_dir, season, init)
    geo = view.run_dir.read_parquet(folder / "preds" / "walk_forward_preds.parquet")
    national = fc.national_forecast(geo, view.data.yields).assign(fold=geo["fold"].iloc[0])
    actual = pp.national_preds(view.cfg, geo.dropna(subset=["actual"]), view.data.yields) if geo["actual"].notna().all() \
        else None
    national["actual"] = actual["actual"].to_numpy() if actual is not None else np.nan
    national = pp.with_intervals(national, _sidecars(view, init), "national")
    written = view.run_dir.write_parquet(folder / "postprocessed" / "national.parquet", national)
    return FoldRecord(f"{season}/{init}", [written], len(national),
                      {"national_prediction": float(national["prediction"].iloc[0])})


def delivery_step(view: art.RunDirView, season: int, init: str) -> FoldRecord:
    rd = view.run_dir
    folder = art.forecast_dir(rd, season, init)
    sidecars = _sidecars(view, init)
    geo = pp.with_intervals(rd.read_parquet(folder / "preds" / "walk_forward_preds.parquet"), sidecars, "geo")
    national = rd.read_parquet(folder / "postprocessed" / "national.parquet")
    for frame in (geo, national):
        for mode in view.cfg.conformal.modes:
            for level in view.cfg.conformal.levels:
                for column in pp.interval_columns(mode, level):
                    frame[column] = frame[column] if column in frame else np.nan
    frame = delivery_frame(view.cfg, geo, national, geo["model"].iloc[0], rd.root.name, art.run_created_at(rd))
    name = delivery_file_name(view.cfg, "Forecast", f"{season}_{init}")
    written = rd.write_text(folder / "delivery" / name, frame.to_csv(index=False))
    return FoldRecord(f"{season}/{init}", [written], len(frame))


def build_forecast_assets(cfg: ExperimentConfig, hindcast: list[AssetsDefinition]) -> list[AssetsDefinition]:
    key = cfg.experiment_key
    partitions = forecast_partitions(cfg)
    production = [AssetDep(a, partition_mapping=AllPartitionMapping()) for a in hindcast
                  if a.key.path[-1] in {"model", "conformal", "bias_corrector"}]

    def forecast_asset(name: str, step, deps: list, description: str) -> AssetsDefinition:
        @asset(key=AssetKey([key, name]), group_name=f"{key}_forecast", deps=deps, partitions_def=partitions,
               backfill_policy=BackfillPolicy.single_run(), description=description)
        def _forecast_asset(context: AssetExecutionContext, run_dir: RunDirResource) -> MaterializeResult:
            view = art.RunDirView(run_dir.for_experiment(key))
            return MaterializeResult(metadata=fold_metadata(view.run_dir, _each(context, view, step)))

        return _forecast_asset

    indices = forecast_asset("forecast_indices", indices_step, [],
                             "The season's predictor values known at the init date (nothing on or after it).")
    features = forecast_asset("forecast_features", features_step, [indices],
                              "Features as of the init date, by the hindcast's as-of feature function.")
    preds = forecast_asset("forecast_preds", preds_step, [features, *production],
                           "Geo forecasts from the production model, detrender, fill values and bias corrector.")
    national = forecast_asset("forecast_national", national_step, [preds],
                              "Area-weighted national forecast (previous season's areas) with intervals.")
    delivery = forecast_asset("forecast_delivery", delivery_step, [national],
                              "The client CSV of the forecast, same columns as the hindcast delivery.")
    return [indices, features, preds, national, delivery]
