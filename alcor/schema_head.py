"""The head of the schema: every table the code declares, for migrations and their tests.

It lives above `alcor.store` (as Neutron's `models/head.py` lives above its db layer): the
store imports nothing above it, and the tables of resources and allocators are declared in
their own packages.
"""

import sqlalchemy as sa


def all_metadata() -> sa.MetaData:
    """`metadata` with every table declared (resources, allocators, southbound)."""
    import alcor.ipam.tables
    import alcor.resources.declarations
    import alcor.resources.quota  # noqa: F401  (declare the allocator, resource, quota tables)
    from alcor.store.schema import metadata

    return metadata
