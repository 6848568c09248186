"""Digests of goal state, computed the same way by an agent (what it holds) and by the server
(what intent says it should hold), so that a state audit compares two short strings per kind.

Why content and not revisions: a port's `revision_number` moves when only its status changes
(no change-log row, nothing sent), so the server's revision and the host's differ for a port
that is perfectly in step. The digest is over each entry's serialized message with the fields
that say *when* it was sent cleared (revision, op, request id), so it changes exactly when
the content differs. It is a sum of per-entry hashes (order does not matter, and the host
side can keep it per network without re-hashing a million neighbour entries on every
heartbeat).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from google.protobuf.message import Message

# The kinds an audit compares, in report order.
KINDS = (
    "ports",
    "networks",
    "subnets",
    "security_groups",
    "network_acls",
    "routers",
    "neighbors",
    "address_sets",
)
VOLATILE = ("revision", "op", "request_id")  # fields that say when an entry was sent
_MOD = 1 << 128


def entry_hash(msg: Message, scope: str = "") -> int:
    """The hash of one entry's content (`scope` keeps equal entries of two tables apart)."""
    copy = type(msg)()
    copy.CopyFrom(msg)
    for name in VOLATILE:
        if name in copy.DESCRIPTOR.fields_by_name:
            copy.ClearField(name)
    data = scope.encode() + b"\0" + copy.SerializeToString(deterministic=True)
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


def combine(hashes: Iterable[int]) -> int:
    return sum(hashes) % _MOD


def text(value: int, count: int) -> str:
    """What is reported and compared: the sum and the number of entries."""
    return f"{count}:{value:032x}"


def of(messages: Iterable[Message], scope: str = "") -> str:
    """The digest of a collection of entries."""
    hashes = [entry_hash(m, scope) for m in messages]
    return text(combine(hashes), len(hashes))
