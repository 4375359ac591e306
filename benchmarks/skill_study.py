"""What each modelling change buys (issue 14): full walk-forward hindcasts of one experiment under
config variants, each step adding one change to the one before, read back from the run_dir's
reports exactly as `make demo` writes them, with the hindcast's wall time.

    python benchmarks/skill_study.py [config] [--only NAME ...] [--out results.csv]

The variants are the rows of the README's before/after table. Each is chosen on the walk-forward
folds only: a fold trains on seasons before its test season, so no row looks at a test outcome
an analyst of that season could not have known.
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hindcast_assets.config import config_from_dict  # noqa: E402
from hindcast_assets.pipeline.loop import plain_hindcast  # noqa: E402

EARLIER_FOLDS = {"conformal": {"national_residuals": "earlier_folds"}}
INNER_FOLDS = {"conformal": {"national_residuals": "inner_folds"}}
AGRONOMY = {"features": {"derived": ["gdd", "edd", "vpd", "water_balance"]}}
PRESEASON = {"features": {"preseason": ["prcp"]}}
VARIANTS: dict[str, list[dict]] = {  # cumulative: each adds its overlays to the previous row's
    "before": [EARLIER_FOLDS, {"features": {"derived": [], "preseason": []}}],
    "+ national intervals from inner refits": [INNER_FOLDS],
    "+ degree days, VPD, water balance": [AGRONOMY],
    "+ Oct-Apr precipitation": [PRESEASON],
}


def merged(base: dict, overlay: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def configs(path: Path) -> dict[str, dict]:
    """Each variant's config; a variant of monthly features only where the experiment has them."""
    raw, out = yaml.safe_load(path.read_text()), {}
    monthly = bool(raw.get("features", {}).get("variables"))
    for name, overlays in VARIANTS.items():
        if not monthly and any("features" in o for o in overlays) and name != "before":
            continue
        for overlay in overlays:
            raw = merged(raw, overlay if monthly else {k: v for k, v in overlay.items() if k != "features"})
        out[name] = copy.deepcopy(raw)
    return out


def figures(reports: Path) -> dict:
    """The issue's acceptance figures from a run_dir's reports."""
    skill = pd.read_csv(reports / "skill.csv").set_index(["level", "predictor"])["rmse"]
    cover = pd.read_csv(reports / "coverage.csv")
    nat = cover[(cover["scope"] == "national") & (cover["mode"] == "absolute")].set_index("level")
    by_init_csv = reports / "skill_by_init_date.csv"
    by_init = pd.read_csv(by_init_csv).set_index(["init_md", "level"]) if by_init_csv.exists() else pd.DataFrame()
    row = {"state_rmse": skill[("geo", "model")], "state_trend": skill[("geo", "trend")],
           "national_rmse": skill.get(("national", "model")), "national_trend": skill.get(("national", "trend"))}
    for level in (0.8, 0.9):
        pct = round(level * 100)
        row[f"national_cov_{pct}"] = nat.loc[level, "coverage"] if level in nat.index else None
        row[f"national_width_{pct}"] = nat.loc[level, "mean_width"] if level in nat.index else None
        row[f"national_without_{pct}"] = nat.loc[level, "n_without_interval"] if level in nat.index else None
    for (md, level), r in by_init.iterrows():
        row[f"{level}_{md}"] = r["rmse"]
        row[f"{level}_{md}_trend"] = r["rmse_trend"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "corn_usa.yaml"))
    parser.add_argument("--only", nargs="*", help="variant names (default: all)")
    parser.add_argument("--out", default="/tmp/skill_study.csv")
    args = parser.parse_args()
    rows = []
    for name, raw in configs(Path(args.config)).items():
        if args.only and name not in args.only:
            continue
        cfg = config_from_dict(raw, args.config)
        with tempfile.TemporaryDirectory() as runs:
            started = time.perf_counter()
            rd = plain_hindcast(cfg, runs)
            seconds = time.perf_counter() - started
            rows.append({"variant": name, "hindcast_s": seconds, **figures(Path(rd.root) / "reports")})
        print(pd.DataFrame(rows).iloc[-1].to_string(), flush=True)
        pd.DataFrame(rows).to_csv(args.out, index=False)
    print(pd.DataFrame(rows).set_index("variant").T.to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()
