"""`make bench`'s retraining figure (issue 30 part 2): what a hindcast costs when one season of
yields lands beside a complete run_dir of the season before, against a full hindcast.

The champion is corn_usa through 2022 on the yields as they stood then (the bundled yields
without 2023); then 2023's yields land and corn_usa through 2023 runs into the same runs folder:
the folds 1990-2022 and the warm-up are copied (pipeline/reuse.py), fold 2023, production and
the fan-in are fitted. Its artefacts are compared with the full hindcast's, file by file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
STATE_CONFIG = ROOT / "configs" / "corn_usa.yaml"
YIELDS = Path("us_state_corn") / "yields.parquet"
# Name their run_dir, or (the config) the input folder: the bench's inputs are a copy of the bundled data
NOT_COMPARED = ("delivery/", "reports/report.md", "reports/report.html", "config_resolved.yaml")


def _artefacts(run_dir: str) -> dict[str, str]:
    manifest = json.loads((Path(run_dir) / "manifest.json").read_text())
    return {a["path"]: a["sha256"] for a in manifest["artefacts"] if not a["path"].startswith(NOT_COMPARED)}


def new_season_figures(bench, full: dict) -> dict:
    """The new-season hindcast against `full` (the bench's job record of a full corn_usa hindcast)."""
    from scaleout import state_config

    from hindcast_assets.paths import BUNDLED_DATA_DIR

    scratch = bench.scratch / "new_season"
    inputs = scratch / "input"
    shutil.copytree(BUNDLED_DATA_DIR, inputs, ignore=shutil.ignore_patterns("runs"))
    last = yaml.safe_load(STATE_CONFIG.read_text())["hindcast"]["last_test_year"]
    before = state_config(scratch, "corn_usa", {"hindcast": {"last_test_year": last - 1}})
    yields = pd.read_parquet(inputs / YIELDS)
    yields[yields["season_year"] < last].to_parquet(inputs / YIELDS, index=False)
    env, runs = {"INPUT_DATA_DIR": str(inputs)}, str(scratch / "runs")
    champion = bench.job("hindcast", before, env=env, runs_dir=runs)
    shutil.copy(BUNDLED_DATA_DIR / YIELDS, inputs / YIELDS)  # the new season's yields land
    challenger = bench.job("hindcast-reusing", STATE_CONFIG, env=env, runs_dir=runs)
    ours, theirs = _artefacts(challenger["run_dir"]), _artefacts(full["run_dir"])
    differ = sorted(p for p in set(ours) | set(theirs) if ours.get(p) != theirs.get(p))
    reused = json.loads((Path(challenger["run_dir"]) / "manifest.json").read_text())["completed"]
    return {"new_season": {"season": last, "seconds": challenger["seconds"], "full_s": full["seconds"],
                           "champion_s": champion["seconds"], "ratio": challenger["seconds"] / full["seconds"],
                           "reused": sum("reused_from" in c for c in reused.values()), "partitions": len(reused),
                           "artefacts": len(ours), "differ": differ}}


def rows(f: dict) -> list[tuple[str, str, str]]:
    n = f["new_season"]
    same = "all byte-identical" if not n["differ"] else f"{len(n['differ'])} differ, e.g. {n['differ'][0]}"
    return [(f"retrain after one new season ({n['season']}) / full hindcast, corn_usa",
             f"{n['ratio']:.3f} ({n['seconds']:.1f} s / {n['full_s']:.1f} s; {n['reused']} of {n['partitions']} "
             f"stage partitions copied; {n['artefacts']} artefacts {same}, run-stamped files aside)", "<= 0.25")]
