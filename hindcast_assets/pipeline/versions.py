"""What made an artefact, beyond its inputs: the libraries and the pipeline's own code."""
from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import PackageNotFoundError, version

from hindcast_assets.paths import PROJECT_ROOT

PACKAGES = ("dagster", "mlflow", "pandas", "numpy", "pyarrow", "lightgbm", "xgboost-cpu", "scikit-learn", "skops",
            "zarr")
# The code a stage's numbers come from: the config, the domain core, the models and the pipeline
# (stage functions call across all of them, so one version covers them all). The Dagster layer,
# launcher and CLI above only move the numbers.
PIPELINE_CODE = ("config.py", "core", "models", "pipeline")


def installed(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


@cache
def pipeline_version() -> str:
    """A hash of the pipeline's source files and the model libraries' versions: a fold fitted by
    other code, or other library versions, is never taken for this code's."""
    package = PROJECT_ROOT / "hindcast_assets"
    digest = hashlib.sha256()
    for entry in PIPELINE_CODE:
        files = [package / entry] if entry.endswith(".py") else sorted((package / entry).rglob("*.py"))
        for f in files:
            digest.update(f.relative_to(package).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    digest.update(" ".join(f"{p}={installed(p)}" for p in PACKAGES).encode())
    return digest.hexdigest()[:24]
