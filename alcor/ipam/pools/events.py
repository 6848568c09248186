"""What the allocator announces after commit (`UnitOfWork.emit`), for the server's metrics:
values allocated and released, per pool, counted only when their transaction commits.

A pool's kind is its id's prefix (`vni:vxlan`, `flat:<physnet>`); IP pools are keyed by their
subnet's id alone.
"""

from __future__ import annotations

ALLOCATED = "ipam_allocated"  # payload: pool_id, count
RELEASED = "ipam_released"


def pool_kind(pool_id: str) -> str:
    prefix, sep, _ = pool_id.partition(":")
    return prefix if sep else "ip"
