"""Where the project keeps its code-side files (configs, bundled data, local state).

These are paths of the code checkout, never of a run_dir, so pathlib is right here.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIGS_DIR = PROJECT_ROOT / "configs"
BUNDLED_DATA_DIR = PROJECT_ROOT / "data"
STATE_DIR = PROJECT_ROOT / ".state"


def config_file(experiment_key: str) -> str:
    """The config file named in errors when the caller names none: `configs/<key>.yaml`."""
    return f"configs/{experiment_key}.yaml"


def input_data_dir() -> str:
    """`INPUT_DATA_DIR` if set, else the bundled `data/` folder."""
    return os.environ.get("INPUT_DATA_DIR") or str(BUNDLED_DATA_DIR)


def default_runs_dir() -> str:
    return f"{input_data_dir().rstrip('/')}/runs"


def mlflow_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` if set, else an sqlite store in the git-ignored state folder."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    STATE_DIR.mkdir(exist_ok=True)
    return f"sqlite:///{STATE_DIR / 'mlflow.db'}"


def mlflow_artifact_location(tracking_uri: str) -> str | None:
    """Where a new MLflow experiment keeps its artefacts: beside an sqlite store's file
    (`<db>-artifacts/`), not MLflow's default `./mlruns` under whatever folder a run starts in;
    None for a tracking server, which decides."""
    prefix = "sqlite:///"
    return f"{tracking_uri.removeprefix(prefix).removesuffix('.db')}-artifacts" if tracking_uri.startswith(prefix) \
        else None
