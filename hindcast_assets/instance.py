"""Which Dagster instance the CLI and `make` use: a profile chosen by one variable.

`HINDCAST_INSTANCE=sqlite` (the default: `make demo` needs no server) keeps the embedded SQLite
instance in `.state/dagster`; `HINDCAST_INSTANCE=postgres` keeps run, event-log and schedule
storage in PostgreSQL (`deploy/instance/postgres.yaml`, home `.state/dagster-postgres`), with a
queued run coordinator and one run at a time per experiment. An explicit `$DAGSTER_HOME` wins.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

from hindcast_assets.core.errors import UserError
from hindcast_assets.paths import PROJECT_ROOT, STATE_DIR

PROFILES = {name: PROJECT_ROOT / "deploy" / "instance" / f"{name}.yaml" for name in ("sqlite", "postgres")}
HOMES = {"sqlite": STATE_DIR / "dagster", "postgres": STATE_DIR / "dagster-postgres"}
# SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres brings psycopg2
DEFAULT_PG_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/hindcast_dagster"


def libpq_url(url: str) -> str:
    """The URL without SQLAlchemy's driver part, as libpq (psycopg2.connect) reads it."""
    return url.replace("postgresql+psycopg2://", "postgresql://", 1)


class InstanceError(UserError, ValueError):
    """An instance profile that cannot be used; the message names the variable."""


def profile() -> str:
    name = os.environ.get("HINDCAST_INSTANCE", "sqlite")
    if name not in PROFILES:
        raise InstanceError(f"HINDCAST_INSTANCE={name!r}: expected one of {', '.join(PROFILES)}")
    return name


def ensure_postgres_database(url: str) -> None:
    """The instance's database exists (created on first use; Dagster creates its tables)."""
    import psycopg2
    from psycopg2 import sql

    parts = urlparse(libpq_url(url))
    name = parts.path.lstrip("/")
    try:
        admin = psycopg2.connect(parts._replace(path="/postgres").geturl(), connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise InstanceError(f"DAGSTER_PG_URL={url}: cannot connect ({str(exc).strip().splitlines()[0]})") from None
    admin.autocommit = True  # CREATE DATABASE runs outside a transaction (so no `with admin:`)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()


def ensure_dagster_home() -> Path:
    """`$DAGSTER_HOME`, else the profile's home, holding the profile's dagster.yaml if it has none;
    for PostgreSQL, its database exists. Runs land on this persistent instance, so the UI shows them."""
    name = profile()
    home = Path(os.environ.get("DAGSTER_HOME") or HOMES[name])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(PROFILES[name], home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    if "postgres:" in (home / "dagster.yaml").read_text():
        os.environ.setdefault("DAGSTER_PG_URL", DEFAULT_PG_URL)
        ensure_postgres_database(os.environ["DAGSTER_PG_URL"])
    return home


if __name__ == "__main__":  # `python -m hindcast_assets.instance`: what make runs before `dagster dev`
    print(ensure_dagster_home())
