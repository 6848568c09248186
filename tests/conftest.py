"""Shared fixtures: database URLs for SQLite and a throwaway PostgreSQL.

- `pg_server` (session): one PostgreSQL per test session (per xdist worker), started on
  first use and always stopped. Skipped, with the reason, only when no PostgreSQL binaries
  are installed at all; a server that is installed but fails to start is an error.
- `pg_url` (function): a fresh, empty database on that server, dropped afterwards.
- `sqlite_url` (function): a fresh SQLite file in the test's tmp dir.
- `db_url` (function, parametrized "sqlite" / "postgresql"): run a test on both.
- `module_db_url` (module, parametrized the same way): one database shared by a test
  module, for hypothesis tests whose examples must not pay for a new database each.
- `sb_db` (function, parametrized the same way): a `Database` with every table (the
  southbound's tests write rows directly, `tests.scale.southbound_rows`).

Other tests create their tables: `alcor.store.schema.metadata.create_all(engine)` (after
importing the modules that define the tables they need).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests/` has no __init__.py, so pytest (rootdir "prepend" import mode) puts only `tests/`
# itself on sys.path; put the repository root there too so `tests.support` imports the same
# way from tests, conftest and benchmark scripts.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from alcor.store.db import Database  # noqa: E402
from tests.scale import southbound_rows as rows  # noqa: E402
from tests.support.postgres import PostgresServer, find_bin_dir  # noqa: E402


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL is not installed (no initdb/pg_ctl in /usr/lib/postgresql/*/bin or "
            "$PATH; `apt-get install postgresql` or set ALCOR_PG_BIN)"
        )
    with PostgresServer(bin_dir) as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    name = pg_server.unique_name(request.node.name)
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'alcor.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL on each backend (the PostgreSQL case carries the `postgres` mark)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database shared by the test module, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'alcor.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = server.unique_name(request.module.__name__.rsplit(".", 1)[-1])
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def sb_db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    rows.create_schema(database)
    yield database
    database.close()
