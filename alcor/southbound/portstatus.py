"""Writing port status the way every other port change is written, plus a portable upsert.

Why one helper: status changes come from three places (a host's report, a dead host, a
rebinding) and Neutron semantics want each to bump `revision_number` and `updated_at` and to
appear in the change log like any update, so that API clients polling with revision checks
and our own compiler see it. The update is conditional on the revision read under lock, so a
concurrent API update is never overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alcor.southbound.build import chunked, ports_t, rows_in
from alcor.store.db import UnitOfWork
from alcor.store.schema import port_provisioning

STATUS_COLUMNS = (
    ports_t.c.id,
    ports_t.c.status,
    ports_t.c.revision_number,
    ports_t.c.network_id,
    ports_t.c.binding_host_id,
    ports_t.c.project_id,
    ports_t.c.admin_state_up,
    ports_t.c.device_id,
    ports_t.c.device_owner,
)


def provisioning(conn: sa.Connection, port_ids: Iterable[str]) -> dict[str, sa.RowMapping]:
    """port id -> its `port_provisioning` row (what its host was told and reported)."""
    rows = rows_in(conn, sa.select(port_provisioning), port_provisioning.c.port_id, port_ids)
    return {r["port_id"]: r for r in rows}


def lock_ports(uow: UnitOfWork, ids: Iterable[str]) -> dict[str, Any]:
    """Current status-relevant columns of these ports, row-locked on PostgreSQL."""
    out: dict[str, Any] = {}
    for part in chunked(sorted(set(ids))):  # sorted: a stable lock order avoids deadlocks
        stmt = sa.select(*STATUS_COLUMNS).where(ports_t.c.id.in_(part)).with_for_update()
        out.update({r.id: r for r in uow.execute(stmt)})
    return out


def set_status(uow: UnitOfWork, changes: Sequence[tuple[Any, str]]) -> dict[str, int]:
    """Apply (locked port row, new status) pairs; returns port id -> new revision.

    Rows whose status already equals the new one are left alone (no revision churn).
    """
    out: dict[str, int] = {}
    for row, status in changes:
        if row.status == status:
            continue
        revision = (row.revision_number or 0) + 1
        result = uow.execute(
            ports_t.update()
            .where(ports_t.c.id == row.id, ports_t.c.revision_number == row.revision_number)
            .values(status=status, revision_number=revision, updated_at=uow.now)
        )
        if result.rowcount:
            uow.emit(
                "port_status",
                {
                    "port_id": row.id,
                    "old": row.status,
                    "new": status,
                    "device_id": row.device_id,
                    "device_owner": row.device_owner,
                },
            )
            uow.log(
                "port",
                row.id,
                "update",
                revision,
                network_id=row.network_id,
                host_id=row.binding_host_id,
                project_id=row.project_id,
            )
            out[row.id] = revision
    return out


def upsert(
    uow: UnitOfWork,
    table: sa.Table,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every other given column (SQLite and PG)."""
    if not rows:
        return
    insert = postgresql.insert if uow.dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    columns = [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
    )
    uow.execute(stmt, rows)
