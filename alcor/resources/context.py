"""Who is calling: the request context every operation is checked against.

Identity is behind this one small interface so that Keystone tokens can replace the noauth
headers later without touching resources: an authenticator turns request headers into a
`Context`, and resources only ever look at `project_id` and `is_admin`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class Context:
    project_id: str
    roles: frozenset[str]
    user_id: str = ""
    is_system: bool = False  # the control plane itself, not a caller (see `system`)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @classmethod
    def system(cls, project_id: str = "") -> Context:
        """The control plane acting on its own behalf for `project_id`: making a project's
        default security group or a network's default ACL, a router's ports, cascading a
        delete. It may do what an admin may, and rules can tell it from any caller (a
        default ACL goes only with its network, never by a caller's delete)."""
        return cls(project_id, _ADMIN_ROLES, is_system=True)


_ADMIN_ROLES = frozenset({"admin"})


class NoAuth:
    """Neutron's `noauth` strategy: trust `X-Project-Id` / `X-Roles` headers.

    Without headers the caller is an admin of `default_project`, which is what
    `auth_type: none` clients (openstacksdk, the `openstack` CLI) get.
    """

    def __init__(self, default_project: str) -> None:
        self.default_project = default_project

    def context(self, headers: Mapping[str, str]) -> Context:
        project = headers.get("x-project-id") or headers.get("x-tenant-id")
        roles_hdr = headers.get("x-roles")
        if project is None and roles_hdr is None:
            return Context(self.default_project, frozenset({"admin"}))
        roles = frozenset(r.strip().lower() for r in (roles_hdr or "").split(",") if r.strip())
        return Context(project or self.default_project, roles, headers.get("x-user-id", ""))
