"""Dagster-layer tests whose outcome rests on what the instance stores (runs and their tags,
materialisations and data versions, dynamic partitions, sensor cursors, backfills) run on both
instance profiles (issue 13): the embedded SQLite one and the PostgreSQL one (a fresh database
per test; `scaleout`, as it needs the server). They are marked `both_instances`; the others,
which the instance only carries, run on SQLite (issue 30: tests in minutes)."""
import pytest

PROFILES = ["sqlite", pytest.param("postgres", marks=pytest.mark.scaleout)]


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("both_instances"):
        metafunc.parametrize("instance_profile", PROFILES, indirect=True)


@pytest.fixture(autouse=True)
def instance_profile(request) -> str:
    profile = getattr(request, "param", "sqlite")
    if profile == "postgres":
        request.getfixturevalue("postgres_instance")
    return profile
