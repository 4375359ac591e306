"""Third-party data lives only in the shared folder: `make install` builds the inputs from it into
the git-ignored `data/`, byte for byte the same on every build, and git holds none of it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hindcast_assets.paths import BUNDLED_DATA_DIR, PROJECT_ROOT

SHARED = Path(os.environ.get("SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
BUILD = PROJECT_ROOT / "scripts" / "build_inputs.py"


def test_a_fresh_build_is_byte_identical_to_the_installed_inputs(tmp_path):
    if not SHARED.is_dir():
        message = f"{SHARED}: the shared raw data folder is not here"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    out = tmp_path / "built"
    subprocess.run([sys.executable, str(BUILD), str(SHARED), str(out)], check=True, capture_output=True)
    built = (out / "inputs.sha256").read_text()
    assert built == (BUNDLED_DATA_DIR / "inputs.sha256").read_text()
    listed = {line.split("  ", 1)[1] for line in built.splitlines()}
    assert {"us_state_corn/yields.parquet", "us_state_corn/crop_condition.parquet", "us_state_corn/SOURCE.md",
            "us_county_corn/SOURCE.md", "br_state_soybean/SOURCE.md"} <= listed


def test_git_holds_no_third_party_data():
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    files = tracked.stdout.splitlines()
    assert not [f for f in files if f.startswith("data/")]
    assert not [f for f in files if f.endswith((".parquet", ".zarr", ".csv")) and not f.startswith("benchmarks/results/")]
    ignored = subprocess.run(["git", "check-ignore", "-q", "data/us_state_corn/yields.parquet"], cwd=PROJECT_ROOT)
    assert ignored.returncode == 0
