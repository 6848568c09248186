"""In-transaction events: what one kind's change means for another kind's rules.

Why: some side effects are not plain references (a network gets a default ACL, a port gets
its project's default security group and a membership row per group). Written as calls from
one kind's rules into another's, they made the resource modules import each other in a
circle. Instead, the generic operations announce every create, update and delete of every
kind here, and a kind's rules subscribe to the changes of others they care about. Handlers
run inside the same unit of work, before its commit, so whatever they write commits or rolls
back with the change itself (unlike `UnitOfWork.emit`, which tells the world after commit).

The subscriptions are made when the server binds rules to declarations
(`alcor.resources.registry.configure`), which starts from a clean slate each time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from alcor.resources.context import Context
from alcor.resources.model import Item, Read

if TYPE_CHECKING:
    from alcor.store.db import UnitOfWork

Creating = Callable[["UnitOfWork", Context, list[Item]], None]
Created = Callable[["UnitOfWork", Context, Item], None]
Updating = Callable[["UnitOfWork", Context, Item, Item], None]
Updated = Callable[["UnitOfWork", Context, Item, Item], None]
Deleting = Callable[["UnitOfWork", Context, Item], None]
Reads = Callable[[Context, list[Item]], list[Read]]

_creating: dict[str, list[Creating]] = {}
_creating_reads: dict[str, list[Reads]] = {}
_created: dict[str, list[Created]] = {}
_updating: dict[str, list[Updating]] = {}
_updated: dict[str, list[Updated]] = {}
_deleting: dict[str, list[Deleting]] = {}


def reset() -> None:
    """Forget every subscription (the registry subscribes anew when it binds rules)."""
    for table in (_creating, _creating_reads, _created, _updating, _updated, _deleting):
        table.clear()


def on_creating(kind: str, handler: Creating, reads: Reads | None = None) -> None:
    """`handler(uow, ctx, items)` before a batch of `kind` is checked and written: it may
    fill attributes the kind's own rules then see (a port's default security group).
    `reads(ctx, items)`: the selects it will run that the items alone determine (sent with
    the create's own on PostgreSQL, `Hooks.reads`)."""
    _creating.setdefault(kind, []).append(handler)
    if reads is not None:
        _creating_reads.setdefault(kind, []).append(reads)


def on_created(kind: str, handler: Created) -> None:
    """`handler(uow, ctx, item)` once the item's row exists."""
    _created.setdefault(kind, []).append(handler)


def on_updating(kind: str, handler: Updating) -> None:
    """`handler(uow, ctx, old, changes)` before an update is checked by the kind's own rules:
    it may adjust `changes` in place."""
    _updating.setdefault(kind, []).append(handler)


def on_updated(kind: str, handler: Updated) -> None:
    """`handler(uow, ctx, old, new)` once an update changed something."""
    _updated.setdefault(kind, []).append(handler)


def on_deleting(kind: str, handler: Deleting) -> None:
    """`handler(uow, ctx, item)` before the item's row goes."""
    _deleting.setdefault(kind, []).append(handler)


def creating(uow: UnitOfWork, ctx: Context, kind: str, items: list[Item]) -> None:
    for handler in _creating.get(kind, ()):
        handler(uow, ctx, items)


def creating_reads(ctx: Context, kind: str, items: list[Item]) -> list[Read]:
    return [read for reads in _creating_reads.get(kind, ()) for read in reads(ctx, items)]


def created(uow: UnitOfWork, ctx: Context, kind: str, item: Item) -> None:
    for handler in _created.get(kind, ()):
        handler(uow, ctx, item)


def updating(uow: UnitOfWork, ctx: Context, kind: str, old: Item, changes: Item) -> None:
    for handler in _updating.get(kind, ()):
        handler(uow, ctx, old, changes)


def updated(uow: UnitOfWork, ctx: Context, kind: str, old: Item, new: Item) -> None:
    for handler in _updated.get(kind, ()):
        handler(uow, ctx, old, new)


def deleting(uow: UnitOfWork, ctx: Context, kind: str, item: Item) -> None:
    for handler in _deleting.get(kind, ()):
        handler(uow, ctx, item)
