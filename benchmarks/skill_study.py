"""What a modelling change buys: full walk-forward hindcasts of one experiment under config
variants (now: without and with the crop condition, issue 28; the issue-14 rows are recorded in
docs/studies/skill_1990_2011.md), read back from the run_dir's reports exactly as `make demo`
writes them, with the hindcast's wall time.

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

DROP = "_drop"  # an overlay's dotted keys to remove
NO_CONDITION = {"inputs": {"regional": None}, "features": {"regional": {"variables": [], "geos": []}},
                "ensembles": {"blend": {"members": ["lightgbm", "xgboost", "hist_gbm"]}},
                DROP: ["compare.condition", "ensembles.stack"]}
VARIANTS: dict[str, list[dict]] = {  # each: the experiment's config with these overlays
    "before: no crop condition": [NO_CONDITION],
    "+ crop condition (the config)": [],
}


def merged(base: dict, overlay: dict) -> dict:
    """`base` with `overlay` merged in (dicts recursively); the dotted keys the overlay lists under
    `DROP` removed."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if key != DROP:
            out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    for dotted in overlay.get(DROP, []):
        *parents, last = dotted.split(".")
        node = out
        for key in parents:
            node = node.get(key, {})
        node.pop(last, None)
    return out


def configs(path: Path, variants: dict[str, list[dict]]) -> dict[str, dict]:
    """Each variant's config: the experiment's config with the variant's overlays."""
    raw, out = yaml.safe_load(path.read_text()), {}
    for name, overlays in variants.items():
        config = raw
        for overlay in overlays:
            config = merged(config, overlay)
        out[name] = config
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
    yardstick = reports / "yardstick.csv"
    if yardstick.exists():
        for r in pd.read_csv(yardstick, dtype={"init_md": str}).itertuples():
            row[f"vs_yardstick_{r.init_md}"] = f"{r.rmse:.2f} vs {r.rmse_yardstick:.2f} ({r.n_seasons} seasons)"
    return row


def study_args(doc: str, out: str) -> argparse.Namespace:
    """A study's command line: the config, `--only` variants, the CSV written as rows come."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("config", nargs="?", default=str(ROOT / "configs" / "corn_usa.yaml"))
    parser.add_argument("--only", nargs="*", help="variant names (default: all)")
    parser.add_argument("--out", default=out)
    return parser.parse_args()


def chosen(args: argparse.Namespace, variants: dict[str, list[dict]]) -> dict[str, dict]:
    return {name: raw for name, raw in configs(Path(args.config), variants).items()
            if not args.only or name in args.only}


def main() -> None:
    args = study_args(__doc__, "/tmp/skill_study.csv")
    rows = []
    for name, raw in chosen(args, VARIANTS).items():
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
