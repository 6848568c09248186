"""Address groups (`address-group`): named sets of CIDRs a security group rule may name as
its remote (`remote_address_group_id`, extension `security-groups-remote-address-group`).

The addresses are kept with the group as one list (normalised to their networks, as Neutron
stores them): the API renders them without a join, and the southbound sends a group's whole
list as one member of its address set. They change only through the `add_addresses` and
`remove_addresses` actions (Neutron's `allow_put` is false), which take the group's row lock,
so two concurrent edits never lose each other's addresses.
"""

from __future__ import annotations

from alcor.resources import kinds
from alcor.resources.model import Attr, Resource

ADDRESSES = kinds.list_of(kinds.Cidr(host_bits=True))

resource = Resource(
    "address_group",
    "address_groups",
    [
        Attr("addresses", ADDRESSES, post=True, default=[], null_is_empty=True, filter=False),
        # shared with the caller by RBAC (`rbac-address-group`): for policy, never shown
        Attr("shared", kinds.Bool(), stored=False, visible=False, filter=False, sort=False),
    ],
    extensions=("address-group", "security-groups-remote-address-group"),
)
