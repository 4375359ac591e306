"""Feature drift: does a season's weather look like the seasons the model learned from?

Per feature, a two-sample Kolmogorov-Smirnov test (`scipy.stats.ks_2samp`) of the current
values against the reference values; a feature drifts when its p-value is below `p_value`.
Why not Evidently: it pulls a large dependency tree, and for numeric columns with fewer than
1000 rows it applies this same KS test at p < 0.05, so it would add weight and no judgement.
Why not PSI: it needs binning and is unstable with ~40 current rows (one value per geo of one
season). scipy is already installed (via scikit-learn).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from hindcast_assets.core.report import _png, _pyplot
from hindcast_assets.core.severity import Severity

MIN_VALUES = 5  # fewer known values than this (either side): not compared; KS cannot judge so few
MAX_PLOTTED = 8


@dataclass(frozen=True)
class DriftSummary:
    drift_detected: bool
    dataset_drift_score: float  # share of compared features that drifted
    n_drifted: int
    total: int  # features compared
    feature_drift: dict[str, float]  # KS statistic per compared feature
    p_values: dict[str, float]  # KS p-value per compared feature
    not_known: list[str]  # too few current values (e.g. months not ended at the init date)
    report_path: str | None = None
    timestamp: str = ""  # ISO-8601 UTC

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DriftSummary:
        """Unknown keys are ignored, so older readers accept newer summaries."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def with_report(self, path: str) -> DriftSummary:
        return dataclasses.replace(self, report_path=path)

    def drifted(self) -> list[str]:
        """The drifted features. Drift is `p < threshold`, so they are the `n_drifted` smallest
        p-values (equal p-values share a verdict): the threshold need not be stored."""
        return sorted(self.p_values, key=self.p_values.__getitem__)[:self.n_drifted]


def _known(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The column's values with NaN dropped; a missing column has none."""
    if column not in frame.columns:
        return np.empty(0)
    values = frame[column].to_numpy(float)
    return values[~np.isnan(values)]


def _per_season(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A season-level feature's one value per season (every geo it applies to holds the same)."""
    if column not in frame.columns:
        return np.empty(0)
    return frame.groupby("season_year")[column].first().dropna().to_numpy(float)


def rank_test(reference: np.ndarray, value: float) -> tuple[float, float]:
    """(percentile of `value` among the reference values, one-sided conformal p-value of it lying
    that far out: (reference values at least as extreme on its side + 1) / (n + 1)). One value
    beyond every one of n >= 20 reference seasons drifts at p < 0.05."""
    below, above = int(np.sum(reference <= value)), int(np.sum(reference >= value))
    return below / len(reference), (min(below, above) + 1) / (len(reference) + 1)


def measure_drift(reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str], p_value: float,
                  timestamp: str = "", season_level: Sequence[str] = ()) -> DriftSummary:
    """Two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp) per feature: a feature drifts when
    p < p_value. NaN values are dropped per feature; a feature with fewer than MIN_VALUES known
    values on either side is `not_known` and left out of the share. A `season_level` feature (a
    region-wide series: one value per season, repeated over geos) is one observation, not one per
    geo: its value is ranked among the reference seasons' (`rank_test`; the statistic is that
    percentile)."""
    statistics: dict[str, float] = {}
    p_values: dict[str, float] = {}
    not_known: list[str] = []
    for column in columns:
        if column in season_level:
            ref, cur = _per_season(reference, column), _per_season(current, column)
            if len(ref) < MIN_VALUES or len(cur) != 1:
                not_known.append(column)
                continue
            statistics[column], p_values[column] = rank_test(ref, float(cur[0]))
            continue
        ref, cur = _known(reference, column), _known(current, column)
        if len(ref) < MIN_VALUES or len(cur) < MIN_VALUES:
            not_known.append(column)
            continue
        result = ks_2samp(ref, cur)
        statistics[column], p_values[column] = float(result.statistic), float(result.pvalue)
    n_drifted = sum(p < p_value for p in p_values.values())
    total = len(p_values)
    return DriftSummary(
        drift_detected=n_drifted > 0, dataset_drift_score=n_drifted / total if total else 0.0,
        n_drifted=n_drifted, total=total, feature_drift=statistics, p_values=p_values, not_known=not_known,
        timestamp=timestamp or datetime.now(timezone.utc).isoformat(timespec="seconds"))


def drift_severity(summary: DriftSummary, warn_share: float, error_share: float) -> Severity | None:
    """None (pass), WARN or ERROR by the drifted share: the one place the thresholds apply."""
    if summary.dataset_drift_score > error_share:
        return Severity.ERROR
    if summary.dataset_drift_score > warn_share:
        return Severity.WARN
    return None


def drift_markdown(summary: DriftSummary, title: str, reference_label: str, current_label: str,
                   warn_share: float, error_share: float) -> str:
    """Verdict, one row per compared feature (most drifted first), then the features not yet known."""
    verdict = drift_severity(summary, warn_share, error_share) or "PASS"
    drifted = set(summary.drifted())
    lines = [
        f"# {title}", "",
        f"**{verdict}**: {summary.n_drifted} of {summary.total} features drifted "
        f"(share {summary.dataset_drift_score:.2f}; WARN above {warn_share:.2f}, ERROR above {error_share:.2f}).", "",
        f"Reference: {reference_label}. Current: {current_label}. Two-sample Kolmogorov-Smirnov test per feature.",
        "", "| feature | KS statistic | p-value | drifted |", "|---|---:|---:|---|",
    ]
    for name in sorted(summary.feature_drift, key=summary.feature_drift.__getitem__, reverse=True):
        lines.append(f"| {name} | {summary.feature_drift[name]:.3f} | {summary.p_values[name]:.3g} | "
                     f"{'yes' if name in drifted else 'no'} |")
    lines += ["", f"Not yet known (excluded): {', '.join(summary.not_known) or 'none'}.", ""]
    return "\n".join(lines)


def drift_plot_png(reference: pd.DataFrame, current: pd.DataFrame, summary: DriftSummary, title: str) -> bytes:
    """For the (up to 8) most drifted features: the reference histogram, current values as red ticks."""
    plt = _pyplot()
    names = sorted(summary.feature_drift, key=summary.feature_drift.__getitem__, reverse=True)[:MAX_PLOTTED]
    cols = min(4, max(1, len(names)))
    rows = max(1, -(-len(names) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    drifted = set(summary.drifted())
    for ax, name in zip(axes.flat, names):
        # one patch and one line collection per panel, not a patch per bin and a line per value
        ax.hist(_known(reference, name), bins=30, histtype="stepfilled", color="tab:gray", alpha=0.6, density=True,
                label="reference")
        ax.vlines(_known(current, name), 0, 0.15, transform=ax.get_xaxis_transform(), color="tab:red", lw=1,
                  label="current")
        ax.set_title(f"{name}\nD={summary.feature_drift[name]:.2f} p={summary.p_values[name]:.2g}", fontsize=8,
                     color="tab:red" if name in drifted else "black")
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if names:
        axes.flat[0].legend(fontsize=7)
    else:
        axes.flat[0].text(0.5, 0.5, "no feature compared", ha="center", va="center")
    fig.tight_layout()
    fig.suptitle(title, fontsize=10, y=1.02)
    data = _png(fig)
    plt.close(fig)
    return data
