"""Names, writers and readers of the RunDir artefacts (DESIGN.md §4): the stage boundary.

Every stage reads what it needs from here; nothing crosses stages in memory.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cached_property

import pandas as pd
import yaml

from hindcast_assets.config import ExperimentConfig, config_from_dict
from hindcast_assets.core.data import ExperimentData, load_experiment_data
from hindcast_assets.core.detrend import LinearTrend
from hindcast_assets.core.ensembles import ENSEMBLE_FILE, EnsembleModel
from hindcast_assets.core.rundir import RunDir, Written
from hindcast_assets.models import TrainedModel, load_model

DETRENDER = "detrender.pkl"
FILL_VALUES = "feature_fill_values.parquet"
MODEL_CARD = "model_card.json"  # beside model.*: model name, features, params, training seasons
TRAIN_PREDS = "train_preds.parquet"
WALK_FORWARD_PREDS = "walk_forward_preds.parquet"
YEAR_DATA = "year_data.parquet"


def write_config(rd: RunDir, cfg: ExperimentConfig) -> Written:
    return rd.write_text(rd.config_path, yaml.safe_dump(cfg.resolved(), sort_keys=False))


def read_config(rd: RunDir) -> ExperimentConfig:
    if not rd.config_path.exists():
        raise FileNotFoundError(f"{rd.config_path}: no config_resolved.yaml; is {rd} a run_dir?")
    return config_from_dict(yaml.safe_load(rd.config_path.read_text()), str(rd.config_path))


def write_included_geos(rd: RunDir, geos: list[str]) -> Written:
    return rd.write_text(rd.included_geos_path, "".join(f"{g}\n" for g in geos))


def read_included_geos(rd: RunDir) -> list[str]:
    return rd.included_geos_path.read_text().split()


def write_detrender(rd: RunDir, key: str, fold: str, detrender: LinearTrend) -> Written:
    return rd.write_pickle(rd.model_dir(key, fold) / DETRENDER, detrender)


def read_detrender(rd: RunDir, key: str, fold: str) -> LinearTrend:
    return rd.read_pickle(rd.model_dir(key, fold) / DETRENDER)


def write_fill_values(rd: RunDir, key: str, fold: str, fill: pd.DataFrame) -> Written:
    return rd.write_parquet(rd.model_dir(key, fold) / FILL_VALUES, fill)


def read_fill_values(rd: RunDir, key: str, fold: str) -> pd.DataFrame:
    return rd.read_parquet(rd.model_dir(key, fold) / FILL_VALUES)


def model_folder(rd: RunDir, key: str, fold: str, name: str | None = None):
    """`models/<key>/<fold>/` (the experiment's model), or `.../<name>/` for one of the models
    trained and compared (every base model and ensemble has its own)."""
    return rd.model_dir(key, fold) / name if name else rd.model_dir(key, fold)


def preds_folder(rd: RunDir, key: str, fold: str, name: str | None = None):
    return rd.preds_dir(key, fold) / name if name else rd.preds_dir(key, fold)


def write_model(rd: RunDir, key: str, fold: str, model: TrainedModel, card: dict,
                name: str | None = None) -> list[Written]:
    folder = model_folder(rd, key, fold, name)
    card = {"model": model.plugin.name, "file": model.plugin.file_name, "features": model.features,
            "params": model.params, **card}
    return [rd.write_bytes(folder / model.plugin.file_name, model.plugin.save(model.estimator)),
            rd.write_text(folder / MODEL_CARD, json.dumps(card, indent=2, sort_keys=True))]


def write_ensemble(rd: RunDir, key: str, fold: str, model: EnsembleModel, card: dict,
                   name: str | None = None) -> list[Written]:
    folder = model_folder(rd, key, fold, name)
    card = {"model": model.name, "file": ENSEMBLE_FILE, "ensemble": model.method, "members": model.members, **card}
    return [rd.write_text(folder / ENSEMBLE_FILE, model.to_json()),
            rd.write_text(folder / MODEL_CARD, json.dumps(card, indent=2, sort_keys=True))]


def read_model_card(rd: RunDir, key: str, fold: str, name: str | None = None) -> dict:
    return json.loads((model_folder(rd, key, fold, name) / MODEL_CARD).read_text())


def read_model(rd: RunDir, key: str, fold: str, name: str | None = None) -> TrainedModel | EnsembleModel:
    card = read_model_card(rd, key, fold, name)
    data = (model_folder(rd, key, fold, name) / card["file"]).read_bytes()
    if card.get("ensemble"):
        return EnsembleModel.from_json(data.decode())
    return load_model(card["model"], data, card["features"], card["params"])


def write_preds(rd: RunDir, key: str, fold: str, file: str, frame: pd.DataFrame, name: str | None = None) -> Written:
    return rd.write_parquet(preds_folder(rd, key, fold, name) / file, frame)


def read_preds(rd: RunDir, key: str, fold: str, file: str, name: str | None = None) -> pd.DataFrame:
    return rd.read_parquet(preds_folder(rd, key, fold, name) / file)


@dataclass
class RunDirView:
    """An experiment's run_dir opened for reading: its resolved config, inputs and geos."""

    run_dir: RunDir

    @cached_property
    def cfg(self) -> ExperimentConfig:
        return read_config(self.run_dir)

    @property
    def key(self) -> str:
        return self.cfg.experiment_key

    @cached_property
    def data(self) -> ExperimentData:
        return load_experiment_data(self.cfg)

    @cached_property
    def geos(self) -> list[str]:
        return read_included_geos(self.run_dir)


BIAS_CORRECTOR = "bias_corrector.pkl"


def write_bias_corrector(rd: RunDir, key: str, fold: str, corrector) -> Written:
    return rd.write_pickle(rd.model_dir(key, fold) / BIAS_CORRECTOR, corrector)


def read_bias_corrector(rd: RunDir, key: str, fold: str):
    return rd.read_pickle(rd.model_dir(key, fold) / BIAS_CORRECTOR)


def read_walk_forward(rd: RunDir, key: str, folds: list[str], name: str | None = None) -> dict[str, pd.DataFrame]:
    """Walk-forward predictions of the given folds (of model `name`, else the experiment's);
    a missing one is an error naming it."""
    missing = [f for f in folds if not (preds_folder(rd, key, f, name) / WALK_FORWARD_PREDS).exists()]
    if missing:
        where = f"preds/{key}/<fold>/{name + '/' if name else ''}{WALK_FORWARD_PREDS}"
        raise FileNotFoundError(f"{rd}: {where} missing for folds {missing}; materialise fold_preds first")
    return {f: read_preds(rd, key, f, WALK_FORWARD_PREDS, name) for f in folds}


def conformal_path(rd: RunDir, mode: str):
    return rd.root / "conformal" / f"{mode}.parquet"


def conformal_by_init_path(rd: RunDir, mode: str):
    """Sidecars calibrated per forecast init month-day (column `init_md`), from the hindcast by init date."""
    return rd.root / "conformal" / "by_init_date" / f"{mode}.parquet"


def postprocessed_path(rd: RunDir, name: str):
    """`national` (DESIGN.md §4) or `geo` (the geo-level rows the national figures come from)."""
    return rd.root / "postprocessed" / f"{name}.parquet"


def read_sidecars(rd: RunDir, modes: list[str]) -> dict[str, pd.DataFrame]:
    return {mode: rd.read_parquet(conformal_path(rd, mode)) for mode in modes}


def run_created_at(rd: RunDir) -> str:
    """The run_dir's UTC mint time as ISO 8601 ('' if its name has no stamp): deterministic, so
    re-materialising a delivery is a no-op."""
    try:
        return dt.datetime.strptime(run_stamp(rd), "%Y%m%d_%H%M%S").replace(tzinfo=dt.timezone.utc).isoformat()
    except ValueError:
        return ""


def run_stamp(rd: RunDir) -> str:
    """The `<YYYYMMDD_HHMMSS>` a run_dir was minted with (its name's prefix), else its name."""
    name = rd.root.name
    return name[:15] if len(name) > 15 and name[8] == "_" and name[:8].isdigit() else name


def forecast_dir(rd: RunDir, season_year: int | str, init_date: str):
    return rd.root / "forecast" / str(season_year) / init_date


def read_fold_models(rd: RunDir, key: str, fold: str):
    """A fold's detrender, fill values, model, its members' models (ensemble) and bias corrector
    (None when the run_dir holds only a production fit). A missing model: one clear error."""
    if not (rd.model_dir(key, fold) / MODEL_CARD).exists():
        raise FileNotFoundError(f"{rd}: models/{key}/{fold}/ has no model; run `hindcast run fit-production` "
                                "or `run hindcast` into this run_dir first")
    model = read_model(rd, key, fold)
    members = {m: read_model(rd, key, fold, m) for m in model.members} if isinstance(model, EnsembleModel) else {}
    bias_path = rd.model_dir(key, fold) / BIAS_CORRECTOR
    return (read_detrender(rd, key, fold), read_fill_values(rd, key, fold), model, members,
            read_bias_corrector(rd, key, fold) if bias_path.exists() else None)


def forecast_fold(rd: RunDir, key: str, cfg: ExperimentConfig, season_year: int) -> str:
    """Which fold forecasts a season: its own walk-forward fold where the run_dir has it (trained
    only on earlier seasons, so a forecast of a past season stays out of sample), else production."""
    fold = str(season_year)
    return fold if fold in cfg.test_folds and (rd.model_dir(key, fold) / MODEL_CARD).exists() else "production"
