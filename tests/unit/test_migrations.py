"""The Alembic migrations build exactly the schema the declarations describe.

Resource tables are generated from attribute declarations, so a new attribute changes the
model at once; this test fails until a migration for it is added (`alembic revision
--autogenerate` through `alcor.store.migrate`), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from alcor.schema_head import all_metadata
from alcor.store import migrate


def test_migrations_match_declarations(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.head()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), all_metadata())
    assert diff == []
    engine.dispose()


def test_server_refuses_an_outdated_schema(pg_url: str) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "alcor",
            "server",
            "--bind",
            "127.0.0.1:1",
            "--database-url",
            pg_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"ALCOR_CONFIG": "/nonexistent", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert "alcor db upgrade --database-url" in proc.stderr
    assert "database is empty" in proc.stderr
