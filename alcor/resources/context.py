"""Who is calling: the request context every operation is checked against.

Identity is behind this one small interface: an authenticator (`NoAuth` here, Keystone
tokens in `alcor.api.keystone`) turns a request into a `Context`, and what the caller may do
is the policy's answer for that context (`alcor.policy`), which the context carries.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Protocol

from alcor.policy.enforcer import Policy


@dataclasses.dataclass(frozen=True)
class Context:
    project_id: str
    roles: frozenset[str]
    user_id: str = ""
    is_system: bool = False  # the control plane itself, not a caller (see `system`)
    policy: Policy = dataclasses.field(default_factory=lambda: _default_policy(), compare=False)

    @functools.cached_property
    def is_admin(self) -> bool:
        """Neutron's `context.is_admin` (rule `context_is_admin`): kept for the few rules
        Neutron writes in code rather than policy (a project other than one's own)."""
        return self.is_system or self.policy.check(self, "context_is_admin", {})

    @functools.cached_property
    def is_service(self) -> bool:
        """The service role (Nova's port binding calls): Neutron lets it see and use every
        project's networks, as its `service_api` rules say."""
        return self.is_system or self.policy.check(self, "service_api", {})

    @classmethod
    def system(cls, project_id: str = "") -> Context:
        """The control plane acting on its own behalf for `project_id`: making a project's
        default security group or a network's default ACL, a router's ports, cascading a
        delete. It may do what an admin may, and rules can tell it from any caller (a
        default ACL goes only with its network, never by a caller's delete)."""
        return cls(project_id, _ADMIN_ROLES, is_system=True)


_ADMIN_ROLES = frozenset({"admin", "manager", "member", "reader"})
# A header-less noauth caller is the operator at the console: an admin that may also do what
# Neutron keeps for the service role (`binding:profile`, as Nova sets it).
_OPERATOR_ROLES = _ADMIN_ROLES | {"service"}
DEFAULT_POLICY = Policy()


def _default_policy() -> Policy:
    return DEFAULT_POLICY


# Keystone's default implied roles (`keystone-manage bootstrap`): a token for `admin` also
# lists manager, member and reader, and so on down. Trusted headers get the same expansion,
# so that `X-Roles: member` means what a member's token means.
IMPLIED_ROLES = {
    "admin": ("manager", "member", "reader"),
    "manager": ("member", "reader"),
    "member": ("reader",),
}


def with_implied(roles: frozenset[str]) -> frozenset[str]:
    return roles.union(*(IMPLIED_ROLES.get(r, ()) for r in roles))


class Authenticator(Protocol):
    """Turns a request's headers into the caller's context (or raises a Neutron 401)."""

    policy: Policy

    async def context(self, headers: Mapping[str, str]) -> Context: ...


class NoAuth:
    """Neutron's `noauth` strategy: trust `X-Project-Id` / `X-Roles` headers.

    Without headers the caller is an admin (with the service role) of `default_project`,
    which is what `auth_type: none` clients (openstacksdk, the `openstack` CLI) get.
    """

    def __init__(self, default_project: str, policy: Policy = DEFAULT_POLICY) -> None:
        self.default_project = default_project
        self.policy = policy

    async def context(self, headers: Mapping[str, str]) -> Context:
        project = headers.get("x-project-id") or headers.get("x-tenant-id")
        roles_hdr = headers.get("x-roles")
        if project is None and roles_hdr is None:
            return Context(self.default_project, _OPERATOR_ROLES, policy=self.policy)
        roles = frozenset(r.strip().lower() for r in (roles_hdr or "").split(",") if r.strip())
        return Context(
            project or self.default_project,
            with_implied(roles),
            headers.get("x-user-id", ""),
            policy=self.policy,
        )
