"""The composition root of the resources: every declared kind with its rules bound.

The only module that imports every kind's rules; declarations never do, and rules never
import one another (they meet through references and `alcor.resources.events`).
"""

from __future__ import annotations

from alcor.config import ServerSettings
from alcor.resources import auto_allocate, events, quota
from alcor.resources.declarations import (
    ALL,
    address_group,
    address_scope,
    agent,
    floatingip,
    network,
    network_acl,
    port,
    port_forwarding,
    rbac_policy,
    router,
    security_group,
    subnet,
    subnetpool,
)
from alcor.resources.model import Resource
from alcor.resources.rules import address_group as address_group_rules
from alcor.resources.rules import address_scope as address_scope_rules
from alcor.resources.rules import agent as agent_rules
from alcor.resources.rules import floatingip as floatingip_rules
from alcor.resources.rules import network as network_rules
from alcor.resources.rules import network_acl as network_acl_rules
from alcor.resources.rules import port as port_rules
from alcor.resources.rules import port_forwarding as port_forwarding_rules
from alcor.resources.rules import rbac_policy as rbac_rules
from alcor.resources.rules import router as router_rules
from alcor.resources.rules import security_group as security_group_rules
from alcor.resources.rules import subnet as subnet_rules
from alcor.resources.rules import subnetpool as subnetpool_rules


def configure(settings: ServerSettings) -> list[Resource]:
    """Bind each kind's rules to its declaration (with `settings`), subscribe the rules that
    follow other kinds' changes, and return the kinds in serving order."""
    quota.configure(settings.quota_defaults())
    network.resource.bind(network_rules.NetworkHooks(settings))
    subnet.resource.bind(subnet_rules.SubnetHooks())
    port.resource.bind(port_rules.PortHooks(settings))
    agent.resource.bind(agent_rules.AgentHooks(settings))
    security_group.group.bind(security_group_rules.GroupHooks())
    security_group.rule.bind(security_group_rules.RuleHooks())
    security_group.default_rule.bind(security_group_rules.DefaultRuleHooks())
    router.resource.bind(router_rules.RouterHooks())
    floatingip.resource.bind(floatingip_rules.FloatingIpHooks())
    port_forwarding.resource.bind(port_forwarding_rules.PortForwardingHooks())
    network_acl.acl.bind(network_acl_rules.AclHooks())
    network_acl.rule.bind(network_acl_rules.RuleHooks())
    rbac_policy.resource.bind(rbac_rules.RbacHooks())
    subnetpool.resource.bind(subnetpool_rules.SubnetPoolHooks())
    address_group.resource.bind(address_group_rules.AddressGroupHooks())
    address_scope.resource.bind(address_scope_rules.AddressScopeHooks())
    events.reset()
    rbac_rules.install()
    security_group_rules.install()
    network_acl_rules.install()
    auto_allocate.install()
    port_forwarding_rules.install()
    return ALL
