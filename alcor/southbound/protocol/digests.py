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
from typing import Any

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


def _carrying(descriptor: Any, seen: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """The message fields of `descriptor` whose type has a volatile field, at any depth."""
    found = []
    for field in descriptor.fields:
        kind = field.message_type
        if kind is None or kind.GetOptions().map_entry or kind.full_name in seen:
            continue
        if any(n in kind.fields_by_name for n in VOLATILE) or _carrying(
            kind, seen | {descriptor.full_name}
        ):
            found.append(field.name)
    return tuple(found)


_NESTED: dict[str, tuple[str, ...]] = {}


def _clear(msg: Message) -> None:
    """Clear the volatile fields of `msg` and of the messages it holds: a port's floating IP
    carries its own revision, which its status report bumps with nothing sent to the host."""
    fields = msg.DESCRIPTOR.fields_by_name
    for name in VOLATILE:
        if name in fields:
            msg.ClearField(name)
    nested = _NESTED.get(msg.DESCRIPTOR.full_name)
    if nested is None:
        nested = _NESTED[msg.DESCRIPTOR.full_name] = _carrying(msg.DESCRIPTOR)
    for name in nested:
        value = getattr(msg, name)
        if not isinstance(value, Message):  # a repeated field
            for item in value:
                _clear(item)
        elif msg.HasField(name):
            _clear(value)


def entry_hash(msg: Message, scope: str = "") -> int:
    """The hash of one entry's content (`scope` keeps equal entries of two tables apart)."""
    copy = type(msg)()
    copy.CopyFrom(msg)
    _clear(copy)
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
