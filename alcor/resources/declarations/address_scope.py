"""Address scopes (`address-scope`): sets of subnet pools whose addresses are routable to
each other without NAT.

A subnet pool names its scope (`subnetpools.address_scope_id`); a subnet belongs to the scope
of the pool it was carved from, and a network shows the scope of its IPv4 and IPv6 subnets
(`ipv4_address_scope`, `ipv6_address_scope`, derived on read). Routers route only between
interfaces of one scope (no scope is a scope of its own), as Neutron's L3 agent marks and
OVN does: every router interface carries its scope to the hosts
(`RouterInterface.address_scope_id`).
"""

from __future__ import annotations

from alcor import errors
from alcor.resources import kinds
from alcor.resources.model import Attr, Resource

resource = Resource(
    "address_scope",
    "address_scopes",
    [
        Attr("ip_version", kinds.IntChoice(4, 6), post=True, required=True),
        Attr("shared", kinds.Bool(), post=True, put=True, default=False),
    ],
    # Neutron's address scope is not a standard-attribute resource: no description, tags,
    # timestamps or revision.
    omit=("description", "tags", "created_at", "updated_at", "revision_number"),
    extensions=("address-scope",),
    not_found=lambda rid: errors.AddressScopeNotFound(address_scope_id=rid),
)
