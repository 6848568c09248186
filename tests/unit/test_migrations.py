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


def test_memberships_take_their_ports_hosts_on_upgrade(db_url: str) -> None:
    """0021: each existing membership gets its port's host ("" for an unbound port)."""
    engine = sa.create_engine(db_url)
    migrate.upgrade(engine, "0020")
    members = sa.table("port_security_groups", sa.column("port_id"), sa.column("security_group_id"))
    with engine.begin() as conn:
        for pid, host in (("p1", "h1"), ("p2", ""), ("p3", None)):
            conn.execute(
                sa.text(
                    "INSERT INTO ports (id, project_id, network_id, mac_address, admin_state_up,"
                    " status, device_id, device_owner, binding_host_id)"
                    " VALUES (:id, 'p', 'n', :mac, true, 'DOWN', '', '', :host)"
                ),
                {"id": pid, "mac": f"fa:16:3e:00:00:0{pid[1]}", "host": host},
            )
        conn.execute(
            members.insert(),
            [{"port_id": p, "security_group_id": g} for p in ("p1", "p2", "p3") for g in "ab"],
        )
    migrate.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT port_id, security_group_id, host FROM port_security_groups")
        )
        found = {(r.port_id, r.security_group_id): r.host for r in rows}
    assert found == {
        ("p1", "a"): "h1",
        ("p1", "b"): "h1",
        ("p2", "a"): "",
        ("p2", "b"): "",
        ("p3", "a"): "",
        ("p3", "b"): "",
    }
    engine.dispose()
