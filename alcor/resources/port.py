"""Ports: the declaration of Neutron's port resource and its rules."""

from __future__ import annotations

import sqlalchemy as sa

from alcor.resources import kinds
from alcor.resources.model import Attr, Resource

VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "remote-managed", "vdpa")

resource = Resource(
    "port",
    "ports",
    [
        Attr("network_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr("mac_address", kinds.MacAddress(), post=True, put=True),
        Attr("fixed_ips",
             kinds.dict_list({"subnet_id": kinds.Uuid(), "ip_address": kinds.IpAddress()}),
             post=True, put=True),
        Attr("admin_state_up", kinds.Bool(), post=True, put=True, default=True),
        Attr("status", kinds.Str(16), default="DOWN"),
        Attr("device_id", kinds.Str(255), post=True, put=True, default="", index=True),
        Attr("device_owner", kinds.Str(255), post=True, put=True, default=""),
        Attr("binding:host_id", kinds.Str(255), post=True, put=True, default="",
             admin_only=True, index=True),
        Attr("binding:vnic_type", kinds.Enum(*VNIC_TYPES), post=True, put=True,
             default="normal"),
        Attr("binding:profile", kinds.Json(kinds.json_object), post=True, put=True, default={},
             admin_only=True, filter=False),
        Attr("binding:vif_type", kinds.Str(64), default="unbound", admin_only=True),
        Attr("binding:vif_details", kinds.Json(), default={}, admin_only=True, filter=False),
        Attr("allowed_address_pairs",
             kinds.dict_list({"ip_address": kinds.Str(64), "mac_address": kinds.MacAddress()},
                             required=("ip_address",)),
             post=True, put=True, default=[], filter=False),
        Attr("port_security_enabled", kinds.Bool(), post=True, put=True),
        Attr("security_groups", kinds.list_of(kinds.Uuid()), post=True, put=True, default=[]),
        Attr("extra_dhcp_opts",
             kinds.dict_list({"opt_name": kinds.Str(64), "opt_value": kinds.Str(255),
                              "ip_version": kinds.Int(4, 6)},
                             required=("opt_name", "opt_value")),
             post=True, put=True, default=[], filter=False),
        Attr("dns_name", kinds.Str(255), post=True, put=True, default=""),
        Attr("dns_assignment", kinds.Json(), stored=False, filter=False, sort=False),
        Attr("ip_allocation", kinds.Str(16), default="immediate"),
    ],
    extensions=("binding", "binding-extended", "allowed-address-pairs", "extra_dhcp_opt",
                "port-security", "security-group", "dns-integration", "ip_allocation",
                "fixed-ip-filter", "ip-substring-filtering", "port-mac-address-regenerate"),
    table_args=(sa.UniqueConstraint("network_id", "mac_address"),),
)
