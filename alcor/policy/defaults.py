"""Neutron's default policy (neutron/conf/policies/*.py, 2025.x), for what this server serves.

The same rule names and check strings, so that a `policy.yaml` written for Neutron overrides
them unchanged. Attribute rules (`create_port:mac_address`) are checked by the generic
operations whenever a request sets that attribute (or that key of a list of objects:
`create_port:fixed_ips:ip_address`), and `get_<kind>:<attr>` hides the attribute from whom it
denies. Adding a policy for an attribute is one line here.

`network_acl`, `get_port_provisioning`, `get_port_trace`, `get_state_audit` and
`get_alcor_events` are Alcor's own and follow the same pattern.
"""

from __future__ import annotations

ADMIN = "rule:admin_only"
SERVICE = "rule:service_api"
MEMBER = "role:member and project_id:%(project_id)s"
READER = "role:reader and project_id:%(project_id)s"
ADMIN_OR_MEMBER = f"({ADMIN}) or ({MEMBER})"
ADMIN_OR_READER = f"({ADMIN}) or ({READER})"
ADMIN_OR_SERVICE = f"({ADMIN}) or ({SERVICE})"
NET_OWNER_MEMBER = "role:member and rule:network_owner"
NET_OWNER_READER = "role:reader and rule:network_owner"
ADMIN_OR_NET_OWNER_MEMBER = f"({ADMIN}) or ({NET_OWNER_MEMBER})"
ADMIN_OR_NET_OWNER_READER = f"({ADMIN}) or ({NET_OWNER_READER})"
ADMIN_OR_SERVICE_OR_NET_OWNER = f"({ADMIN}) or ({SERVICE}) or {NET_OWNER_MEMBER}"
ADMIN_OR_NET_OWNER_OR_SERVICE = f"({ADMIN}) or ({NET_OWNER_MEMBER}) or {SERVICE}"
ADMIN_OR_SG_OWNER_MEMBER = f"({ADMIN}) or (role:member and rule:sg_owner)"
ADMIN_OR_SG_OWNER_READER = f"({ADMIN}) or (role:reader and rule:sg_owner)"
OWNER_OR_NET_OWNER_MEMBER = f"{MEMBER} or {ADMIN_OR_NET_OWNER_MEMBER}"
NOT_WILDCARD = "not field:rbac_policy:target_tenant=* and not field:rbac_policy:target_project=*"


def _crud(kind: str, write: str, read: str, admin_attrs: tuple[str, ...] = ()) -> dict[str, str]:
    """The five rules of a kind whose tags follow its own rules, plus admin-only attributes."""
    out = {}
    for action in ("create", "update", "delete"):
        out[f"{action}_{kind}"] = write
        out[f"{action}_{kind}:tags"] = write
    out[f"get_{kind}"] = read
    out[f"get_{kind}:tags"] = read
    for attr in admin_attrs:
        for action in ("create", "get", "update"):
            out[f"{action}_{kind}:{attr}"] = ADMIN
    return out


BASE = {
    "context_is_admin": "role:admin",
    "context_with_global_access": "!",
    "service_api": "role:service",
    "owner": "project_id:%(project_id)s",
    "admin_or_owner": "rule:context_is_admin or rule:owner",
    "context_is_advsvc": "role:advsvc",
    "admin_or_network_owner": "rule:context_is_admin or project_id:%(network:project_id)s",
    "admin_owner_or_network_owner": "rule:owner or rule:admin_or_network_owner",
    "network_owner": "project_id:%(network:project_id)s",
    "admin_only": "rule:context_is_admin",
    "regular_user": "",
    "shared": "field:networks:shared=True",
    "default": "rule:admin_or_owner",
    "admin_or_ext_parent_owner": "rule:context_is_admin or project_id:%(ext_parent:project_id)s",
    "ext_parent_owner": "project_id:%(ext_parent:project_id)s",
    "sg_owner": "project_id:%(security_group:project_id)s",
}

NETWORK = {
    "external": "field:networks:router:external=True",
    **_crud(
        "network",
        ADMIN_OR_MEMBER,
        f"{ADMIN_OR_READER} or {SERVICE} or rule:shared or rule:external or rule:context_is_advsvc",
        (
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
            "alcor:neighbor_resolution",
        ),
    ),
    "get_network:tags": f"{ADMIN_OR_READER} or rule:shared or rule:external"
    " or rule:context_is_advsvc",
    "create_network:shared": ADMIN,
    "create_network:router:external": ADMIN,
    "create_network:is_default": ADMIN,
    "create_network:port_security_enabled": ADMIN_OR_MEMBER,
    "update_network:shared": ADMIN,
    "update_network:router:external": ADMIN,
    "update_network:is_default": ADMIN,
    "update_network:port_security_enabled": ADMIN_OR_MEMBER,
}

# Neutron documents create_subnet:service_types and update_subnet:service_types (admin) but
# never checks them: its policy engine checks an attribute's rule only when the attribute is
# declared `enforce_policy`, which `service_types` is not, so any subnet owner sets them (as
# neutron-tempest-plugin does). Those two rules are left out to match.
SUBNET = {
    "external_network": "field:subnets:router:external=True",
    "create_subnet": ADMIN_OR_NET_OWNER_MEMBER,
    "create_subnet:segment_id": ADMIN,
    "create_subnet:tags": OWNER_OR_NET_OWNER_MEMBER,
    "get_subnet": f"{READER} or rule:shared or rule:external_network or"
    f" {ADMIN_OR_NET_OWNER_READER} or {SERVICE}",
    "get_subnet:segment_id": ADMIN,
    "get_subnet:tags": f"{READER} or rule:shared or rule:external_network or"
    f" {ADMIN_OR_NET_OWNER_READER}",
    "update_subnet": OWNER_OR_NET_OWNER_MEMBER,
    "update_subnet:segment_id": ADMIN,
    "update_subnet:tags": OWNER_OR_NET_OWNER_MEMBER,
    "delete_subnet": OWNER_OR_NET_OWNER_MEMBER,
    "delete_subnet:tags": OWNER_OR_NET_OWNER_MEMBER,
}

_PORT_BINDING_READ = ("vif_type", "vif_details", "host_id", "profile")
PORT = {
    "network_device": "field:port:device_owner=~^network:",
    "admin_or_data_plane_int": "rule:context_is_admin or role:data_plane_integrator",
    "create_port": f"{ADMIN_OR_SERVICE_OR_NET_OWNER} or rule:shared",
    "create_port:device_id": f"{ADMIN_OR_MEMBER} or {SERVICE}",
    "create_port:device_owner": f"not rule:network_device or {ADMIN_OR_SERVICE_OR_NET_OWNER}",
    "create_port:mac_address": ADMIN_OR_SERVICE_OR_NET_OWNER,
    "create_port:fixed_ips": f"{ADMIN_OR_SERVICE_OR_NET_OWNER} or rule:shared",
    "create_port:fixed_ips:ip_address": ADMIN_OR_SERVICE_OR_NET_OWNER,
    "create_port:fixed_ips:subnet_id": f"{ADMIN_OR_SERVICE_OR_NET_OWNER} or rule:shared",
    "create_port:port_security_enabled": ADMIN_OR_SERVICE_OR_NET_OWNER,
    "create_port:binding:host_id": ADMIN_OR_SERVICE,
    "create_port:binding:profile": SERVICE,
    "create_port:binding:vnic_type": f"{ADMIN_OR_MEMBER} or {SERVICE}",
    "create_port:allowed_address_pairs": ADMIN_OR_NET_OWNER_OR_SERVICE,
    "create_port:allowed_address_pairs:mac_address": ADMIN_OR_NET_OWNER_OR_SERVICE,
    "create_port:allowed_address_pairs:ip_address": ADMIN_OR_NET_OWNER_OR_SERVICE,
    "create_port:tags": f"{ADMIN_OR_MEMBER} or rule:context_is_advsvc",
    "get_port": f"{ADMIN_OR_SERVICE} or {NET_OWNER_READER} or {READER}",
    **{f"get_port:binding:{a}": ADMIN_OR_SERVICE for a in _PORT_BINDING_READ},
    "get_port:tags": f"rule:context_is_advsvc or {ADMIN_OR_NET_OWNER_READER} or {READER}",
    "update_port": f"{ADMIN_OR_SERVICE} or {MEMBER}",
    "update_port:device_id": f"{ADMIN_OR_MEMBER} or {SERVICE}",
    "update_port:device_owner": f"not rule:network_device or {ADMIN_OR_SERVICE_OR_NET_OWNER}",
    "update_port:mac_address": f"{ADMIN_OR_SERVICE} or role:manager and rule:network_owner",
    "update_port:fixed_ips": ADMIN_OR_SERVICE_OR_NET_OWNER,
    "update_port:fixed_ips:ip_address": ADMIN_OR_SERVICE_OR_NET_OWNER,
    "update_port:fixed_ips:subnet_id": f"{ADMIN_OR_SERVICE_OR_NET_OWNER} or rule:shared",
    "update_port:port_security_enabled": ADMIN_OR_SERVICE_OR_NET_OWNER,
    "update_port:binding:host_id": ADMIN_OR_SERVICE,
    "update_port:binding:profile": SERVICE,
    "update_port:binding:vnic_type": f"{ADMIN_OR_SERVICE} or {MEMBER}",
    "update_port:allowed_address_pairs": ADMIN_OR_NET_OWNER_OR_SERVICE,
    "update_port:allowed_address_pairs:mac_address": ADMIN_OR_NET_OWNER_OR_SERVICE,
    "update_port:allowed_address_pairs:ip_address": ADMIN_OR_NET_OWNER_OR_SERVICE,
    "update_port:tags": f"{ADMIN_OR_MEMBER} or rule:context_is_advsvc",
    "delete_port": f"{ADMIN_OR_SERVICE_OR_NET_OWNER} or {MEMBER}",
    "delete_port:tags": f"rule:context_is_advsvc or {MEMBER} or {ADMIN_OR_NET_OWNER_MEMBER}",
    "get_port_binding": ADMIN_OR_SERVICE,
    "create_port_binding": SERVICE,
    "delete_port_binding": SERVICE,
    "activate": SERVICE,
    "get_port_provisioning": ADMIN,
    "get_port_trace": ADMIN,
    "get_state_audit": ADMIN,
    "get_alcor_events": ADMIN,
}

SECURITY_GROUP = {
    "admin_or_sg_owner": "rule:context_is_admin or project_id:%(security_group:project_id)s",
    "admin_owner_or_sg_owner": "rule:owner or rule:admin_or_sg_owner",
    "shared_security_group": "field:security_groups:shared=True",
    "rule_default_sg": "field:security_group_rules:belongs_to_default_sg=True",
    **_crud("security_group", ADMIN_OR_MEMBER, f"{ADMIN_OR_READER} or rule:shared_security_group"),
    "create_security_group_rule": ADMIN_OR_SG_OWNER_MEMBER,
    "get_security_group_rule": ADMIN_OR_SG_OWNER_READER,
    "delete_security_group_rule": ADMIN_OR_SG_OWNER_MEMBER,
}

ROUTER = {
    **_crud("router", ADMIN_OR_MEMBER, ADMIN_OR_READER, ("distributed", "ha")),
    **{
        f"{action}_router:external_gateway_info{sub}": rule
        for action in ("create", "update")
        for sub, rule in (
            ("", ADMIN_OR_MEMBER),
            (":network_id", ADMIN_OR_MEMBER),
            (":enable_snat", ADMIN),
            (":external_fixed_ips", ADMIN),
        )
    },
    **{
        f"{action}_{what}": ADMIN_OR_MEMBER
        for action in ("add", "remove")
        for what in ("router_interface", "extraroutes")
    },
}

FLOATINGIP = {
    **_crud("floatingip", ADMIN_OR_MEMBER, ADMIN_OR_READER),
    "create_floatingip:floating_ip_address": f"({ADMIN}) or (role:manager and"
    " project_id:%(project_id)s)",
}

PARENT_OWNER_MEMBER = f"({ADMIN}) or (role:member and rule:ext_parent_owner)"
PARENT_OWNER_READER = f"({ADMIN}) or (role:reader and rule:ext_parent_owner)"
PORT_FORWARDING = {
    f"{action}_floatingip_port_forwarding": PARENT_OWNER_MEMBER
    for action in ("create", "update", "delete")
} | {"get_floatingip_port_forwarding": PARENT_OWNER_READER}

RBAC = {
    "restrict_wildcard": f"({NOT_WILDCARD}) or {ADMIN}",
    "create_rbac_policy": ADMIN_OR_MEMBER,
    "create_rbac_policy:target_tenant": f"{ADMIN} or ({NOT_WILDCARD})",
    "create_rbac_policy:target_project": f"{ADMIN} or not field:rbac_policy:target_project=*",
    "update_rbac_policy": ADMIN_OR_MEMBER,
    "update_rbac_policy:target_tenant": f"{ADMIN} or ({NOT_WILDCARD})",
    "update_rbac_policy:target_project": f"{ADMIN} or not field:rbac_policy:target_project=*",
    "get_rbac_policy": ADMIN_OR_READER,
    "delete_rbac_policy": ADMIN_OR_MEMBER,
}

SUBNETPOOL = {
    "shared_subnetpools": "field:subnetpools:shared=True",
    **_crud("subnetpool", ADMIN_OR_MEMBER, f"({ADMIN_OR_READER}) or rule:shared_subnetpools"),
    "create_subnetpool:shared": ADMIN,
    "create_subnetpool:is_default": ADMIN,
    "update_subnetpool:is_default": ADMIN,
    **{
        action: ADMIN_OR_MEMBER
        for action in ("add_prefixes", "remove_prefixes", "onboard_network_subnets")
    },
}

ADDRESS_SCOPE = {
    "shared_address_scopes": "field:address_scopes:shared=True",
    **{f"{action}_address_scope": ADMIN_OR_MEMBER for action in ("create", "update", "delete")},
    "get_address_scope": f"({ADMIN_OR_READER}) or rule:shared_address_scopes",
    "create_address_scope:shared": ADMIN,
    "update_address_scope:shared": ADMIN,
}

ADDRESS_GROUP = {
    "shared_address_groups": "field:address_groups:shared=True",
    **_crud("address_group", ADMIN_OR_MEMBER, f"({ADMIN_OR_READER}) or rule:shared_address_groups"),
    "add_addresses": ADMIN_OR_MEMBER,
    "remove_addresses": ADMIN_OR_MEMBER,
}

DEFAULT_SG_RULE = {
    "create_default_security_group_rule": ADMIN,
    "get_default_security_group_rule": "role:reader",
    "delete_default_security_group_rule": ADMIN,
}

OTHERS = {
    "get_quota": f"({ADMIN}) or (role:manager and project_id:%(project_id)s)",
    "update_quota": ADMIN,
    "delete_quota": ADMIN,
    **{f"{action}_agent": ADMIN for action in ("create", "get", "update", "delete")},
    "get_network_ip_availability": ADMIN_OR_SERVICE,
    "get_auto_allocated_topology": ADMIN_OR_READER,
    "delete_auto_allocated_topology": ADMIN_OR_MEMBER,
    **_crud("network_acl", ADMIN_OR_MEMBER, ADMIN_OR_READER),
    **_crud("network_acl_rule", ADMIN_OR_MEMBER, ADMIN_OR_READER),
}

RULES: dict[str, str] = {
    **BASE,
    **NETWORK,
    **SUBNET,
    **PORT,
    **SECURITY_GROUP,
    **ROUTER,
    **FLOATINGIP,
    **PORT_FORWARDING,
    **RBAC,
    **SUBNETPOOL,
    **ADDRESS_SCOPE,
    **ADDRESS_GROUP,
    **DEFAULT_SG_RULE,
    **OTHERS,
}
