"""The layers (docs/architecture.md): the import contracts hold and bite, no module imports itself
through a cycle, the code location builds nothing on import and leaves a broken config out, and
the stage table is the map."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import hindcast_assets
from hindcast_assets.paths import PROJECT_ROOT

PACKAGE = Path(hindcast_assets.__file__).parent
DAGSTER_LAYER = ("defs/", "definitions.py", "launch/")


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


def test_parquet_is_read_and_written_through_core_parquet_only():
    """pandas hands pyarrow a Python file object for a path; released by one of arrow's threads
    at exit, it aborts the process (core/parquet.py): no module calls pandas' parquet I/O itself."""
    offenders = [f"{p.relative_to(PACKAGE)}:{node.lineno}" for p in sorted(PACKAGE.rglob("*.py"))
                 if p != PACKAGE / "core" / "parquet.py" for node in ast.walk(ast.parse(p.read_text()))
                 if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                 and node.func.attr in ("read_parquet", "to_parquet", "read_table", "write_table")]
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


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` on the package under `root`, with the contracts in `root`'s pyproject.toml."""
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True)


def test_the_import_contracts_hold():
    linted = _lint_imports(PROJECT_ROOT)
    assert linted.returncode == 0, linted.stdout[-3000:]
    assert "Contracts: 3 kept, 0 broken." in linted.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("core/metrics.py", "import hindcast_assets.pipeline.store", "Imports only go down"),  # up a layer
    ("pipeline/records.py", "import dagster", "run without Dagster"),
    ("core/frames.py", "import hindcast_assets.core.predictions", "No cycles between"),  # predictions imports frames
])
def test_breaking_a_contract_fails_the_lint(tmp_path, module, line, broken):
    shutil.copytree(PACKAGE, tmp_path / "hindcast_assets", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "hindcast_assets" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    linted = _lint_imports(tmp_path)
    assert linted.returncode != 0
    assert any(broken in row and "BROKEN" in row for row in linted.stdout.splitlines()), linted.stdout[-2000:]


def _cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each a cycle of imports."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_no_module_imports_itself_through_a_cycle():
    graph = grimp.build_graph("hindcast_assets", cache_dir=None)  # imports inside functions count too
    assert _cycles(graph) == []
    graph.add_import(importer="hindcast_assets.core.frames", imported="hindcast_assets.core.predictions")
    assert _cycles(graph) == [["hindcast_assets.core.ensembles", "hindcast_assets.core.frames",
                               "hindcast_assets.core.predictions"]]


def test_the_cli_never_loads_the_code_location():
    """Commands about one experiment read its config only: a broken config beside it cannot fail them."""
    graph = grimp.build_graph("hindcast_assets", cache_dir=None)
    assert not graph.chain_exists(importer="hindcast_assets.cli", imported="hindcast_assets.definitions")
    assert not graph.chain_exists(importer="hindcast_assets.launch", imported="hindcast_assets.definitions")


def test_importing_the_code_location_reads_no_config(tmp_path):
    (tmp_path / "broken.yaml").write_text("experiment_key: [unclosed\n")
    probe = ("import sys; opened = []\n"
             "sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' else None)\n"
             "import hindcast_assets.definitions\n"
             "print([p for p in opened if p.endswith('.yaml')])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "HINDCAST_CONFIGS_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_a_broken_config_is_left_out_and_the_others_load(tmp_path, caplog):
    from hindcast_assets.definitions import load_definitions
    from hindcast_assets.paths import CONFIGS_DIR

    shutil.copy(CONFIGS_DIR / "corn_usa.yaml", tmp_path)
    (tmp_path / "broken.yaml").write_text("experiment_key: [unclosed\n")
    (tmp_path / "zz_copy.yaml").write_text((CONFIGS_DIR / "corn_usa.yaml").read_text())  # the same key again
    defs = load_definitions(str(tmp_path))
    assert {"corn_usa__hindcast", "corn_usa__retrain"} <= {j.name for j in defs.resolve_all_job_defs()}
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and str(tmp_path / "broken.yaml") in errors[0] and "malformed YAML" in errors[0]
    assert errors[1].endswith(f"{tmp_path / 'zz_copy.yaml'}: experiment_key: 'corn_usa' is {tmp_path / 'corn_usa.yaml'}'s too")


def test_an_unknown_executor_is_one_error_for_the_code_location(monkeypatch, caplog):
    from hindcast_assets.core.errors import UserError
    from hindcast_assets.definitions import load_definitions
    from hindcast_assets.paths import CONFIGS_DIR

    monkeypatch.setenv("HINDCAST_EXECUTOR", "celry")
    with pytest.raises(UserError) as raised:
        load_definitions(str(CONFIGS_DIR))
    assert str(raised.value) == "HINDCAST_EXECUTOR='celry': expected one of in_process, multiprocess, celery, k8s"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # not logged once per config
