"""Declaring a resource: its attributes, its relations, and the table generated from them.

An `Attr` says everything about one attribute of one resource: its API name, its kind, whether
a client may post or update it, its default, whether it can be filtered or sorted on, whether
whether it is stored in a column, and, with a `Ref`, which other resource
it points at and what a delete of that one does. From a list of them, `Resource` derives the
SQL table (on `alcor.store.schema.metadata`), the request validation, the reference checks,
the cascades, the filters, the sort keys, the response shape and the OpenAPI schema. Adding an
attribute is one line.

Declarations live in `alcor.resources.declarations` and import nothing but this machinery, so
the southbound (and anything else that needs tables) imports them without pulling in any
kind's rules; a kind's behaviour is a `Hooks` subclass in `alcor.resources.rules`, bound to
its declaration when the server starts (`alcor.resources.registry`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from alcor import errors
from alcor.resources import kinds
from alcor.store import prepared
from alcor.store.schema import metadata

if TYPE_CHECKING:
    from alcor.resources.context import Context
    from alcor.store.db import UnitOfWork

Item = dict[str, Any]  # one resource as the API sees it: attribute name -> value
Conn = sa.Connection  # a read transaction (hooks that read also accept a UnitOfWork)


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


OnDelete = Literal["refuse", "cascade", "clear"]


@dataclasses.dataclass(frozen=True)
class Ref:
    """The attribute holds the id of a `target` resource (its singular name, e.g. "network").

    The generic operations then check, on create and update, that each referenced id exists
    and is visible to the caller (`owned`: belongs to the item's project, unless an admin
    asks), answering with the target's own NotFound as Neutron does, and, when a target is
    deleted, do `on_delete` to the items that refer to it:

    * "refuse": the delete fails with `in_use` (a Neutron 409 such as NetworkInUse);
    * "cascade": the referring items are deleted too, through their own rules;
    * "clear": the reference is set to null through an update (a floating IP loses its port).

    `revises`: the item is part of the target's state, as Neutron's `revises_on_change`
    says, so any change of the item bumps the target's revision (see `crud.bump_revisions`).

    `same_project` is Neutron's rule for security groups: a port or a rule may only name
    groups of its own project, even when an admin asks.

    A list-valued reference kept in a join table (a port's security groups) names that
    table's column in `through`: "refuse" then looks there, and "clear" deletes the join rows.
    """

    target: str
    on_delete: OnDelete = "refuse"
    in_use: Callable[[str], errors.NeutronError] | None = None
    owned: bool = False  # the caller must own the target (or be an admin)
    same_project: bool = False  # the target must be in the item's project, whoever asks
    through: sa.Column[Any] | None = None
    owner: bool = False  # what the item belongs to: logged as the change's parent (`parent`)
    # Neutron's `revises_on_change`: creating, changing or deleting the item bumps the
    # target's revision_number (a subnet its network's, a rule its group's).
    revises: bool = False


@dataclasses.dataclass(frozen=True)
class Attr:
    """One attribute of a resource (Neutron's RESOURCE_ATTRIBUTE_MAP entry, plus storage)."""

    name: str
    kind: kinds.Kind
    post: bool = False  # allow_post
    put: bool = False  # allow_put
    required: bool = False  # required_by_policy / no default on create
    default: Any = MISSING  # value, or callable(context, body) -> value
    nullable: bool = False  # a client may send null
    null_is_empty: bool = False  # null means [] (neutron-lib's convert_none_to_empty_list)
    filter: bool = True  # usable as a list filter
    sort: bool = True  # usable as sort_key
    visible: bool = True  # is_visible
    stored: bool = True  # has a column; False = computed by the resource's hooks
    unique: bool = False
    index: bool = False
    db_column: str | None = None  # column name when it is not derived from the API name
    ref: Ref | None = None  # the resource this attribute points at

    @property
    def column(self) -> str:
        """Column name: the API name with ':' made SQL-safe ('binding:host_id')."""
        return self.db_column or self.name.replace(":", "_")


def parent(name: str, target: str, index: bool = True, **ref: Any) -> Attr:
    """The required, indexed reference of an item to what it belongs to (a subnet's network,
    a rule's group): `Ref(target, **ref)` on a UUID attribute given at create time. `index`
    False: a unique constraint of the kind that starts with this column serves as its index."""
    return Attr(
        name,
        kinds.Uuid(),
        post=True,
        required=True,
        index=index,
        ref=Ref(target, owner=True, **ref),
    )


def standard_attrs(project_scoped: bool = True, omit: tuple[str, ...] = ()) -> list[Attr]:
    """Neutron's standard attributes, carried by every resource kind (less `omit`: security
    group rules have no name and no tags)."""
    attrs = [
        Attr("id", kinds.Uuid(), post=False, sort=True, index=False),
        Attr("name", kinds.Str(255), post=True, put=True, default=""),
        Attr("description", kinds.Str(255), post=True, put=True, default=""),
        Attr("created_at", kinds.Timestamp(), sort=True),
        Attr("updated_at", kinds.Timestamp(), sort=True),
        Attr("revision_number", kinds.Int(0), sort=True),
        Attr(
            "tags", kinds.list_of(kinds.Str(255)), post=True, default=[], filter=False, sort=False
        ),
    ]
    if project_scoped:
        attrs.append(Attr("project_id", kinds.Str(255), post=True, index=True))
    return [a for a in attrs if a.name not in omit]


def availability_zones() -> list[Attr]:
    """The `availability_zone` extension's pair, on networks and routers alike."""
    return [
        Attr(
            "availability_zone_hints",
            kinds.list_of(kinds.Str(255)),
            post=True,
            default=[],
            filter=False,
        ),
        Attr("availability_zones", kinds.list_of(kinds.Str(255)), stored=False, filter=False),
    ]


DECLARED: dict[str, Resource] = {}  # every declared kind by singular name (for references)


class Resource:
    """A Neutron resource kind made from declarations; operations live in `hooks`."""

    def __init__(
        self,
        name: str,
        plural: str,
        attrs: list[Attr],
        *,
        collection: str | None = None,
        project_scoped: bool = True,
        taggable: bool = True,
        extensions: tuple[str, ...] = (),
        table_args: tuple[Any, ...] = (),
        parent: str | None = None,
        table: sa.Table | None = None,
        standard: bool = True,
        logged: bool = True,
        omit: tuple[str, ...] = (),
        updatable: bool = True,
        quota: str | None = None,
        not_found: Callable[[str], errors.NeutronError] | None = None,
    ) -> None:
        self.name = name
        self.plural = plural
        self.collection = collection or plural.replace("_", "-")
        self.project_scoped = project_scoped
        self.taggable = taggable and "tags" not in omit
        self.extensions = extensions
        self.parent = parent  # a sub-resource's parent kind (served under its members)
        # Neutron names a sub-resource's policy rules after both (`get_floatingip_port_forwarding`)
        self.policy_name = f"{parent}_{name}" if parent else name
        self._memo: dict[str, Any] = {}
        self.logged = logged  # changes go to the change log for the southbound
        self.updatable = updatable  # False: no PUT on members (security group rules)
        self.quota = quota  # the quota key creates of this kind count against
        self.not_found = not_found or (lambda rid: errors.not_found(name, rid))
        all_attrs = (standard_attrs(project_scoped, omit) if standard else []) + attrs
        self.attrs: dict[str, Attr] = {a.name: a for a in all_attrs}
        self.hooks: Hooks = Hooks()
        self.hooks.resource = self
        if table is not None:
            missing = [a.column for a in all_attrs if a.stored and a.column not in table.c]
            if missing:
                raise ValueError(f"{plural}: table {table.name} lacks columns {missing}")
            self.table = table
            DECLARED[name] = self
            return
        columns = [
            sa.Column(
                a.column,
                a.kind.sql_type(),
                primary_key=(a.name == "id"),
                nullable=a.name != "id" and (a.nullable or a.default is None or not a.required),
                unique=a.unique or None,
                index=a.index or None,
            )
            for a in all_attrs
            if a.stored
        ]
        self.table = sa.Table(plural, metadata, *columns, *table_args)
        DECLARED[name] = self

    def attr(self, name: str) -> Attr:
        return self.attrs[name]

    def statement(self, name: str, build: Callable[[], Any]) -> Any:
        """A SQL statement built once per resource (bind parameters for the values):
        building a SQLAlchemy statement costs several times more than executing it."""
        return self.memo(f"stmt:{name}", lambda: prepared.hot(build()))

    def memo(self, name: str, build: Callable[[], Any]) -> Any:
        """Something derived from the declarations, worked out once per kind."""
        found = self._memo.get(name)
        if found is None:
            found = self._memo[name] = build()
        return found

    def stored(self) -> list[Attr]:
        """The attributes with a column, in column order (worked out once)."""
        found: list[Attr] = self.memo(
            "stored", lambda: [a for a in self.attrs.values() if a.stored]
        )
        return found

    def column(self, name: str) -> sa.Column[Any]:
        return self.table.c[self.attrs[name].column]

    def bind(self, hooks: Hooks) -> None:
        """Give the kind its rules (at server start; see `alcor.resources.registry`)."""
        hooks.resource = self
        self.hooks = hooks
        self._memo.pop("visibility", None)

    @staticmethod
    def declared(name: str) -> Resource:
        """The declared kind called `name` (the target of a `Ref`)."""
        return DECLARED[name]

    def refs(self) -> list[Attr]:
        """The attributes that point at other resources."""
        return self.memo("refs", lambda: [a for a in self.attrs.values() if a.ref])

    def parent_attr(self) -> str | None:
        """The attribute naming what an item belongs to (declared with `parent`), if any."""
        found: str | None = self.memo(
            "parent", lambda: next((a.name for a in self.refs() if a.ref and a.ref.owner), None)
        )
        return found

    def referrers(self) -> list[tuple[Resource, Attr]]:
        """Every (kind, attribute) that points at this kind, refusals first: a delete is
        refused before anything cascades."""

        def build() -> list[tuple[Resource, Attr]]:
            found = [
                (res, a, a.ref)
                for res in DECLARED.values()
                for a in res.refs()
                if a.ref is not None and a.ref.target == self.name
            ]
            cascaded = {res.name for res, _, ref in found if ref.on_delete == "cascade"}

            def order(entry: tuple[Resource, Attr, Ref]) -> tuple[int, int]:
                res, _, ref = entry
                # A cascaded kind that refers to another cascaded kind goes first (floating
                # IPs before the subnets their addresses come from).
                refers = any(a.ref and a.ref.target in cascaded for a in res.refs())
                return ({"refuse": 0, "clear": 1, "cascade": 2}[ref.on_delete], 0 if refers else 1)

            return [(res, a) for res, a, _ in sorted(found, key=order)]

        return self.memo("referrers", build)


CALLER_PROJECT = "caller_project"  # bind parameter: the caller's project in visibility clauses


def caller_project() -> sa.BindParameter[str]:
    """The caller's project inside a visibility clause (bound when the statement runs)."""
    return sa.bindparam(CALLER_PROJECT, type_=sa.String())


# A select a unit of work will run, as (statement, parameters): see `Hooks.reads`.
Read = tuple[Any, dict[str, Any]]


class Hooks:
    """What is specific to a resource kind; the generic operations call these.

    Every hook runs inside the request's unit of work (one transaction), so whatever it
    allocates or checks commits or rolls back together with the row itself. References to
    other kinds are checked before `before_create`/`before_update` run (`Ref`), and what a
    change means for other kinds is announced to them (`alcor.resources.events`): a kind's
    hooks never call into another kind's rules.
    """

    resource: Resource  # the declaration these hooks are bound to

    def visible(self) -> sa.ColumnElement[bool]:
        """What a caller who is not an admin may see of this kind (`caller_project()` is
        the caller's project): by default, its own project's items."""
        return self.resource.column("project_id") == caller_project()

    def reads(self, ctx: Context, items: list[Item]) -> list[Read]:
        """The selects a create of `items` will run first that the items alone determine,
        as (statement, parameters): on PostgreSQL they are sent together, with the generic
        operations' own (`UnitOfWork.prefetch`)."""
        return []

    def before_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        """Fill defaults that need the database, allocate, check conflicts."""

    def before_create_many(self, uow: UnitOfWork, ctx: Context, items: list[Item]) -> None:
        """Instead of `before_create` per item, for kinds that batch their work (bulk port
        creates): a kind that overrides it answers for conflicts between the items of the
        batch too, since their rows are written together afterwards."""

    def after_create(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        """Write dependent rows once the resource's row exists."""

    def before_update(self, uow: UnitOfWork, ctx: Context, old: Item, changes: Item) -> None:
        """Check and extend `changes` (in place) against the current row `old`."""

    def after_update(self, uow: UnitOfWork, ctx: Context, old: Item, new: Item) -> None:
        """React once the row is updated."""

    def before_delete(self, uow: UnitOfWork, ctx: Context, item: Item) -> None:
        """Refuse (InUse) or release what the resource holds."""

    def extend(self, conn: Conn | UnitOfWork, ctx: Context, items: list[Item]) -> None:
        """Fill computed (not stored) attributes of a batch of rows, in as few queries as
        possible."""

    def actions(self) -> dict[str, Action]:
        """Member actions, `PUT /v2.0/<collection>/<id>/<action>` (add_router_interface):
        name -> function(uow, ctx, id, body) returning the response body, run in one unit
        of work."""
        return {}

    def read_needs(
        self, conn: Conn, ctx: Context, filters: dict[str, list[str]]
    ) -> Callable[[UnitOfWork], object] | None:
        """A write that must happen before `ctx` reads this kind (the project's default
        security group is made on first need), or None when there is nothing to do;
        `filters`: a list's query filters."""
        return None

    def filters(self) -> dict[str, Callable[[list[str]], sa.ColumnElement[bool]]]:
        """Extra filters beyond plain attribute equality: name -> builder of a WHERE clause."""
        return {}

    def change_scope(self, item: Item) -> tuple[str | None, str | None]:
        """(network_id, host_id) that the change log records for this resource."""
        return item.get("network_id"), None


# A member action's response body: an object, or a list (`onboard_network_subnets`).
Action = Callable[["UnitOfWork", "Context", str, Item], Item | list[Item]]
