"""Ports: Neutron's port resource (binding, address pairs, DHCP options, DNS, security)."""

from __future__ import annotations

import sqlalchemy as sa

from alcor import errors
from alcor.resources import kinds
from alcor.resources.declarations.security_group import port_security_groups
from alcor.resources.model import Attr, Ref, Resource, parent
from alcor.store.schema import metadata

# Ports the cloud itself owns have a `network:` device owner; routers own these.
ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
DHCP_OWNER = "network:dhcp"
# The interface and gateway owners as SQL literals: queries that must use the partial
# indexes of router interfaces and gateways state them literally (with a bound parameter in
# its place, neither SQLite nor a generic PostgreSQL plan can prove an index's predicate).
ROUTER_INTERFACE_SQL = f"'{ROUTER_INTERFACE}'"
ROUTER_GATEWAY_SQL = f"'{ROUTER_GATEWAY}'"
ROUTER_OWNERS = (
    ROUTER_INTERFACE,
    ROUTER_GATEWAY,
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
)


def trusted(item: dict[str, object]) -> bool:
    """Ports the cloud itself owns (router interfaces, DHCP): Neutron filters none of them."""
    return str(item.get("device_owner") or "").startswith("network:")


VNIC_TYPES = (
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "remote-managed",
    "vdpa",
)

NUMA_AFFINITY_POLICIES = ("required", "preferred", "legacy", "socket")

# The inactive bindings of ports (`binding-extended`): a live migration's destination host
# until Nova activates it. The active binding is the port row's own `binding:*` columns, so
# these rows are only the others; `state` is what their host last reported (its programming
# of the VIF, which Nova waits for before it migrates).
port_bindings = sa.Table(
    "port_bindings",
    metadata,
    sa.Column("port_id", sa.String(36), primary_key=True),
    sa.Column("host", sa.String(255), primary_key=True, index=True),
    sa.Column("vnic_type", sa.String(64), nullable=False),
    sa.Column("profile", sa.JSON, nullable=False),
    sa.Column("vif_type", sa.String(64), nullable=False),
    sa.Column("vif_details", sa.JSON, nullable=False),
    sa.Column("state", sa.String(16)),
)

resource = Resource(
    "port",
    "ports",
    [
        # Indexed by the unique (network_id, mac_address): a second index on network_id alone
        # cost every insert, and PostgreSQL picked it for the MAC check (equal estimates
        # before the table was analysed), filtering every port of the network (0.7 ms at 2k).
        parent(
            "network_id",
            "network",
            index=False,
            in_use=lambda net_id: errors.NetworkInUse(net_id=net_id),
        ),
        # null asks for a new random MAC (`port-mac-address-regenerate`)
        Attr("mac_address", kinds.MacAddress(), post=True, put=True, nullable=True),
        Attr(
            "fixed_ips",
            kinds.dict_list({"subnet_id": kinds.Uuid(), "ip_address": kinds.IpAddress()}),
            post=True,
            put=True,
        ),
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="DOWN"),
        Attr("device_id", kinds.Str(255), post=True, put=True, default="", index=True),
        Attr("device_owner", kinds.Str(255), post=True, put=True, default=""),
        Attr(
            "binding:host_id",
            kinds.Str(255),
            post=True,
            put=True,
            default="",
        ),
        Attr("binding:vnic_type", kinds.Enum(*VNIC_TYPES), post=True, put=True, default="normal"),
        Attr(
            "binding:profile",
            kinds.Json(kinds.json_object),
            post=True,
            put=True,
            default={},
            filter=False,
        ),
        Attr("binding:vif_type", kinds.Str(64), default="unbound"),
        Attr("binding:vif_details", kinds.Json(), default={}, filter=False),
        Attr(
            "allowed_address_pairs",
            kinds.dict_list(
                {"ip_address": kinds.Str(64), "mac_address": kinds.MacAddress()},
                required=("ip_address",),
            ),
            post=True,
            put=True,
            default=[],
            null_is_empty=True,
            filter=False,
        ),
        Attr("port_security_enabled", kinds.Bool(), post=True, put=True),
        Attr(
            "security_groups",
            kinds.list_of(kinds.Uuid()),
            post=True,
            put=True,
            ref=Ref(
                "security_group",
                same_project=True,
                through=port_security_groups.c.security_group_id,
                in_use=lambda sg_id: errors.SecurityGroupInUse(id=sg_id, reason=""),
            ),
        ),
        Attr(
            "extra_dhcp_opts",
            kinds.dict_list(
                {
                    "opt_name": kinds.Str(64),
                    "opt_value": kinds.Str(255),
                    "ip_version": kinds.Int(4, 6),
                },
                required=("opt_name", "opt_value"),
            ),
            post=True,
            put=True,
            default=[],
            filter=False,
        ),
        Attr("dns_name", kinds.Str(255), post=True, put=True, default=""),
        # Derived from dns_name and fixed_ips but stored, written with them: lists then splice
        # it as raw JSON instead of decoding every port's fixed_ips to rebuild it.
        Attr("dns_assignment", kinds.Json(), default=[], filter=False, sort=False),
        Attr("ip_allocation", kinds.Str(16), default="immediate"),
        # For Nova's scheduling only (nothing on the hosts depends on them): the NUMA policy
        # of the VIF (`port-numa-affinity-policy`, `-socket`) and Cyborg's device profile
        # (`port-device-profile`, given at create only).
        Attr(
            "numa_affinity_policy",
            kinds.Enum(*NUMA_AFFINITY_POLICIES),
            post=True,
            put=True,
            nullable=True,
            default=None,
            filter=False,
            sort=False,
        ),
        Attr(
            "device_profile",
            kinds.Str(255),
            post=True,
            nullable=True,
            default=None,
            filter=False,
            sort=False,
        ),
    ],
    extensions=(
        "binding",
        "allowed-address-pairs",
        "extra_dhcp_opt",
        "port-security",
        "dns-integration",
        "ip_allocation",
        "ip-substring-filtering",
        "tag-ports-during-bulk-creation",
        "port-security-groups-filtering",
        "port-mac-address-regenerate",
        "port-numa-affinity-policy",
        "port-numa-affinity-policy-socket",
        "port-device-profile",
    ),
    table_args=(
        sa.UniqueConstraint("network_id", "mac_address"),
        # A host's ports, and its ports of one network: "is this host on that network" (the
        # flood lists of on-demand networks, `southbound.ondemand`) is one index probe,
        # whatever the network's size.
        sa.Index("ix_ports_host_network", "binding_host_id", "network_id"),
        # A network's hosts, and the same pairs the other way round: a change of the network
        # or a subnet finds the hosts to tell by a skip scan over this, whatever the size.
        sa.Index("ix_ports_network_host", "network_id", "binding_host_id"),
        # A network's router interfaces (its state names their routers, rendered on every
        # port change that reaches a host): a few rows per network whatever its size, and
        # nothing to maintain for other ports.
        sa.Index(
            "ix_ports_router_interfaces",
            "network_id",
            sqlite_where=sa.text(f"device_owner = {ROUTER_INTERFACE_SQL}"),
            postgresql_where=sa.text(f"device_owner = {ROUTER_INTERFACE_SQL}"),
        ),
        # The routers with a gateway: the SNAT scheduler asks twice a second (a scan of every
        # port of the region before).
        sa.Index(
            "ix_ports_router_gateways",
            "device_id",
            sqlite_where=sa.text(f"device_owner = {ROUTER_GATEWAY_SQL}"),
            postgresql_where=sa.text(f"device_owner = {ROUTER_GATEWAY_SQL}"),
        ),
    ),
    quota="port",
)
