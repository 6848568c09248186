"""What each resource kind is, as data: attributes, relations, tables, extensions, quotas.

A module per kind, importing only the declaration machinery (`alcor.resources.model`,
`kinds`, `protocols`) and the error catalogue, never any kind's rules, so that the southbound,
the schema head and the tests can use the tables without pulling in behaviour. Importing this
package declares every kind: a new module here is a new kind (its rules, if it has any, are
bound in `alcor.resources.registry`). `ALL` lists them in serving order.
"""

from __future__ import annotations

import importlib
import pkgutil

from alcor.resources.model import DECLARED, Resource

# The core kinds first (the order `GET /v2.0` lists them in), then any other, by name.
_FIRST = ("network", "subnet", "port", "security_group", "router", "floatingip")
for _name in (*_FIRST, *sorted(m.name for m in pkgutil.iter_modules(__path__))):
    importlib.import_module(f"{__name__}.{_name}")

ALL: list[Resource] = list(DECLARED.values())
