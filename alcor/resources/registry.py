"""Every resource kind the server serves, with its hooks bound to the settings."""

from __future__ import annotations

from alcor.config import ServerSettings
from alcor.resources import (
    agent,
    floatingip,
    network,
    network_acl,
    port,
    quota,
    router,
    subnet,
)
from alcor.resources import security_group as sg
from alcor.resources.model import Resource

RESOURCES: list[Resource] = [
    network.resource,
    subnet.resource,
    port.resource,
    sg.group,
    sg.rule,
    router.resource,
    floatingip.resource,
    network_acl.acl,
    network_acl.rule,
    agent.resource,
]


def configure(settings: ServerSettings) -> list[Resource]:
    """Bind each kind's hooks to `settings`; return the resources in serving order."""
    quota.configure(settings.quota_defaults())
    network.resource.hooks = network.NetworkHooks(settings)
    subnet.resource.hooks = subnet.SubnetHooks()
    port.resource.hooks = port.PortHooks(settings)
    agent.resource.hooks = agent.AgentHooks(settings)
    sg.group.hooks = sg.GroupHooks()
    sg.rule.hooks = sg.RuleHooks()
    router.resource.hooks = router.RouterHooks()
    floatingip.resource.hooks = floatingip.FloatingIpHooks()
    network_acl.acl.hooks = network_acl.AclHooks()
    network_acl.rule.hooks = network_acl.RuleHooks()
    return RESOURCES
