"""What each resource kind is, as data: attributes, relations, tables, extensions, quotas.

A module per kind, importing only the declaration machinery (`alcor.resources.model`,
`kinds`) and the error catalogue, never any kind's rules, so that the southbound, the schema
head and the tests can use the tables without pulling in behaviour. `ALL` lists the kinds in
serving order.
"""

from __future__ import annotations

from alcor.resources.declarations import (
    agent,
    floatingip,
    network,
    network_acl,
    port,
    router,
    security_group,
    subnet,
)
from alcor.resources.model import Resource

ALL: list[Resource] = [
    network.resource,
    subnet.resource,
    port.resource,
    security_group.group,
    security_group.rule,
    router.resource,
    floatingip.resource,
    network_acl.acl,
    network_acl.rule,
    agent.resource,
]
