"""The complete schema: importing every module that declares tables on `metadata`."""

import sqlalchemy as sa


def all_metadata() -> sa.MetaData:
    """`metadata` with every table declared (resources, allocators, southbound)."""
    import alcor.ipam.tables
    import alcor.resources.registry  # noqa: F401  (declares the resource tables)
    from alcor.store.schema import metadata

    return metadata
