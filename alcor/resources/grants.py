"""Who is granted what by RBAC policies: the queries every kind's rules and visibility share.

A grant is a row of `rbac_policies`; these helpers answer "is object X shared with project P"
and build the SQL that adds granted objects to what a caller sees. A network's or a group's
grant to everyone (`*`) is also a column of the object (see the declaration).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from alcor.resources.declarations.rbac_policy import EVERYONE, EXTERNAL, SHARED, resource
from alcor.resources.model import caller_project

table = resource.table


def granted_ids(object_type: str, actions: tuple[str, ...]) -> sa.Select[Any]:
    """Ids of `object_type` objects granted to the caller (`caller_project()`, or `*`) by
    one of `actions`, for visibility clauses."""
    return sa.select(table.c.object_id).where(
        table.c.object_type == object_type,
        table.c.action.in_(actions),
        sa.or_(table.c.target_tenant == caller_project(), table.c.target_tenant == EVERYONE),
    )


def granted_to_any(object_type: str, action: str) -> sa.Select[Any]:
    """Ids of `object_type` objects granted `action` to some project (or `*`)."""
    return sa.select(table.c.object_id.label("id")).where(
        table.c.object_type == object_type, table.c.action == action
    )


def shared_with(
    conn: Any, object_type: str, object_id: str, project: str, *, everyone: bool = True
) -> bool:
    """Whether `project` may use the object as shared (a grant to it, or to `*` unless
    `everyone` is False)."""
    targets = [project, EVERYONE] if everyone else [project]
    row = conn.execute(
        sa.select(table.c.id)
        .where(
            table.c.object_type == object_type,
            table.c.object_id == object_id,
            table.c.action == SHARED,
            table.c.target_tenant.in_(targets),
        )
        .limit(1)
    ).first()
    return row is not None


def mark_shared(conn: Any, object_type: str, project: str, items: list[dict[str, Any]]) -> None:
    """Neutron's `shared` of an object RBAC can share: shared with the caller's `project` (a
    grant to it or to `*`), which is what the `shared_*` policy rules read."""
    pending = [it["id"] for it in items if not it.get("shared")]
    granted = {
        r.object_id
        for r in of_objects(conn, object_type, pending)
        if r.action == SHARED and r.target_tenant in (project, EVERYONE)
    }
    for it in items:
        it["shared"] = bool(it.get("shared")) or it["id"] in granted


def of_objects(conn: Any, object_type: str, ids: Iterable[str]) -> list[sa.Row[Any]]:
    """(object_id, action, target_tenant) of every grant on these objects."""
    wanted = list(ids)
    if not wanted:
        return []
    return list(
        conn.execute(
            sa.select(table.c.object_id, table.c.action, table.c.target_tenant).where(
                table.c.object_type == object_type, table.c.object_id.in_(wanted)
            )
        )
    )


def external(conn: Any, net: Mapping[str, Any]) -> bool:
    """Whether a network is external: its `*` grant (the column) or a grant to one project
    (in Neutron any `access_as_external` grant makes a network external), whoever asks."""
    if net["router:external"]:
        return True
    return any(r.action == EXTERNAL for r in of_objects(conn, "network", [net["id"]]))
