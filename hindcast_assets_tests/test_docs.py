"""The docs site: its generated pages are in step with the code, and it builds in strict mode (a
broken link, a missing page or a bad API reference fails), as `make docs` builds it."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hindcast_assets.paths import PROJECT_ROOT

REFERENCE = PROJECT_ROOT / "docs" / "reference"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_reference", PROJECT_ROOT / "scripts" / "docs_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("page", ["config.md", "cli.md"])
def test_the_generated_reference_pages_are_in_step(page):
    # regenerate with: make docs (or python scripts/docs_reference.py docs/reference)
    assert (REFERENCE / page).read_text() == _generator().PAGES[page]()


def test_the_site_builds_in_strict_mode(tmp_path):
    built = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(tmp_path)],
                           cwd=PROJECT_ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "reference" / "api" / "index.html").read_text().count("ExperimentResult") > 3
