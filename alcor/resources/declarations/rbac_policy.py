"""RBAC policies: an owner (or an admin) grants one project, or every project (`*`), access to
a network (`access_as_shared`: use it; `access_as_external`: use it as a router gateway and
for floating IPs), a security group (`access_as_shared`: put own ports in it), a subnet pool
(`access_as_shared`: carve subnets from it), an address group (`access_as_shared`: name it
in own security group rules) or an address scope (`access_as_shared`: put own subnet pools
in it).

A network's `shared` and `router:external` columns and a subnet pool's or an address scope's
`shared` column say
that a `*` grant of that action exists (they are kept in step with the grants by the rules),
so that what every project sees is one indexed column, and only grants to one project need
this table.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from alcor import errors
from alcor.resources import kinds
from alcor.resources.model import Attr, Resource

SHARED = "access_as_shared"
EXTERNAL = "access_as_external"
EVERYONE = "*"
# What each object type may be granted (Neutron's, for what this server serves).
ACTIONS = {
    "network": (SHARED, EXTERNAL),
    "security_group": (SHARED,),
    "subnetpool": (SHARED,),
    "address_group": (SHARED,),
    "address_scope": (SHARED,),
}
# The object's column that stands for a `*` grant of each action.
EVERYONE_COLUMNS = {
    "network": {SHARED: "shared", EXTERNAL: "router:external"},
    "subnetpool": {SHARED: "shared"},
    "address_scope": {SHARED: "shared"},
}


class TargetProject(kinds.Str):
    """Neutron's (2026.2) `valid_target_project`: `*`, or a project id that oslo's
    `is_uuid_like` accepts (Keystone's ids are 32 hex digits), kept as given."""

    def check(self, name: str, value: Any) -> Any:
        value = super().check(name, value)
        if value == EVERYONE:
            return value
        bare = value.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "").lower()
        try:
            if uuid.UUID(value).hex == bare:
                return value
        except ValueError:
            pass
        raise errors.InvalidInput(
            error_message=f"'{value}' is not a valid target project ID; expected a UUID or '*'"
        )


resource = Resource(
    "rbac_policy",
    "rbac_policies",
    [
        Attr("id", kinds.Uuid(), sort=True),
        Attr("project_id", kinds.Str(255), post=True, index=True),
        Attr("object_type", kinds.Enum(*ACTIONS), post=True, required=True),
        Attr("object_id", kinds.Uuid(), post=True, required=True, index=True),
        Attr("action", kinds.Enum(SHARED, EXTERNAL), post=True, required=True),
        Attr("target_tenant", TargetProject(255), post=True, put=True, required=True, index=True),
        Attr("created_at", kinds.Timestamp(), sort=True, visible=False),
    ],
    standard=False,
    taggable=False,
    logged=False,
    extensions=(
        "rbac-policies",
        "rbac-security-groups",
        "rbac-subnetpool",
        "rbac-address-group",
        "rbac-address-scope",
    ),
    quota="rbac_policy",
    not_found=lambda rid: errors.RbacPolicyNotFound(object_type="unknown", id=rid),
    table_args=(sa.UniqueConstraint("object_type", "object_id", "action", "target_tenant"),),
)
