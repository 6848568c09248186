"""Quotas: how many of each resource a project may have, enforced where rows are created.

The check runs inside the creating unit of work (`crud.create_many` calls `enforce` for
every kind declared with `quota=`), so a create and the count it was checked against commit
together. It needs no per-project lock row: on PostgreSQL a transaction-scoped advisory lock
keyed by (resource, project) is taken just before counting, only when the limit is finite, so
two API processes creating the last allowed port of one project serialise on that key alone
and every other project proceeds untouched; SQLite's single writer already serialises. The
count stops at limit + 1 rows, so a check never scans more than the limit.

Limits are Neutron's: settings give the defaults (`quota_port = 500` ...), the `quotas`
table holds per-project overrides, -1 means unlimited.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.store.db import UnitOfWork
from alcor.store.schema import metadata

QUOTA_LOCK_CLASS = 0x41C0  # first key of pg_advisory_xact_lock(int, int) for quota checks

quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("project_id", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("limit", sa.BigInteger(), nullable=False),
)

# Neutron's quota keys and defaults (neutron.conf [quotas]); subnetpool and rbac_policy are
# reported like Neutron does although nothing here creates them.
DEFAULTS: dict[str, int] = {
    "network": 100,
    "subnet": 100,
    "subnetpool": -1,
    "port": 500,
    "router": 10,
    "floatingip": 50,
    "rbac_policy": 10,
    "security_group": 10,
    "security_group_rule": 100,
}


class Limits:
    """The configured defaults, and per-project limits read from the database."""

    def __init__(self, defaults: dict[str, int]) -> None:
        self.defaults = {**DEFAULTS, **defaults}

    def of_project(self, conn: sa.Connection | UnitOfWork, project_id: str) -> dict[str, int]:
        rows = conn.execute(
            sa.select(quotas.c.resource, quotas.c.limit).where(quotas.c.project_id == project_id)
        )
        return {**self.defaults, **{r.resource: int(r.limit) for r in rows}}

    def limit(self, uow: UnitOfWork, project_id: str, key: str) -> int:
        row = uow.execute(_LIMIT, {"project_id": project_id, "resource": key}).first()
        return self.defaults[key] if row is None else int(row[0])


_LIMIT = sa.select(quotas.c.limit).where(
    quotas.c.project_id == sa.bindparam("project_id"),
    quotas.c.resource == sa.bindparam("resource"),
)

LIMITS = Limits({})


def configure(defaults: dict[str, int]) -> None:
    """Set the defaults from the server's settings."""
    global LIMITS
    LIMITS = Limits(defaults)


def over_quota(key: str) -> errors.NeutronError:
    return errors.typed(errors.Conflict, "OverQuota", f"Quota exceeded for resources: ['{key}'].")


def enforce(uow: UnitOfWork, key: str, table: sa.Table, items: list[dict[str, Any]]) -> None:
    """Refuse the batch (409 OverQuota) if any project would exceed its `key` limit.

    Items without a project (a router's gateway port belongs to nobody) are not counted, as in
    Neutron.
    """
    wanted = Counter(it["project_id"] for it in items if it.get("project_id"))
    for project_id, n in sorted(wanted.items()):
        limit = LIMITS.limit(uow, project_id, key)
        if limit < 0:
            continue
        if n > limit:
            raise over_quota(key)
        if uow.dialect == "postgresql":
            uow.execute(
                sa.select(
                    sa.func.pg_advisory_xact_lock(
                        QUOTA_LOCK_CLASS, sa.func.hashtext(f"{key}:{project_id}")
                    )
                )
            )
        if count(uow, table, project_id, limit + 1) + n > limit:
            raise over_quota(key)


def count(
    conn: sa.Connection | UnitOfWork, table: sa.Table, project_id: str, cap: int | None = None
) -> int:
    """Rows of the project in `table`, counting no further than `cap`."""
    inner = sa.select(sa.literal(1)).where(table.c.project_id == project_id)
    if cap is not None:
        inner = inner.limit(cap)
    return int(conn.execute(sa.select(sa.func.count()).select_from(inner.subquery())).scalar_one())
