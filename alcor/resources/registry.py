"""Every resource kind the server serves, with its hooks bound to the settings."""

from __future__ import annotations

from alcor.config import ServerSettings
from alcor.resources import agent, network, port, subnet
from alcor.resources.model import Resource

RESOURCES: list[Resource] = [network.resource, subnet.resource, port.resource, agent.resource]


def configure(settings: ServerSettings) -> list[Resource]:
    """Bind each kind's hooks to `settings`; return the resources in serving order."""
    network.resource.hooks = network.NetworkHooks(settings)
    subnet.resource.hooks = subnet.SubnetHooks()
    port.resource.hooks = port.PortHooks(settings)
    agent.resource.hooks = agent.AgentHooks(settings)
    return RESOURCES
