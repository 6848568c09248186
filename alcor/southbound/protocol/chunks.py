"""Splitting goal-state messages to fit NATS max_payload, and reassembling chunked replies.

Why: a neighbour table of a 10,000-port network, the address set of a 10,000-member group or
the delta of a bulk bind can outgrow one NATS message (1 MB by default on external servers).
Splitting happens on one repeated field; every other field is copied into each part (they are
small and applying them twice is idempotent). Only `goalstate_pb2` and nats-py are imported so
that agents can use this module.
"""

from __future__ import annotations

from typing import Any, TypeVar

import nats.aio.client

from alcor.southbound.protocol import goalstate_pb2 as pb

M = TypeVar("M", bound=Any)

ENVELOPE_MARGIN = 4096  # headers, subject and the copied scalar fields


def split(msg: M, field: str, max_bytes: int) -> list[M]:
    """`msg` cut into parts no larger than `max_bytes`, by spreading `field`'s entries."""
    if msg.ByteSize() <= max_bytes:
        return [msg]
    budget = max(1, max_bytes - ENVELOPE_MARGIN)
    base = type(msg)()
    base.CopyFrom(msg)
    base.ClearField(field)
    parts: list[M] = []
    current = None
    size = 0
    for item in getattr(msg, field):
        item_size = item.ByteSize() + 6  # tag + length varint
        if current is None or size + item_size > budget:
            current = type(msg)()
            current.CopyFrom(base)
            parts.append(current)
            size = base.ByteSize()
        getattr(current, field).append(item)
        size += item_size
    return parts or [msg]


async def request_chunks(
    nc: nats.aio.client.Client,
    subject: str,
    request: bytes,
    timeout: float,
    kind: type[M],
    field: str,
) -> M:
    """Send a request whose reply may be chunked (a `kind` with `chunk`/`chunks`) and merge the
    parts: every part's `field` entries, the first part's other fields."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(subject, request, reply=inbox)
        merged = kind()
        received = 0
        chunks = 1
        while received < chunks:
            msg = await sub.next_msg(timeout)
            part = kind.FromString(msg.data)
            chunks = max(part.chunks, 1)
            if received == 0:
                merged.CopyFrom(part)
                merged.chunk, merged.chunks = 0, 1
            else:
                getattr(merged, field).extend(getattr(part, field))
            received += 1
        return merged
    finally:
        await sub.unsubscribe()


async def request_table(
    nc: nats.aio.client.Client, subject: str, request: bytes, timeout: float
) -> pb.NeighborTable:
    """Send a NeighborTableRequest and merge the (possibly chunked) NeighborTable replies."""
    return await request_chunks(nc, subject, request, timeout, pb.NeighborTable, "neighbors")


async def request_address_set(
    nc: nats.aio.client.Client, subject: str, request: bytes, timeout: float
) -> pb.AddressSet:
    """Send an AddressSetRequest and merge the (possibly chunked) AddressSet replies."""
    return await request_chunks(nc, subject, request, timeout, pb.AddressSet, "members")


async def request_router(
    nc: nats.aio.client.Client, subject: str, request: bytes, timeout: float
) -> pb.RouterDelta:
    """Send a RouterStateRequest; the reply is one RouterDelta holding the whole router."""
    msg = await nc.request(subject, request, timeout)
    return pb.RouterDelta.FromString(msg.data)
