"""The three layers (DESIGN.md §7): only the Dagster layer (`defs/`, `definitions.py`) and the
CLI's launcher (`runner.py`) may import dagster; the stage table is the map."""
from __future__ import annotations

import ast
from pathlib import Path

import hindcast_assets
from hindcast_assets.paths import PROJECT_ROOT

PACKAGE = Path(hindcast_assets.__file__).parent
DAGSTER_LAYER = ("defs/", "definitions.py", "runner.py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_outside_the_dagster_layer_imports_dagster():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if not str(p.relative_to(PACKAGE)).startswith(DAGSTER_LAYER)
                 and {"dagster", "dagster_mlflow"} & _imports(p)]
    assert offenders == []


def test_the_benchmark_plain_loop_imports_no_dagster_layer():
    bench = (PROJECT_ROOT / "benchmarks" / "bench.py").read_text()
    assert "hindcast_assets.defs" not in bench and "hindcast_assets.pipeline.loop import plain_hindcast" in bench


def test_the_architecture_doc_renders_the_stage_table():
    from hindcast_assets.config import load_config
    from hindcast_assets.paths import CONFIGS_DIR
    from hindcast_assets.pipeline.table import markdown

    doc = (PROJECT_ROOT / "docs" / "architecture.md").read_text()
    # regenerate with: python -m hindcast_assets.pipeline.table
    assert markdown(load_config(CONFIGS_DIR / "corn_usa.yaml")) in doc
