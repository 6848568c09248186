"""The lab's light DHCP client against the agent's own DHCP answers (`alcor.agent.dhcp`):
its DISCOVER and REQUEST are what the agent answers, the agent's OFFER and ACK decode to the
lease the agent meant, and the rtnetlink requests carry that lease."""

from __future__ import annotations

import socket
import struct

from alcor.agent import dhcp as agent_dhcp
from alcor.lab import dhcpclient as client

MAC = "fa:16:3e:00:00:07"
RAW_MAC = bytes.fromhex(MAC.replace(":", ""))
XID = 0x1234ABCD


def _lease(options: dict[int, bytes]) -> agent_dhcp.Lease:
    return agent_dhcp.Lease("10.0.3.7", 16, "10.0.0.2", "fa:16:3e:ff:ff:fe", options)


def _answer(frame: bytes, lease: agent_dhcp.Lease) -> client.Offer:
    reply = agent_dhcp.build_reply(frame, MAC, lease)
    assert reply is not None
    offer = client.parse_reply(reply, XID)
    assert offer is not None
    return offer


def test_discover_then_request_get_offer_then_ack_with_the_agents_lease() -> None:
    lease = _lease({1: socket.inet_aton("255.255.0.0"), 3: socket.inet_aton("10.0.0.1"),
                    26: struct.pack("!H", 1450)})  # fmt: skip
    offer = _answer(client.request_frame(RAW_MAC, XID, client.DISCOVER), lease)
    assert (offer.kind, offer.ip, offer.server) == (client.OFFER, "10.0.3.7", "10.0.0.2")
    ack = _answer(client.request_frame(RAW_MAC, XID, client.REQUEST, offer), lease)
    assert (ack.kind, ack.ip, ack.prefixlen, ack.mtu) == (client.ACK, "10.0.3.7", 16, 1450)
    assert ack.routes() == [("0.0.0.0", 0, "10.0.0.1")]


def test_classless_routes_win_over_the_router_option() -> None:
    routes = agent_dhcp.classless_routes(
        [("192.168.0.0/24", "10.0.0.9"), ("0.0.0.0/0", "10.0.0.1")]
    )
    lease = _lease(
        {1: socket.inet_aton("255.255.0.0"), 3: socket.inet_aton("10.0.0.1"), 121: routes}
    )
    offer = _answer(client.request_frame(RAW_MAC, XID, client.DISCOVER), lease)
    assert offer.routes() == [("192.168.0.0", 24, "10.0.0.9"), ("0.0.0.0", 0, "10.0.0.1")]


def test_a_reply_of_another_transaction_or_not_dhcp_is_ignored() -> None:
    lease = _lease({1: socket.inet_aton("255.255.0.0")})
    reply = agent_dhcp.build_reply(client.request_frame(RAW_MAC, XID, client.DISCOVER), MAC, lease)
    assert reply is not None
    assert client.parse_reply(reply, XID + 1) is None
    assert client.parse_reply(client.request_frame(RAW_MAC, XID, client.DISCOVER), XID) is None


def test_lease_messages_set_mtu_address_and_each_route() -> None:
    lease = _lease({1: socket.inet_aton("255.255.0.0"), 3: socket.inet_aton("10.0.0.1"),
                    26: struct.pack("!H", 1400)})  # fmt: skip
    ack = _answer(client.request_frame(RAW_MAC, XID, client.DISCOVER), lease)
    msgs = client.lease_messages(5, ack)
    kinds = [struct.unpack("IH", m[:6])[1] for m in msgs]
    assert kinds == [client.RTM_NEWLINK, client.RTM_NEWADDR, client.RTM_NEWROUTE]
    assert all(struct.unpack("I", m[:4])[0] == len(m) for m in msgs)
    assert struct.pack("HH", 8, client.IFLA_MTU) + struct.pack("I", 1400) in msgs[0]
    assert socket.inet_aton("10.0.3.7") in msgs[1] and msgs[1][16:18] == bytes([2, 16])
    assert struct.pack("HH", 8, client.RTA_GATEWAY) + socket.inet_aton("10.0.0.1") in msgs[2]
