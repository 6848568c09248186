"""The server's end of the direct resolve channel (`alcor.southbound.protocol.direct`).

A UDP endpoint beside the NATS subscription of `alcor.rpc.resolve`: a signed request is
answered as the subscription answers (`RpcServer.resolve_inline`: at once, on the loop, when
small and the server idle; else through the batcher, `RpcServer.resolve_later`), sealed with
the asking host's key, to the address it came from. Nothing else is ever sent: a datagram
that is not a fresh, signed request, or one already answered (`seen`: a replay within
`MAX_AGE` would get its answer sent to a forged address), is dropped and counted.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from alcor import metrics
from alcor.config import split_address
from alcor.southbound.protocol import direct
from alcor.southbound.protocol import goalstate_pb2 as pb

Queries = list[pb.ResolveQuery]
Answer = Callable[[pb.ResolveReply], Awaitable[None]]
Inline = Callable[[Queries], pb.ResolveReply | None]  # None: not now, `Later`
Later = Callable[[Queries, Answer], None]


class DirectResolves(asyncio.DatagramProtocol):
    """Requests in, answers out; `channel(host)` is what NATS answers tell each host."""

    def __init__(self, inline: Inline, later: Later) -> None:
        self.inline = inline
        self.later = later
        self.secret = os.urandom(32)  # a new one per start: old keys stop working
        self.address = ""
        self.transport: asyncio.DatagramTransport | None = None
        # Requests answered, as (host, id), kept `2 * MAX_AGE` after they came (a request
        # may be dated up to MAX_AGE ahead), and their expiries in the order they came
        self.seen: set[tuple[str, int]] = set()
        self.expiries: collections.deque[tuple[float, tuple[str, int]]] = collections.deque()
        self.answered = metrics.DIRECT_RESOLVES.labels("answered")
        self.refused = metrics.DIRECT_RESOLVES.labels("refused")

    @classmethod
    async def open(cls, address: str, inline: Inline, later: Later) -> DirectResolves:
        """Bind `address` ("host:port", port 0: any free one)."""
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_datagram_endpoint(
            lambda: cls(inline, later), local_addr=split_address(address)
        )
        return proto

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def channel(self, host_id: str) -> pb.DirectChannel:
        return pb.DirectChannel(address=self.address, key=direct.host_key(self.secret, host_id))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        now = time.time()
        opened = direct.open_request(self.secret, data, now)
        while self.expiries and self.expiries[0][0] < now:
            self.seen.discard(self.expiries.popleft()[1])
        if opened is None or (opened[0].host_id, opened[0].id) in self.seen:
            self.refused.inc()
            return
        request, key = opened
        self.seen.add((request.host_id, request.id))
        self.expiries.append((now + 2 * direct.MAX_AGE, (request.host_id, request.id)))
        queries = list(request.queries)
        reply = self.inline(queries)
        if reply is not None:
            self._send(key, request.id, reply, addr)
            return

        async def answer(reply: pb.ResolveReply) -> None:
            self._send(key, request.id, reply, addr)

        self.later(queries, answer)

    def _send(self, key: bytes, request_id: int, reply: pb.ResolveReply, addr: Any) -> None:
        data = direct.seal(key, pb.DirectReply(id=request_id, reply=reply))
        if len(data) > direct.MAX_DATAGRAM or self.transport is None:
            return  # the host asks again over NATS
        self.transport.sendto(data, addr)
        self.answered.inc()
