"""The revision guard every entry the agent holds goes through.

Apply rule shared with the controller's simulated agents: an UPSERT or DELETE applies only
when its revision is >= the revision held, so a late delta never takes an entry backwards.
"""

from __future__ import annotations

from typing import Any

from alcor.southbound.protocol import goalstate_pb2 as pb


def guarded_apply(held: dict[str, Any], key: str, entry: Any) -> bool:
    """Apply one UPSERT/DELETE with the revision guard; True when it changed anything."""
    current = held.get(key)
    if current is not None and entry.revision < current.revision:
        return False
    if entry.op == pb.DELETE:
        return held.pop(key, None) is not None
    if current is not None and current == entry:
        return False
    held[key] = entry
    return True
