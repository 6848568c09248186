"""Choosing the authenticator and the policy from the settings, and refusing unsafe ones.

`noauth` believes the headers a client sends, so it is an admin's key to anyone who can
connect: the server serves it on loopback only, unless `noauth_public` says the operator
knows (a trusted proxy in front, a lab).
"""

from __future__ import annotations

import ipaddress

from alcor.api.keystone import Keystone, KeystoneSettings
from alcor.config import ServerSettings
from alcor.policy.enforcer import Policy
from alcor.resources.context import Authenticator, NoAuth


class UnsafeSettings(RuntimeError):
    """Settings the server refuses to start with (the message says what to change)."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def authenticator(settings: ServerSettings) -> Authenticator:
    policy = Policy.load(settings.policy_file)
    if settings.auth_strategy == "keystone":
        if not settings.keystone_url or not settings.keystone_password:
            raise UnsafeSettings(
                "auth_strategy = keystone needs keystone_url and keystone_password "
                "(ALCOR_KEYSTONE_URL, ALCOR_KEYSTONE_PASSWORD) of the service user"
            )
        return Keystone(
            KeystoneSettings(
                url=settings.keystone_url,
                username=settings.keystone_username,
                password=settings.keystone_password,
                project_name=settings.keystone_project,
                user_domain=settings.keystone_user_domain,
                project_domain=settings.keystone_project_domain,
                cache_time=settings.token_cache_time,
            ),
            policy,
        )
    if settings.auth_strategy != "noauth":
        raise UnsafeSettings(
            f"auth_strategy must be noauth or keystone, not {settings.auth_strategy!r}"
        )
    host, _ = settings.host_port()
    if not _loopback(host) and not settings.noauth_public:
        raise UnsafeSettings(
            f"auth_strategy = noauth on {host}: anyone who can connect would be an admin. "
            "Use auth_strategy = keystone, bind to loopback, or set noauth_public = true "
            "(ALCOR_NOAUTH_PUBLIC=1) if a trusted proxy in front authenticates callers"
        )
    return NoAuth(settings.default_project, policy)
