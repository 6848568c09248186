"""The registry of translators the compiler runs, one per resource kind (see `translate`).

Order matters only for cost, never for content: ports render first because they learn the
networks, subnets and tunnel IPs they need from their rows, and those loaders then fetch, in
the same query, what the other kinds planned. A new kind is a module here and a line below;
a kind may have several translators (a port is a host's resource and a group's member), each
seeing all of the kind's rows.
"""

from alcor.southbound.translate import Translator
from alcor.southbound.translators import (
    address_group,
    address_set,
    host,
    network,
    network_acl,
    port,
    router,
    security_group,
    subnet,
)

REGISTRY: tuple[Translator, ...] = (
    port.TRANSLATOR,
    network.TRANSLATOR,
    subnet.TRANSLATOR,
    host.TRANSLATOR,
    *security_group.TRANSLATORS,
    address_set.TRANSLATOR,
    address_group.TRANSLATOR,
    *network_acl.TRANSLATORS,
    router.TRANSLATOR,
)
