"""The agent's end of the direct resolve channel (`alcor.southbound.protocol.direct`).

The answering server's channel comes with each resolve answered over NATS (`offer`); small
resolves then go to it over UDP (`ask`). One that gets no answer within `timeout` is asked
over NATS, and the channel stands aside for `BACKOFF` seconds: a server gone, a firewall or
a key from before the server's restart cost one slow first packet, not one per miss, and
the next NATS answer names a channel that works.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

from alcor.config import split_address
from alcor.southbound.protocol import direct
from alcor.southbound.protocol import goalstate_pb2 as pb

log = logging.getLogger(__name__)

BACKOFF = 30.0  # seconds the channel is not used after an unanswered request


class DirectChannel(asyncio.DatagramProtocol):
    """A connected UDP socket to one server's channel, and the requests awaiting answers."""

    def __init__(self, host_id: str, timeout: float) -> None:
        self.host_id = host_id
        self.timeout = timeout
        self.address = ""
        self.key = b""
        self.transport: asyncio.DatagramTransport | None = None
        self.waiting: dict[int, asyncio.Future[pb.ResolveReply]] = {}
        self.resting_until = 0.0  # monotonic: NATS only until then
        self.asked = 0  # requests sent on the channel
        self.missed = 0  # of those, unanswered in time (asked again over NATS)

    def usable(self, queries: int) -> bool:
        return (
            self.transport is not None
            and queries <= direct.MAX_QUERIES
            and time.monotonic() >= self.resting_until
        )

    async def offer(self, channel: pb.DirectChannel) -> None:
        """A server's channel, from its NATS answer: connect to it unless one that works is
        held (servers take turns answering over NATS; requests on the channel held would
        go unanswered if it were swapped under them), or this very one (resting)."""
        held = (channel.address, channel.key) == (self.address, self.key)
        if not channel.address or held or self.usable(0):
            return
        self.close()
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: self, remote_addr=split_address(channel.address)
            )
        except (OSError, ValueError) as exc:
            log.warning("the direct resolve channel %s is not usable: %s", channel.address, exc)
            return
        self.address, self.key = channel.address, channel.key

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.transport = None
        self.address, self.key = "", b""

    async def ask(self, queries: list[pb.ResolveQuery]) -> pb.ResolveReply | None:
        """The answer, or None if none came in time (ask over NATS)."""
        assert self.transport is not None
        rid = int.from_bytes(os.urandom(8), "big")
        request = pb.DirectRequest(
            host_id=self.host_id, id=rid, sent_at=time.time(), queries=queries
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[pb.ResolveReply] = loop.create_future()
        self.waiting[rid] = future
        # not `asyncio.wait_for`: its wrapping cost two more turns of the loop per answer
        expiry = loop.call_later(self.timeout, _expire, future)
        self.asked += 1
        try:
            self.transport.sendto(direct.seal(self.key, request))
            return await future
        except (TimeoutError, OSError) as exc:
            self.missed += 1
            self.resting_until = time.monotonic() + BACKOFF
            log.warning(
                "no answer on the direct resolve channel %s (%s); NATS for %.0f s",
                self.address,
                exc or "timeout",
                BACKOFF,
            )
            return None
        finally:
            expiry.cancel()
            self.waiting.pop(rid, None)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = direct.open_reply(self.key, data)
        if reply is None:
            return
        future = self.waiting.get(reply.id)
        if future is not None and not future.done():
            future.set_result(reply.reply)

    def error_received(self, exc: Exception) -> None:
        """An ICMP error for a datagram sent (nobody listens there): no answer will come."""
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(exc if isinstance(exc, OSError) else OSError(str(exc)))


def _expire(future: asyncio.Future[pb.ResolveReply]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
