"""Quotas: how many of each resource a project may have, enforced where rows are created.

The check runs inside the creating unit of work (`crud.create_many` calls `enforce` for
every kind declared with `quota=`), so a create and the count it was checked against commit
together. It needs no per-project lock row: on PostgreSQL a transaction-scoped advisory lock
keyed by (resource, project) is taken just before counting, only when the limit is finite, so
two API processes creating the last allowed port of one project serialise on that key alone
and every other project proceeds untouched; SQLite's single writer already serialises. The
count stops at limit + 1 rows, so a check never scans more than the limit.

Limits are Neutron's: settings give the defaults (`quota_port = 500` ...: the settings are
the one place that declares them), the `quotas` table holds per-project overrides, -1 means
unlimited. The quota API's reads and writes, and network IP availability served beside it,
are functions here too: the API layer holds no SQL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.config import ServerSettings
from alcor.ipam import pools
from alcor.resources import kinds
from alcor.store.db import UnitOfWork
from alcor.store.prepared import hot
from alcor.store.schema import metadata

QUOTA_LOCK_CLASS = 0x41C0  # first key of pg_advisory_xact_lock(int, int) for quota checks

quotas = sa.Table(
    "quotas",
    metadata,
    sa.Column("project_id", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("limit", sa.BigInteger(), nullable=False),
)


class Limits:
    """The configured defaults, and per-project limits read from the database."""

    def __init__(self, defaults: dict[str, int]) -> None:
        self.defaults = defaults

    def of_project(self, conn: sa.Connection | UnitOfWork, project_id: str) -> dict[str, int]:
        rows = conn.execute(
            sa.select(quotas.c.resource, quotas.c.limit).where(quotas.c.project_id == project_id)
        )
        return {**self.defaults, **{r.resource: int(r.limit) for r in rows}}

    def limit(self, uow: UnitOfWork, project_id: str, key: str) -> int:
        row = uow.execute(_LIMIT, {"project_id": project_id, "resource": key}).first()
        return self.defaults[key] if row is None else int(row[0])


# The statements of a create's check are built once and run on the driver (`prepared.hot`).
_LIMIT = hot(
    sa.select(quotas.c.limit).where(
        quotas.c.project_id == sa.bindparam("project_id"),
        quotas.c.resource == sa.bindparam("resource"),
    )
)
_LOCK = hot(
    sa.select(
        sa.func.pg_advisory_xact_lock(
            sa.literal_column(str(QUOTA_LOCK_CLASS)), sa.func.hashtext(sa.bindparam("lock_key"))
        )
    )
)
_COUNTS: dict[str, sa.Select[Any]] = {}

LIMITS = Limits(ServerSettings().quota_defaults())
# Neutron's range for a limit: -1 (unlimited) up to its DB_INTEGER_MAX_VALUE.
LIMIT_RANGE = kinds.Int(-1, 2**31 - 1)


def configure(defaults: dict[str, int]) -> None:
    """Set the defaults from the server's settings."""
    global LIMITS
    LIMITS = Limits(defaults)


def over_quota(key: str) -> errors.NeutronError:
    return errors.OverQuota(overs=key)


def reads(key: str, items: list[dict[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
    """The limit lookups `enforce` starts with (`UnitOfWork.prefetch`)."""
    projects = sorted({it["project_id"] for it in items if it.get("project_id")})
    return [(_LIMIT, {"project_id": p, "resource": key}) for p in projects]


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
            uow.execute(_LOCK, {"lock_key": f"{key}:{project_id}"})
        if _capped_count(uow, table, project_id, limit + 1) + n > limit:
            raise over_quota(key)


def _capped_count(uow: UnitOfWork, table: sa.Table, project_id: str, cap: int) -> int:
    """`count` with a cap, as one statement per table built once."""
    stmt = _COUNTS.get(table.name)
    if stmt is None:
        inner = (
            sa.select(sa.literal(1))
            .where(table.c.project_id == sa.bindparam("project_id"))
            .limit(sa.bindparam("cap"))
        )
        stmt = _COUNTS[table.name] = hot(sa.select(sa.func.count()).select_from(inner.subquery()))
    return int(uow.execute(stmt, {"project_id": project_id, "cap": cap}).scalar())


def count(
    conn: sa.Connection | UnitOfWork, table: sa.Table, project_id: str, cap: int | None = None
) -> int:
    """Rows of the project in `table`, counting no further than `cap`."""
    inner = sa.select(sa.literal(1)).where(table.c.project_id == project_id)
    if cap is not None:
        inner = inner.limit(cap)
    return int(conn.execute(sa.select(sa.func.count()).select_from(inner.subquery())).scalar_one())


# -- the quota API's reads and writes ------------------------------------------------------


def all_projects(conn: sa.Connection) -> list[dict[str, Any]]:
    """The limits of every project that has an override, as `GET /v2.0/quotas` lists them."""
    projects = conn.execute(sa.select(quotas.c.project_id).distinct()).scalars()
    return [
        {**LIMITS.of_project(conn, p), "project_id": p, "tenant_id": p} for p in sorted(projects)
    ]


def checked_limits(given: dict[str, Any]) -> dict[str, int]:
    """Limits a client sets: known quota keys, integers in Neutron's range (400 otherwise)."""
    out = {}
    for key, value in given.items():
        if key not in LIMITS.defaults:
            raise errors.BadRequest(f"Unrecognized attribute(s) '{kinds.shown(key)}'")
        out[key] = LIMIT_RANGE.check(key, value)
    return out


def set_limits(
    uow: UnitOfWork,
    project_id: str,
    limits: dict[str, int],
    counted: dict[str, sa.Table],
    force: bool = False,
) -> dict[str, int]:
    """Override some of a project's limits; return all of them. Unless `force`, a finite
    limit below what the project already uses is refused (400), as Neutron's quota engine
    does (`counted`: the table each key counts)."""
    if not force:
        for key, limit in limits.items():
            if limit < 0 or key not in counted:
                continue
            used = count(uow, counted[key], project_id)
            if used > limit:
                raise errors.BadRequest(
                    f"Quota limit {limit} for {key} must be greater than or equal to "
                    f"already used {used}"
                )
    for key, limit in limits.items():
        where = (quotas.c.project_id == project_id) & (quotas.c.resource == key)
        if uow.execute(quotas.update().where(where).values(limit=limit)).rowcount == 0:
            uow.execute(quotas.insert().values(project_id=project_id, resource=key, limit=limit))
    return LIMITS.of_project(uow, project_id)


def reset(uow: UnitOfWork, project_id: str) -> None:
    """Drop a project's overrides: the defaults apply again."""
    uow.execute(quotas.delete().where(quotas.c.project_id == project_id))


def details(
    conn: sa.Connection, project_id: str, counted: dict[str, sa.Table]
) -> dict[str, dict[str, int]]:
    """Limit, use and reservations of each quota (`counted`: the table each key counts)."""
    return {
        key: {
            "limit": limit,
            "used": count(conn, counted[key], project_id) if key in counted else 0,
            "reserved": 0,
        }
        for key, limit in LIMITS.of_project(conn, project_id).items()
    }


def ip_availability(
    conn: sa.Connection, networks: sa.Table, subnets: sa.Table, filters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """Per network and subnet: addresses in the allocation pools, and allocations."""
    n, s = networks, subnets
    query = sa.select(n.c.id, n.c.name, n.c.project_id).order_by(n.c.id)
    if "network_id" in filters:
        query = query.where(n.c.id.in_(filters["network_id"]))
    if "network_name" in filters:
        query = query.where(n.c.name.in_(filters["network_name"]))
    if "project_id" in filters:
        query = query.where(n.c.project_id.in_(filters["project_id"]))
    nets = conn.execute(query).all()
    versions = [int(v) for v in filters.get("ip_version", []) if v in ("4", "6")]
    out = []
    for net in nets:
        sub_query = sa.select(s.c.id, s.c.name, s.c.cidr, s.c.ip_version).where(
            s.c.network_id == net.id
        )
        if "ip_version" in filters:
            sub_query = sub_query.where(s.c.ip_version.in_(versions))
        found = [
            {
                "subnet_id": sub.id,
                "subnet_name": sub.name,
                "cidr": sub.cidr,
                "ip_version": sub.ip_version,
                "total_ips": pools.size(conn, sub.id),
                "used_ips": pools.used_count(conn, sub.id),
            }
            for sub in conn.execute(sub_query.order_by(s.c.created_at, s.c.id))
        ]
        if "ip_version" in filters and not found:
            continue
        out.append(
            {
                "network_id": net.id,
                "network_name": net.name,
                "project_id": net.project_id,
                "tenant_id": net.project_id,
                "total_ips": sum(x["total_ips"] for x in found),
                "used_ips": sum(x["used_ips"] for x in found),
                "subnet_ip_availability": found,
            }
        )
    return out
