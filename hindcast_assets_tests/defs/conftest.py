"""Every Dagster-layer test runs on both instance profiles (issue 13): the embedded SQLite one and
the PostgreSQL one (a fresh database per test; `scaleout`, as it needs the server)."""
import pytest


@pytest.fixture(autouse=True, params=["sqlite", pytest.param("postgres", marks=pytest.mark.scaleout)])
def instance_profile(request) -> str:
    if request.param == "postgres":
        request.getfixturevalue("postgres_instance")
    return request.param
