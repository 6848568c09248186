"""The direct resolve channel: an agent's small resolve straight to a server, over UDP.

Why: a VM's first packet to a neighbour its host does not hold waits for the answer to
`alcor.rpc.resolve`. Over NATS that is agent -> nats-server -> server and back, and on an
idle machine every process on the way must be woken: `benchmarks/nats_idle.py`
times the same request at about 1 ms through nats-server and 0.3 ms over UDP after an idle
second. The original Alcor's agent asks its controller for on-demand state over a direct
gRPC connection for the same reason. NATS stays the way everything else travels, and the
way a resolve goes when the direct one does not answer.

How a host may use it: each resolve answered over NATS carries the answering server's
channel (`pb.DirectChannel`: its address and this host's key there, `host_key`). That
answer reaches only the asking host's inboxes (NATS permissions, over TLS where NATS has
it), so only a host admitted by NATS learns a key. A request on the channel is a
`pb.DirectRequest` behind its HMAC-SHA256 under that key (`seal`); the server drops any
whose tag is wrong, that is older than `MAX_AGE` or asks more than `MAX_QUERIES` (a forged
or replayed datagram gets no answer, so the channel neither leaks nor amplifies). The
answer is sealed the same way, so a forged datagram cannot steer a VM's packets.
"""

from __future__ import annotations

import hashlib
import hmac

from google.protobuf.message import DecodeError

from alcor.southbound.protocol import goalstate_pb2 as pb

TAG = 32  # bytes of HMAC-SHA256 before each message
MAX_AGE = 10.0  # seconds a request stays acceptable (clocks of hosts and servers agree)
MAX_QUERIES = 16  # queries a direct request may hold; bigger batches go over NATS
MAX_DATAGRAM = 65_000  # an answer that would not fit one datagram is not sent


def host_key(secret: bytes, host_id: str) -> bytes:
    """A host's key on a server: derived from the server's secret, so the server keeps none."""
    return hmac.new(secret, host_id.encode(), hashlib.sha256).digest()


def seal(key: bytes, message: pb.DirectRequest | pb.DirectReply) -> bytes:
    """`message` behind its tag."""
    body = message.SerializeToString()
    return hmac.new(key, body, hashlib.sha256).digest() + body


def _opened(key: bytes, data: bytes) -> bytes | None:
    body = data[TAG:]
    tag = hmac.new(key, body, hashlib.sha256).digest()
    return body if len(data) > TAG and hmac.compare_digest(tag, data[:TAG]) else None


def open_request(secret: bytes, data: bytes, now: float) -> tuple[pb.DirectRequest, bytes] | None:
    """A datagram as a request the server may answer, with the asking host's key to seal the
    answer; None when it may not (forged, too old, from the future, too big, not a request)."""
    try:
        request = pb.DirectRequest.FromString(data[TAG:])
    except DecodeError:
        return None
    key = host_key(secret, request.host_id)
    if _opened(key, data) is None:
        return None
    if abs(now - request.sent_at) > MAX_AGE or len(request.queries) > MAX_QUERIES:
        return None
    return request, key


def open_reply(key: bytes, data: bytes) -> pb.DirectReply | None:
    """A datagram as an answer from the server whose key this is; None if it is not one."""
    body = _opened(key, data)
    if body is None:
        return None
    try:
        return pb.DirectReply.FromString(body)
    except DecodeError:
        return None
