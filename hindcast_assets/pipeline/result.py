"""`ExperimentResult.from_run_dir`: the whole domain view of a run_dir, rebuilt from the path alone."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from upath import UPath

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.detrend import LinearTrend
from hindcast_assets.core.ensembles import EnsembleModel
from hindcast_assets.core.data import load_input
from hindcast_assets.core.metrics import skill
from hindcast_assets.core.season_table import season_table
from hindcast_assets.core.rundir import RunDir
from hindcast_assets.core.season_dates import ForecastDate
from hindcast_assets.core.splits import PRODUCTION
from hindcast_assets.models import TrainedModel
from hindcast_assets.pipeline import store
from hindcast_assets.pipeline.runlog import Manifest, read_manifest


@dataclass(frozen=True)
class FoldFiles:
    """Where a fold's larger prediction files are: read, checked against the manifest, on each
    access rather than with the slice."""

    run_dir: RunDir
    key: str
    fold: str

    def read(self, artefact: store.Artefact, **fields: str) -> pd.DataFrame | None:
        return artefact.read_optional(self.run_dir, key=self.key, fold=self.fold, **fields)

    def has(self, artefact: store.Artefact, **fields: str) -> bool:
        return artefact.exists(self.run_dir, key=self.key, fold=self.fold, **fields)


@dataclass
class HindcastSlice:
    """One fold's artefacts; the prediction frames are None where the run did not make them.
    The in-sample predictions and the rows the model saw in its test season are read when asked
    for: registering a hindcast or showing a run_dir needs neither, and at 10,000 geos a run_dir's
    in-sample predictions are ~1.4 GB in memory (they were a Dagster hindcast's peak)."""

    fold: str
    detrender: LinearTrend
    fill_values: pd.DataFrame
    model: TrainedModel | EnsembleModel
    model_card: dict
    files: FoldFiles
    walk_forward_preds: pd.DataFrame | None = None

    @property
    def train_preds(self) -> pd.DataFrame | None:
        return self.files.read(store.TRAIN_PREDS, member="")

    @property
    def year_data(self) -> pd.DataFrame | None:
        return self.files.read(store.YEAR_DATA)

    def preds_made(self) -> list[str]:
        """Which prediction files the fold has, none of them read."""
        made = {"train": self.files.has(store.TRAIN_PREDS, member=""),
                "walk_forward": self.walk_forward_preds is not None, "year_data": self.files.has(store.YEAR_DATA)}
        return [name for name, present in made.items() if present]

    @property
    def is_production(self) -> bool:
        return self.fold == PRODUCTION

    @property
    def train_seasons(self) -> list[int]:
        """From the model card; run_dirs made before ensemble cards carried them: the detrender's."""
        return list(self.model_card.get("train_seasons") or self.detrender.train_seasons)

    @property
    def model_label(self) -> str:
        card = self.model_card
        name = store.card_name(card)
        return f"{name} ({card['ensemble']} of {', '.join(card['members'])})" if "ensemble" in card else name


def _slice(rd: RunDir, key: str, fold: str) -> HindcastSlice:
    where = {"key": key, "fold": fold}
    return HindcastSlice(fold=fold, detrender=store.DETRENDER.read(rd, **where),
                         fill_values=store.FILL_VALUES.read(rd, **where), model=store.read_model(rd, key, fold),
                         model_card=store.MODEL_CARD.read(rd, **where, member=""), files=FoldFiles(rd, key, fold),
                         walk_forward_preds=store.WALK_FORWARD_PREDS.read_optional(rd, **where, member=""))


@dataclass
class CalibrationResult:
    """One conformal sidecar: quantiles per scope, level and calibrated-for fold."""

    mode: str
    table: pd.DataFrame

    def quantile(self, scope: str, level: float, fold: str = PRODUCTION) -> float:
        rows = self.table[(self.table["scope"] == scope) & (self.table["level"] == level)
                          & (self.table["calibrated_for"] == fold)]
        if rows.empty:
            raise KeyError(f"no {self.mode} quantile for scope={scope}, level={level}, fold={fold}")
        return float(rows["quantile"].iloc[0])


@dataclass
class ForecastSlice:
    """One (season_year, init_date) forecast: geo predictions and the national row, where made."""

    season_year: int
    init_date: str
    geo: pd.DataFrame | None
    national: pd.DataFrame | None
    vintages: dict[str, list[str]] = field(default_factory=dict)  # source vintages per variable used


def _forecasts(rd: RunDir) -> dict[tuple[int, str], ForecastSlice]:
    """Every forecast whose geo predictions the manifest records, by season and init date."""
    out = {}
    for at in sorted(ForecastDate.parse(f["date"], int(f["season"])) for f in store.FORECAST_PREDS.recorded(rd)):
        fields = store.forecast_fields(at)
        out[(at.season_year, str(at))] = ForecastSlice(at.season_year, str(at),
                                                       store.FORECAST_PREDS.read_optional(rd, **fields),
                                                       store.FORECAST_NATIONAL.read_optional(rd, **fields),
                                                       store.forecast_vintages(rd, at))
    return out


@dataclass
class ExperimentResult:
    run_dir: RunDir
    cfg: ExperimentConfig
    included_geos: list[str]
    hindcast: dict[str, HindcastSlice] = field(default_factory=dict)
    calibration: dict[str, CalibrationResult] = field(default_factory=dict)
    national: pd.DataFrame | None = None
    geo: pd.DataFrame | None = None  # bias-corrected geo rows behind `national`
    forecasts: dict[tuple[int, str], ForecastSlice] = field(default_factory=dict)
    manifest: Manifest | None = None

    @property
    def missing(self) -> list[str]:
        """Stage partitions the launcher planned that no run finished ([] when complete, or
        when the run_dir has no manifest to tell)."""
        return self.manifest.missing if self.manifest else []

    @property
    def complete(self) -> bool | None:
        """Whether the run_dir holds all its job planned; None without a manifest or a plan."""
        return not self.missing if self.manifest and self.manifest.plan else None

    @classmethod
    def from_run_dir(cls, run_dir: str | RunDir) -> ExperimentResult:
        rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        with store.manifest_pinned(rd):  # one manifest for every file read (on S3 a request each)
            cfg = store.read_config(rd)
            key = cfg.experiment_key
            calibration = {m: CalibrationResult(m, store.CONFORMAL.read(rd, mode=m))
                           for m in cfg.conformal.modes if store.CONFORMAL.exists(rd, mode=m)}
            post = {scope: store.POSTPROCESSED.read_optional(rd, scope=scope) for scope in ("national", "geo")}
            return cls(rd, cfg, store.INCLUDED_GEOS.read(rd),
                       {f: _slice(rd, key, f) for f in store.folds_with_model(rd, cfg)}, calibration,
                       post["national"], post["geo"], _forecasts(rd), read_manifest(rd))

    @property
    def production(self) -> HindcastSlice | None:
        return self.hindcast.get(PRODUCTION)

    def walk_forward_preds(self) -> pd.DataFrame:
        frames = [s.walk_forward_preds for s in self.hindcast.values() if s.walk_forward_preds is not None]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def skill(self) -> pd.DataFrame:
        """Walk-forward skill over all test seasons, the model against its trend: geo level, and
        national once postprocessed (the model then bias-corrected where enabled)."""
        frames = {level: f for level, f in (("geo", self.geo), ("national", self.national)) if f is not None}
        if self.geo is None:
            wf = self.walk_forward_preds()
            frames = {"geo": wf.rename(columns={"target": "actual"})} if not wf.empty else {}
        rows = [{"level": level, "predictor": name, **skill(f["actual"], f[column])}
                for level, f in frames.items() for name, column in (("model", "prediction"), ("trend", "trend"))]
        return pd.DataFrame(rows)

    def season_table(self, season_year: int | None = None) -> pd.DataFrame:
        """Every national forecast made (of one season, or all) beside the yardstick's forecast of
        the same month, the final or annual figure (references) and the vintages it used
        (`core/season_table.py`); the inputs are read as they are now."""
        made = [f for (season, _), f in self.forecasts.items() if f.national is not None and not f.national.empty
                and season_year in (None, season)]
        if not made:
            return pd.DataFrame()
        cfg = self.cfg
        national = pd.concat([f.national for f in made], ignore_index=True)
        return season_table(national, load_input(cfg, "yardstick"), load_input(cfg, "references"),
                            {f.init_date: f.vintages for f in made}, cfg.conformal.delivered_mode,
                            cfg.conformal.levels)

    def summary(self) -> str:
        test_folds = [f for f in self.hindcast if f != PRODUCTION]
        lines = [f"{self.cfg.experiment_key}: {len(self.included_geos)} geos, {len(test_folds)} test folds"
                 f"{' + production' if self.production else ''}"]
        lines += [copied] if (copied := self._copied()) else []
        table = self.skill()
        if not table.empty:
            lines.append(f"walk-forward skill, {test_folds[0]}-{test_folds[-1]} ({self.cfg.unit}):")
            lines += [f"  {r.level:<8} {r.predictor:<6} RMSE {r.rmse:7.2f}  MAE {r.mae:7.2f}  MAPE {r.mape:5.2f}%"
                      f"  n={int(r.n)}" for r in table.itertuples()]
        return "\n".join(lines)

    def _copied(self) -> str:
        """Which stage partitions were copied from run_dirs beside this one ('' if none)."""
        done = list(self.manifest.completed.values()) if self.manifest else []
        origins = sorted({UPath(c["reused_from"]).name for c in done if c.get("reused_from")})
        if not origins:
            return ""
        n = sum(bool(c.get("reused_from")) for c in done)
        return (f"{n} of {len(done)} stage partitions copied from {', '.join(origins)} (the same code, config fields "
                "and data; `--no-reuse` fits every fold)")

    def _completeness(self) -> str:
        m = self.manifest
        if m is None:
            return "manifest: none (made before run records); completeness unknown"
        runs = ", ".join(r["run_id"] for r in m.runs) or "-"
        head = f"manifest: {len(m.artefacts)} files, {len(m.completed)} stage partitions done; runs {runs}"
        if not m.plan:
            return f"{head}; no launcher plan"
        if not self.missing:
            return f"{head}; complete ({m.job})"
        shown = ", ".join(self.missing[:8]) + (f" and {len(self.missing) - 8} more" if len(self.missing) > 8 else "")
        return (f"{head}\nINCOMPLETE ({m.job}): {len(self.missing)} of {len(m.plan)} stage partitions missing: "
                f"{shown}; complete it with `hindcast resume {self.run_dir}`")

    def describe(self) -> str:
        lines = [f"run_dir: {self.run_dir}", self._completeness(), self.summary(), "folds:"]
        for name, s in self.hindcast.items():
            seasons = s.train_seasons
            span = f"{seasons[0]}-{seasons[-1]}" if seasons else "-"
            made = s.preds_made()
            lines.append(f"  {name:<10} {s.model_label} trained on {span} "
                         f"({len(seasons)} seasons); preds: {', '.join(made) or 'none'}")
        for mode, cal in self.calibration.items():
            prod = cal.table[cal.table["calibrated_for"] == PRODUCTION]
            quantiles = ", ".join(f"{r.scope} {r.level:.0%}: {r.quantile:.3g}" for r in prod.itertuples())
            lines.append(f"calibration {mode} (production): {quantiles}")
        if self.national is not None:
            lines.append(f"national: {len(self.national)} seasons in postprocessed/national.parquet")
        for (season, init), f in self.forecasts.items():
            value = ("none (no areas)" if not self.cfg.has_area else "not made" if f.national is None else
                     f"{f.national['prediction'].iloc[0]:.2f}")
            lines.append(f"forecast {season} as of {init}: national {value}")
        return "\n".join(lines)
