"""Subnet pools (`subnet_allocation`, `default-subnetpools`, `subnetpool-prefix-ops`,
`subnet_onboard`): prefixes that subnets are carved from by prefix length or explicit CIDR.

A pool's prefixes are kept with the pool as one list, compacted (Neutron's IPSet); what is
allocated is not stored apart: it is the CIDRs of the subnets naming the pool
(`subnets.subnetpool_id`, indexed), read under the pool's row lock when a subnet is carved, so
two carves from one pool never overlap whatever the number of servers (see the rules).
`ip_version` follows from the prefixes; the prefix-length bounds default as in Neutron (min 8
for IPv4, 64 for IPv6; max the address width; default the min).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from alcor import errors
from alcor.resources import kinds
from alcor.resources.declarations import subnet
from alcor.resources.model import Attr, Conn, Ref, Resource

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

PREFIXES = kinds.list_of(kinds.Cidr(host_bits=True), unique=False)


def _prefixlen(name: str) -> Attr:
    """A prefix-length bound (non-negative; its default depends on the IP version), shown
    as a string as Neutron shows it."""
    return Attr(name, kinds.Int(0, as_text=True), post=True, put=True)


resource = Resource(
    "subnetpool",
    "subnetpools",
    [
        Attr("prefixes", PREFIXES, post=True, put=True, required=True, filter=False),
        Attr("ip_version", kinds.IntChoice(4, 6)),
        _prefixlen("default_prefixlen"),
        _prefixlen("min_prefixlen"),
        _prefixlen("max_prefixlen"),
        Attr("default_quota", kinds.Int(0), post=True, put=True, nullable=True, default=None),
        Attr("is_default", kinds.Bool(), post=True, put=True, default=False),
        Attr("shared", kinds.Bool(), post=True, default=False),
        Attr(
            "address_scope_id",
            kinds.Uuid(),
            post=True,
            put=True,
            nullable=True,
            default=None,
            index=True,
            ref=Ref(
                "address_scope",
                in_use=lambda rid: errors.AddressScopeInUse(address_scope_id=rid),
            ),
        ),
    ],
    extensions=(
        "subnet_allocation",
        "default-subnetpools",
        "subnetpool-prefix-ops",
        "subnet_onboard",
    ),  # `address-scope` is the address scopes' (declarations.address_scope)
    quota="subnetpool",
    not_found=lambda rid: errors.SubnetPoolNotFound(subnetpool_id=rid),
)


def allocated(conn: Conn | UnitOfWork, pool_id: str) -> list[str]:
    """What the pool has handed out: the CIDRs of the subnets naming it (carved from it or
    onboarded into it). Read under the pool's row lock by whoever changes either side."""
    s = subnet.resource.table
    return [r[0] for r in conn.execute(sa.select(s.c.cidr).where(s.c.subnetpool_id == pool_id))]
