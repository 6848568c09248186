"""Reading a port's provisioning timeline (written by the southbound, read by admins) and the
trace built from it: every step from the API request to Nova's notification, with durations.

Why from one row: the stamps of the newest change a port's host was told about live together
in `port_provisioning` (the request's arrival and commit, stamped by the compiler with its own
compile and publish times; the host's receipt, programming and report; ACTIVE and Nova, stamped
by the status intake and the Nova notifier), so a trace costs one indexed read whatever the
size of the change log. Host stamps come from the host's clock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from alcor.store.schema import port_provisioning

# (column, step name, what it means), in the order the work happens.
STEPS = (
    ("requested_at", "request", "the API request arrived"),
    ("committed_at", "commit", "its unit of work committed (change-log row)"),
    ("compiled_at", "compile", "the compiler rendered the port's goal state"),
    ("published_at", "publish", "published on NATS and flushed"),
    ("received_at", "receipt", "the host's agent received it"),
    ("programmed_at", "program", "the agent programmed OVS"),
    ("reported_at", "report", "the agent sent its status report"),
    ("active_at", "active", "the server turned the port ACTIVE"),
    ("nova_notified_at", "nova", "Nova accepted the event"),
)


def _row(conn: sa.Connection, port_id: str) -> dict[str, Any] | None:
    row = (
        conn.execute(sa.select(port_provisioning).where(port_provisioning.c.port_id == port_id))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def timeline(conn: sa.Connection, port_id: str) -> dict[str, Any]:
    """The provisioning timeline of a port for admins: stamps, state and derived latencies.

    Empty dict when the port was never compiled for a host.
    """
    row = _row(conn, port_id)
    if row is None:
        return {}
    base = row["committed_at"]
    row["latency_ms"] = {
        column.removesuffix("_at"): round((row[column] - base) * 1000, 3)
        for column, _, _ in STEPS[2:7]
        if base is not None and row[column] is not None
    }
    return row


def trace(conn: sa.Connection, port_id: str) -> dict[str, Any]:
    """The chain of one port's newest provisioning: each step with its time, the time since
    the previous step that happened and since the first (ms). Steps not (yet) done have no
    time; a port never compiled for a host has no steps."""
    row = _row(conn, port_id) or {}
    steps: list[dict[str, Any]] = []
    start = previous = None
    for column, name, what in STEPS:
        at = row.get(column)
        step: dict[str, Any] = {"step": name, "what": what, "at": at}
        if at is not None:
            start = at if start is None else start
            step["since_start_ms"] = round((at - start) * 1000, 3)
            step["step_ms"] = round((at - previous) * 1000, 3) if previous is not None else 0.0
            previous = at
        steps.append(step)
    if row.get("request_id"):
        steps[0]["what"] += f" ({row['request_id']})"
    if row.get("nova_event"):
        steps[-1]["what"] += f" ({row['nova_event']})"
    return {
        "port_id": port_id,
        "host_id": row.get("host_id"),
        "state": row.get("state"),
        "reason": row.get("reason") or "",
        "request_id": row.get("request_id"),
        "reported_request_id": row.get("reported_request_id"),
        "steps": steps,
        "total_ms": round((previous - start) * 1000, 3) if start is not None else None,
    }
