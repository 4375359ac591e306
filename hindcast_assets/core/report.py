"""The readable hindcast report: markdown tables and PNG plots, as bytes for the run_dir."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hindcast_assets.config import ExperimentConfig
from hindcast_assets.core.aggregate import NO_NATIONAL
from hindcast_assets.core.evaluation import Evaluation
from hindcast_assets.core.inner_folds import uses_inner_folds
from hindcast_assets.core.postprocess import interval_columns
from hindcast_assets.core.season_report import SeasonReport, headline, init_date_table


def md_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """A markdown table; a missing value is an empty cell (not nan or <NA>)."""
    shown = frame.astype(object).where(frame.notna(), None)
    return shown.to_markdown(index=False, floatfmt=f".{digits}f", missingval="")


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def national_plot(cfg: ExperimentConfig, national: pd.DataFrame) -> bytes:
    plt = _pyplot()
    mode = cfg.conformal.delivered_mode
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = national["season_year"]
    levels = sorted(cfg.conformal.levels, reverse=True)  # widest first and lightest
    for level, alpha in zip(levels, np.linspace(0.15, 0.35, len(levels))):
        lo, hi = interval_columns(mode, level)
        ax.fill_between(x, national[lo], national[hi], alpha=alpha, color="tab:blue", lw=0,
                        label=f"{level:.0%} interval ({mode})")
    ax.plot(x, national["actual"], "ko-", ms=4, label="actual (included geos)")
    ax.plot(x, national["prediction"], "s-", color="tab:blue", ms=4, label="hindcast")
    ax.plot(x, national["trend"], "--", color="tab:gray", label="trend baseline")
    ax.set(xlabel="season", ylabel=cfg.unit, title=f"{cfg.experiment_key}: national walk-forward hindcast")
    ax.legend(fontsize=8)
    data = _png(fig)
    plt.close(fig)
    return data


def error_plot(cfg: ExperimentConfig, national: pd.DataFrame) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.5))
    x = national["season_year"].to_numpy()
    ax.bar(x - 0.2, national["prediction"] - national["actual"], 0.4, label="hindcast")
    ax.bar(x + 0.2, national["trend"] - national["actual"], 0.4, color="tab:gray", label="trend")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="season", ylabel=f"error ({cfg.unit})", title="national error by season (prediction - actual)")
    ax.legend(fontsize=8)
    data = _png(fig)
    plt.close(fig)
    return data


def coverage_plot(coverage: pd.DataFrame) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    labels = [f"{r.scope}\n{r.mode}" for r in coverage.drop_duplicates(["scope", "mode"]).itertuples()]
    levels = sorted(coverage["level"].unique())
    width = 0.8 / len(levels)
    for i, level in enumerate(levels):
        rows = coverage[coverage["level"] == level]
        ax.bar(np.arange(len(rows)) + i * width, rows["coverage"], width, label=f"nominal {level:.0%}")
        ax.axhline(level, ls="--", lw=0.8, color=f"C{i}")
    ax.set_xticks(np.arange(len(labels)) + width * (len(levels) - 1) / 2, labels, fontsize=8)
    ax.set(ylim=(0, 1), ylabel="empirical coverage", title="interval coverage by level")
    ax.legend(fontsize=8)
    data = _png(fig)
    plt.close(fig)
    return data


def _national_sentence(cfg: ExperimentConfig) -> str:
    if not cfg.has_area:
        return f"No national figures: {NO_NATIONAL}; geo skill only."
    by = f"the weights in `{cfg.inputs.weights}`" if cfg.inputs.weights else f"{cfg.aggregation.area} area"
    sentence = f"National figures are weighted by {by} over the included geos."
    if cfg.inputs.references:
        sentence += f" `national vs reference` scores them against {cfg.reference_name} (`{cfg.inputs.references}`)."
    return sentence


def _qc_lines(cfg: ExperimentConfig, excluded: pd.DataFrame) -> list[str]:
    if not cfg.qc.active:
        return ["No QC rule (`qc:`): every row of the yields file is used."]
    return [f"{len(excluded)} rows excluded from training and scoring by the QC rule "
            f"(`qc: {cfg.qc.model_dump(exclude_defaults=True)}`):", "",
            md_table(excluded) if len(excluded) else "(none matched)"]


def _gap_lines(cfg: ExperimentConfig, gaps: pd.DataFrame) -> list[str]:
    if not cfg.features.fill_gaps:
        return ["None: every included geo has its features for each season it has a yield in (a gap is refused "
                "unless `features.fill_gaps` is on)."]
    seasons = gaps[["geo_id", "season_year"]].drop_duplicates()
    return [f"`features.fill_gaps` is on: {len(gaps)} missing feature values in {len(seasons)} geo-seasons took "
            "the geo's training climatology (its fill value):", "", md_table(gaps) if len(gaps) else "(none)"]


def _warmup_sentence(cfg: ExperimentConfig) -> str:
    n = cfg.conformal.warmup_seasons
    return (f" Seasons with fewer count up to {n} warm-up seasons before the first test season too, each "
            "predicted by a refit on the seasons before it as a test season is (calibration only, not scored)."
            if n else "")


def _national_intervals(cfg: ExperimentConfig) -> str:
    if not uses_inner_folds(cfg):
        return ""
    return (f" National intervals are calibrated on the fold's own training seasons instead: each is predicted "
            f"by a refit without its block of seasons ({cfg.conformal.inner_blocks} contiguous blocks), so every "
            "season before the test season gives one out-of-sample national residual.")


@dataclass(frozen=True)
class MarkdownParts:
    """What report.md shows beyond the season report's frames: the evaluation, the models compared,
    the QC and gap tables and the season-by-season table."""

    evaluation: Evaluation
    comparison: pd.DataFrame
    excluded: pd.DataFrame
    gaps: pd.DataFrame | None
    seasons: pd.DataFrame | None  # reports/seasons.csv


def _init_date_lines(cfg: ExperimentConfig, page: SeasonReport, parts: MarkdownParts) -> list[str]:
    table = init_date_table(page)
    if table.empty:
        return []
    lines = ["## Skill by init date", "",
             f"National RMSE ({page.unit}) of the forecast as it stood at each init date, against the trend's"
             + (f", and on the seasons both have against {page.yardstick_name}." if page.yardstick is not None
                else "."), "", md_table(table), ""]
    if cfg.has_skill_by_init:
        lines += ["![skill by init date](skill_by_init_date.png)", ""]
    if parts.seasons is not None:
        lines += ["### Season by season", "", "Our national forecast at each date beside the yardstick's "
                  f"({page.yardstick_name or '-'}), the trend and the final, with each one's error.", "",
                  md_table(parts.seasons, 1), ""]
    return lines


def _facts_lines(facts: dict[str, str]) -> list[str]:
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in facts.items())]


def report_markdown(cfg: ExperimentConfig, page: SeasonReport, parts: MarkdownParts) -> str:
    """reports/report.md: the season report's headline and tables in markdown, with the
    evaluation's detail (models compared, by fold and geo, QC, gaps) below."""
    folds, ev = cfg.test_folds, parts.evaluation
    no_geo, no_nat = ev.no_interval_folds.get("geo", []), ev.no_interval_folds.get("national", [])
    bias = cfg.bias_correction
    by_geo = ev.by_geo.copy()
    by_geo.insert(1, "name", by_geo["geo_id"].map(page.names).fillna(by_geo["geo_id"]))
    lines = [
        f"# {cfg.experiment_key}: walk-forward hindcast {folds[0]}-{folds[-1]}",
        "", f"Run: `{page.run_name}`. {cfg.description}", "", *(f"**{line}**  " for line in headline(page)), "",
        f"Each season is predicted by a model fitted only on earlier seasons. Unit: {cfg.unit}. "
        f"`model` is bias-corrected ({'on' if bias.enabled else 'off'}, from at least {bias.min_folds} earlier "
        "folds), `model_uncorrected` is the same model without it, `trend` the per-geo linear trend baseline. "
        + _national_sentence(cfg),
        "", "## Skill", "", md_table(ev.headline()), "",
        *_init_date_lines(cfg, page, parts),
        "## Interval coverage",
        "", f"Conformal intervals calibrated for each season on earlier seasons' walk-forward residuals only "
        f"(at least {cfg.conformal.min_folds} earlier seasons, finite-sample (n+1) rank)." + _warmup_sentence(cfg)
        + _national_intervals(cfg), "",
        md_table(ev.coverage, 3), "",
        f"Seasons with no geo interval (too few earlier seasons): {', '.join(no_geo) or 'none'}. "
        f"With no national interval at the highest level: {', '.join(no_nat) or 'none'}.", "",
        *(["![national hindcast](national_hindcast.png)", "", "![error by season](error_by_season.png)", ""]
          if cfg.has_area else []),
        "![coverage](coverage.png)", "",
        "## Models compared", "",
        f"Every configured model and ensemble on the same folds, without bias correction; coverage of "
        f"{cfg.conformal.modes[0]} geo intervals calibrated on each model's own earlier residuals. "
        f"The experiment's model is `{cfg.model.name}`.", "", md_table(parts.comparison), "",
        "## Skill by fold (geo level)", "", md_table(ev.by_fold), "",
        "## Skill by geo", "", md_table(by_geo), "",
        "## Excluded rows", "", *_qc_lines(cfg, parts.excluded), "",
        "## Gaps filled", "", *_gap_lines(cfg, parts.gaps), "",
        "## What this run is", "", *_facts_lines(page.facts), "",
    ]
    return "\n".join(lines)


def skill_by_init_plot(cfg: ExperimentConfig, table: pd.DataFrame) -> bytes:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, level in zip(axes, ("geo", "national")):
        rows = table[table["level"] == level]
        ax.plot(rows["init_md"], rows["rmse"], "o-", label="model")
        ax.plot(rows["init_md"], rows["rmse_trend"], "--", color="tab:gray", label="trend")
        ax.set(title=f"{level} RMSE by init date", xlabel="init date (month-day)", ylabel=f"RMSE ({cfg.unit})")
        ax.legend(fontsize=8)
    data = _png(fig)
    plt.close(fig)
    return data
