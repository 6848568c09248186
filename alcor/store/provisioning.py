"""Reading a port's provisioning timeline (written by the southbound, read by admins)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alcor.store.schema import port_provisioning


def timeline(conn: sa.Connection, port_id: str) -> dict[str, Any]:
    """The provisioning timeline of a port for admins: stamps, state and derived latencies.

    Empty dict when the port was never compiled for a host.
    """
    row = (
        conn.execute(sa.select(port_provisioning).where(port_provisioning.c.port_id == port_id))
        .mappings()
        .first()
    )
    if row is None:
        return {}
    out = dict(row)
    stamps = [
        "committed_at",
        "compiled_at",
        "published_at",
        "received_at",
        "programmed_at",
        "reported_at",
    ]
    base = row["committed_at"]
    out["latency_ms"] = {
        s.removesuffix("_at"): round((row[s] - base) * 1000, 3)
        for s in stamps[1:]
        if base is not None and row[s] is not None
    }
    return out
