"""A snapshot of the code location (as dagster-open-platform keeps one): every asset with its
partitions and stage, every asset check, job and sensor. A change to the
graph shows up here as a diff to read and commit, not as a surprise in the UI.
Regenerate with `UPDATE_SNAPSHOTS=1 pytest hindcast_assets_tests/defs/test_definitions_snapshot.py`."""
from __future__ import annotations

import os
from pathlib import Path


SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"


def _partitions(spec) -> str:
    partitions = spec.partitions_def
    return type(partitions).__name__ if partitions is not None else "-"


def _code_references(spec) -> list:
    value = spec.metadata.get("dagster/code_references")
    return value.code_references if value is not None else []


def render(defs) -> str:
    """One line per asset, check, job and sensor, sorted: what the UI shows, and where it comes from."""
    repo = defs.get_repository_def()
    assets = [f"asset {spec.key.to_user_string()}  partitions={_partitions(spec)}  stage={spec.tags.get('hindcast/stage', '-')}"
              f"  code={','.join(r.label for r in _code_references(spec)) or '-'}"
              for spec in defs.resolve_all_asset_specs()]
    checks = [f"check {key.asset_key.to_user_string()}:{key.name}" for key in repo.asset_graph.asset_check_keys]
    jobs = [f"job {job.name}" for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    sensors = [f"sensor {sensor.name}" for sensor in repo.sensor_defs]
    return "\n".join(sorted(assets) + sorted(checks) + sorted(jobs) + sorted(sensors)) + "\n"


def test_the_code_location_matches_its_snapshot():
    from hindcast_assets.definitions import defs

    now = render(defs())
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(now)
    assert now == SNAPSHOT.read_text(), "the code location changed: read the diff, then UPDATE_SNAPSHOTS=1"


def test_every_stage_asset_links_to_the_def_line_of_its_stage_function():
    """The UI's source link of a stage asset opens its stage function, not the generated body
    every stage asset shares."""
    from hindcast_assets.definitions import defs

    stage_specs = [spec for spec in defs().resolve_all_asset_specs() if "hindcast/stage" in spec.tags]
    assert stage_specs
    for spec in stage_specs:
        (reference,) = _code_references(spec)
        line = Path(reference.file_path).read_text().splitlines()[reference.line_number - 1]
        assert line.startswith(f"def {reference.label.rsplit('.', 1)[1]}("), (spec.key, line)
        assert Path(reference.file_path).name == reference.label.split(".")[-2] + ".py"
