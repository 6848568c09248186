"""Port forwarding on floating IPs (`floating-ip-port-forwarding` and its `-description`,
`-port-ranges`, `-detail` companions): FIP:port (or a port range) -> an internal port's
IPv4 address and port, TCP or UDP, as a sub-resource `/v2.0/floatingips/{id}/port_forwardings`.

Ranges are kept as Neutron renders them, "start:end" (a single port is "p:p"), beside the
single-port attributes that are set only when a range is one port wide; the conflicts Neutron
checks (overlapping external ranges on one floating IP and protocol, overlapping internal
ranges on one internal address) are the rules'. A forwarding belongs to its floating IP's
project and revises it (Neutron's `revises_on_change`). Its hosts learn it through its router
(`RouterState.port_forwardings`), so it writes no change-log row of its own.
"""

from __future__ import annotations

from typing import Any

from alcor import errors
from alcor.resources import kinds
from alcor.resources.model import Attr, Ref, Resource

PROTOCOLS = ("tcp", "udp")
MAX_PORT = 65535


class PortRange(kinds.Str):
    """neutron-lib's `type:port_range` on (1, 65535): "p" or "a:b" with a <= b (an int too),
    canonical "a:b"."""

    type_name = "port_range"

    def __init__(self) -> None:
        super().__init__(11)

    def check(self, name: str, value: Any) -> Any:
        text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(text, str):
            raise _invalid(name, f"'{kinds.shown(value)}' is not a valid port range")
        ports = text.split(":")
        if len(ports) > 2 or any(not p for p in ports):
            raise _invalid(name, "Port range must be two integers separated by a colon")
        for p in ports:
            if not p.isdecimal() or not 0 < int(p) <= MAX_PORT:
                bad = f"Invalid port: {p}"
                if p.isdecimal():
                    bad += f", the port must be in the range [1, {MAX_PORT}]"
                raise _invalid(name, bad)
        lo, hi = int(ports[0]), int(ports[-1])
        if lo > hi:
            raise _invalid(name, "First port in a port range must be lower than the second port")
        return f"{lo}:{hi}"


def _invalid(name: str, why: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"Invalid input for {name}. Reason: {why}")


def _port(name: str) -> Attr:
    return Attr(name, kinds.Int(1, MAX_PORT), post=True, put=True, nullable=True, default=None)


def _range(name: str) -> Attr:
    return Attr(name, PortRange(), post=True, put=True, nullable=True, default=None)


resource = Resource(
    "port_forwarding",
    "port_forwardings",
    [
        Attr("id", kinds.Uuid()),
        Attr("project_id", kinds.Str(255), post=True, visible=False, index=True),
        # its floating IP, from the URL (as Neutron, not an attribute a client sees or sends)
        Attr(
            "floatingip_id",
            kinds.Uuid(),
            post=True,
            required=True,
            index=True,
            visible=False,
            ref=Ref(
                "floatingip",
                owner=True,
                revises=True,
                in_use=lambda rid: errors.FipInUseByPortForwarding(id=rid),
            ),
        ),
        _port("external_port"),
        _range("external_port_range"),
        _port("internal_port"),
        _range("internal_port_range"),
        Attr("internal_ip_address", kinds.IpAddress(), post=True, put=True, required=True),
        Attr(
            "internal_port_id",
            kinds.Uuid(),
            post=True,
            put=True,
            required=True,
            index=True,
            ref=Ref("port", on_delete="cascade"),
        ),
        Attr(
            "protocol", kinds.Enum(*PROTOCOLS, ignore_case=True), post=True, put=True, required=True
        ),
        Attr("description", kinds.Str(255), post=True, put=True, default="", sort=False),
    ],
    standard=False,
    taggable=False,
    logged=False,
    parent="floatingip",
    extensions=(
        "floating-ip-port-forwarding",
        "floating-ip-port-forwarding-description",
        "floating-ip-port-forwarding-port-ranges",
        "floating-ip-port-forwarding-detail",
        "expose-port-forwarding-in-fip",
    ),
    not_found=lambda rid: errors.PortForwardingNotFound(id=rid),
)
