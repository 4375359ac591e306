"""One way to predict from a fold's fitted artefacts (skill by init date and the forecasts), and
the reported yield beside predictions."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.bias import NO_CORRECTION, BiasCorrector
from hindcast_assets.core.detrend import LinearTrend
from hindcast_assets.core.ensembles import EnsembleModel
from hindcast_assets.core.features import model_inputs
from hindcast_assets.core.frames import FORECAST_COLUMNS, prediction_frame
from hindcast_assets.models import TrainedModel

def with_actual(preds: pd.DataFrame, yields: pd.DataFrame) -> pd.DataFrame:
    """Prediction rows with the season's reported yield as `actual` (NaN where not yet known)."""
    target = yields.set_index(["geo_id", "season_year"])["target"]
    keys = pd.MultiIndex.from_frame(preds[["geo_id", "season_year"]])
    return preds.assign(actual=target.reindex(keys).to_numpy(float))


def model_name(model: TrainedModel | EnsembleModel) -> str:
    return model.name


@dataclass(frozen=True)
class FoldModels:
    """What one fold fitted: enough to predict any rows of its geos."""

    fold: str
    detrender: LinearTrend
    fill_values: pd.DataFrame
    model: TrainedModel | EnsembleModel
    members: dict[str, TrainedModel] = field(default_factory=dict)  # an ensemble's base models
    bias_corrector: BiasCorrector | None = None  # None in a production-only run_dir

    @property
    def bias_corrected(self) -> bool:
        return self.bias_corrector is not None

    def predict(self, cfg: ExperimentConfig, rows: pd.DataFrame) -> pd.DataFrame:
        """Bias-corrected geo predictions for feature rows (`geo_id, season_year, init_date,
        <features>`; months not yet known are NaN and take the fold's fill values)."""
        rows = rows.assign(trend=self.detrender.trend(rows["geo_id"], rows["season_year"]))
        inputs = model_inputs(cfg, rows, self.fill_values)
        if isinstance(self.model, EnsembleModel):
            residual = self.model.predict(pd.DataFrame({n: m.predict(inputs) for n, m in self.members.items()}))
        else:
            residual = self.model.predict(inputs)
        preds = prediction_frame(rows, residual, model_name(self.model), self.fold, FORECAST_COLUMNS)
        return (self.bias_corrector or NO_CORRECTION).apply(preds)
