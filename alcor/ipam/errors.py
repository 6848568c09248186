"""Errors raised by the allocators.

They are deliberately not Neutron errors: the allocators serve several resources (fixed IPs,
VXLAN ids, floating IPs) and each resource maps them to its own Neutron error type and
message (e.g. `IpAddressAlreadyAllocated` vs `SegmentationIdInUse`). Every error carries the
pool id and, where there is one, the value, so callers can build those messages.
"""

from __future__ import annotations


class IpamError(Exception):
    """Base class of every allocator error."""

    def __init__(self, pool_id: str, message: str, value: int | None = None) -> None:
        super().__init__(message)
        self.pool_id = pool_id
        self.value = value


class PoolNotFound(IpamError):
    """No pool with this id (never created, or deleted)."""

    def __init__(self, pool_id: str) -> None:
        super().__init__(pool_id, f"IPAM pool {pool_id!r} does not exist")


class PoolExhausted(IpamError):
    """Every value inside the pool's ranges is allocated (not merely locked by others)."""

    def __init__(self, pool_id: str) -> None:
        super().__init__(pool_id, f"IPAM pool {pool_id!r} has no free value")


class ValueInUse(IpamError):
    """An explicitly requested value is already allocated (to `owner`)."""

    def __init__(self, pool_id: str, value: int, owner: str | None = None) -> None:
        super().__init__(pool_id, f"value {value} of pool {pool_id!r} is in use", value)
        self.owner = owner


class OutOfRange(IpamError):
    """An explicit value lies outside the pool's ranges (and `outside_ok` was not given)."""

    def __init__(self, pool_id: str, value: int) -> None:
        super().__init__(pool_id, f"value {value} is outside the ranges of pool {pool_id!r}", value)


class NotAllocated(IpamError):
    """`release` of a value that is not allocated (or not to the given owner).

    This is what makes "released exactly once" checkable: a second release of the same
    allocation fails loudly instead of silently succeeding.
    """

    def __init__(self, pool_id: str, value: int, owner: str | None = None) -> None:
        who = f" to {owner!r}" if owner is not None else ""
        super().__init__(pool_id, f"value {value} of pool {pool_id!r} is not allocated{who}", value)
        self.owner = owner
