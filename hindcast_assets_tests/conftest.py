"""Shared fixtures: an isolated Dagster home and MLflow store per test, and small real configs."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import yaml

from hindcast_assets.paths import BUNDLED_DATA_DIR, CONFIGS_DIR

warnings.filterwarnings("ignore")


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    """Every test gets its own DAGSTER_HOME and MLflow store; nothing touches the project's .state."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return tmp_path


@pytest.fixture
def input_dir(tmp_path, monkeypatch) -> Path:
    """A writable copy of the bundled real data, used as INPUT_DATA_DIR (tests may corrupt it)."""
    target = tmp_path / "input"
    shutil.copytree(BUNDLED_DATA_DIR, target, ignore=shutil.ignore_patterns("runs"))
    monkeypatch.setenv("INPUT_DATA_DIR", str(target))
    return target


def write_config(folder: Path, base: str = "corn_usa", **overrides) -> Path:
    """A config from `configs/<base>.yaml` with nested overrides (`hindcast={"first_test_year": 2009}`);
    an empty dict replaces the key's value (`compare={}`: no compared models)."""
    raw = yaml.safe_load((CONFIGS_DIR / f"{base}.yaml").read_text())
    for key, value in overrides.items():
        merge = isinstance(value, dict) and value and isinstance(raw.get(key), dict)
        raw[key] = {**raw[key], **value} if merge else value
    path = folder / f"{raw['experiment_key']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def small_config(tmp_path, input_dir) -> Path:
    """corn_usa on the real state data with LightGBM alone, three test seasons (2009-2011) plus production."""
    return write_config(tmp_path, hindcast={"first_test_year": 2009, "last_test_year": 2011},
                        model={"name": "lightgbm", "params": {}}, compare={}, ensembles={})
