"""Routers: Neutron's router resource (interfaces, external gateway with SNAT, extra routes).

A router's interfaces and gateway are ports (`network:router_interface` holding the
subnet's gateway IP, `network:router_gateway` on the external network) whose `device_id` is
the router: nothing else records the attachment, so a port and its router can never disagree
and "which subnets does this router connect" is one indexed query on ports.
"""

from __future__ import annotations

from typing import Any

from alcor import errors
from alcor.resources import kinds
from alcor.resources.model import Attr, Resource, availability_zones

MAX_ROUTES = 30

ROUTES = kinds.dict_list(
    {"destination": kinds.Cidr(), "nexthop": kinds.IpAddress()},
    required=("destination", "nexthop"),
)
_FIXED_IPS = kinds.dict_list({"subnet_id": kinds.Uuid(), "ip_address": kinds.IpAddress()})


def _gateway_info(name: str, value: Any) -> Any:
    """`external_gateway_info`: {network_id, enable_snat, external_fixed_ips}."""
    if not isinstance(value, dict):
        raise errors.InvalidInput(f"Invalid input for {name}. Reason: '{value}' is not a dict.")
    if not value:
        return {}  # Neutron's way of removing the gateway
    unknown = set(value) - {"network_id", "enable_snat", "external_fixed_ips"}
    if unknown:
        raise errors.InvalidInput(
            f"Invalid input for {name}. Reason: Unrecognized attribute(s) "
            f"'{', '.join(sorted(unknown))}'."
        )
    if "network_id" not in value:
        raise errors.InvalidInput(
            f"Invalid input for {name}. Reason: Validation of dictionary's keys failed. "
            f"Expected keys: {{'network_id'}} Provided keys: {set(value)}."
        )
    out: dict[str, Any] = {
        "network_id": kinds.Uuid().check(f"{name}.network_id", value["network_id"])
    }
    if "enable_snat" in value:
        out["enable_snat"] = kinds.Bool().check(f"{name}.enable_snat", value["enable_snat"])
    if value.get("external_fixed_ips") is not None:
        out["external_fixed_ips"] = _FIXED_IPS.check(
            f"{name}.external_fixed_ips", value["external_fixed_ips"]
        )
    return out


resource = Resource(
    "router",
    "routers",
    [
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="ACTIVE"),
        Attr(
            "external_gateway_info",
            kinds.Json(_gateway_info),
            post=True,
            put=True,
            nullable=True,
            default=None,
            filter=False,
        ),
        Attr("routes", ROUTES, put=True, default=[], null_is_empty=True, filter=False),
        # Every router is distributed and none is HA (`rules.router.MODE`, filled in by the
        # router's rules); who may set them is policy's (`create_router:distributed`,
        # admin). No declared default, as in Neutron (not specified): a member asking
        # for `distributed: true` is refused as for any other value.
        Attr("distributed", kinds.Bool(), post=True, put=True),
        Attr("ha", kinds.Bool(), post=True, put=True),
        Attr("flavor_id", kinds.Uuid(), post=True, nullable=True, default=None),
        *availability_zones(),
    ],
    extensions=(
        "router",
        "ext-gw-mode",
        "extraroute",
        "extraroute-atomic",
        "dvr",
        "l3-ha",
        "router-admin-state-down-before-update",
        "router_availability_zone",
        "l3-port-ip-change-not-allowed",  # rules.port: interface addresses are the router's
    ),
    quota="router",
)
