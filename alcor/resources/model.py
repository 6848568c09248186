"""Declaring a resource: its attributes, and the table generated from them.

An `Attr` says everything about one attribute of one resource: its API name, its kind, whether
a client may post or update it, its default, whether it can be filtered or sorted on, whether
only admins see it, and whether it is stored in a column. From a list of them, `Resource`
derives the SQL table (on `alcor.store.schema.metadata`), the request validation, the filters,
the sort keys, the response shape and the OpenAPI schema. Adding an attribute is one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from alcor.resources import kinds
from alcor.store import prepared
from alcor.store.schema import metadata


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


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
    filter: bool = True  # usable as a list filter
    sort: bool = True  # usable as sort_key
    visible: bool = True  # is_visible
    admin_only: bool = False  # only admins may see or set it (binding:*, provider:*)
    stored: bool = True  # has a column; False = computed by the resource's hooks
    unique: bool = False
    index: bool = False
    db_column: str | None = None  # column name when it is not derived from the API name

    @property
    def column(self) -> str:
        """Column name: the API name with ':' made SQL-safe ('binding:host_id')."""
        return self.db_column or self.name.replace(":", "_")


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
        admin_only: bool = False,
        logged: bool = True,
        omit: tuple[str, ...] = (),
        updatable: bool = True,
        quota: str | None = None,
    ) -> None:
        self.name = name
        self.plural = plural
        self.collection = collection or plural.replace("_", "-")
        self.project_scoped = project_scoped
        self.taggable = taggable and "tags" not in omit
        self.extensions = extensions
        self.parent = parent
        self.admin_only = admin_only  # only admins may see or change it (agents)
        self._statements: dict[str, Any] = {}
        self.logged = logged  # changes go to the change log for the southbound
        self.updatable = updatable  # False: no PUT on members (security group rules)
        self.quota = quota  # the quota key creates of this kind count against
        all_attrs = (standard_attrs(project_scoped, omit) if standard else []) + attrs
        self.attrs: dict[str, Attr] = {a.name: a for a in all_attrs}
        self.hooks: Hooks = Hooks()
        if table is not None:
            missing = [a.column for a in all_attrs if a.stored and a.column not in table.c]
            if missing:
                raise ValueError(f"{plural}: table {table.name} lacks columns {missing}")
            self.table = table
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

    def attr(self, name: str) -> Attr:
        return self.attrs[name]

    def statement(self, name: str, build: Callable[[], Any]) -> Any:
        """A SQL statement built once per resource (bind parameters for the values):
        building a SQLAlchemy statement costs several times more than executing it."""
        stmt = self._statements.get(name)
        if stmt is None:
            stmt = self._statements[name] = prepared.hot(build())
        return stmt

    def stored(self) -> list[Attr]:
        return [a for a in self.attrs.values() if a.stored]

    def column(self, name: str) -> sa.Column[Any]:
        return self.table.c[self.attrs[name].column]


class Hooks:
    """What is specific to a resource kind; the generic controller calls these.

    Every hook runs inside the request's unit of work (one transaction), so whatever it
    allocates or checks commits or rolls back together with the row itself.
    """

    def before_create(self, uow: Any, ctx: Any, item: dict[str, Any]) -> None:
        """Fill defaults that need the database, allocate, check conflicts."""

    def before_create_many(self, uow: Any, ctx: Any, items: list[dict[str, Any]]) -> None:
        """Instead of `before_create` per item, for kinds that batch their work (bulk port
        creates): a kind that overrides it answers for conflicts between the items of the
        batch too, since their rows are written together afterwards."""

    def after_create(self, uow: Any, ctx: Any, item: dict[str, Any]) -> None:
        """Write dependent rows once the resource's row exists."""

    def before_update(
        self, uow: Any, ctx: Any, old: dict[str, Any], changes: dict[str, Any]
    ) -> None:
        """Check and extend `changes` (in place) against the current row `old`."""

    def after_update(self, uow: Any, ctx: Any, old: dict[str, Any], new: dict[str, Any]) -> None:
        """React once the row is updated."""

    def before_delete(self, uow: Any, ctx: Any, item: dict[str, Any]) -> None:
        """Refuse (InUse) or release what the resource holds."""

    def extend(self, uow: Any, ctx: Any, items: list[dict[str, Any]]) -> None:
        """Fill computed (not stored) attributes of a batch of rows, in as few queries as
        possible."""

    def actions(self) -> dict[str, Callable[..., Any]]:
        """Member actions, `PUT /v2.0/<collection>/<id>/<action>` (add_router_interface):
        name -> function(uow, ctx, id, body) returning the response body, run in one unit
        of work."""
        return {}

    def read_needs(self, conn: Any, ctx: Any) -> Callable[[Any], None] | None:
        """A write that must happen before `ctx` reads this kind (the project's default
        security group is made on first need), or None when there is nothing to do."""
        return None

    def filters(self) -> dict[str, Callable[..., Any]]:
        """Extra filters beyond plain attribute equality: name -> builder of a WHERE clause."""
        return {}

    def change_scope(self, item: dict[str, Any]) -> tuple[str | None, str | None]:
        """(network_id, host_id) that the change log records for this resource."""
        return item.get("network_id"), None
