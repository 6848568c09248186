"""A parsed list request: filters, fields, sorting and pagination, free of HTTP.

The API layer turns a query string into a `ListQuery`; the generic list operation turns it
into SQL. Neutron's rules: repeating a filter key ORs its values, different keys AND; sort
keys and directions come in pairs; `limit` + `marker` page forward, `page_reverse` backward.

Each filter value becomes a term of the SQL statement and databases bound how deep an
expression may go (SQLite: 1,000), so a request carries at most `max_filter_values` of them
(the server's setting): past that it is a 400 naming the limit, not a database error. A tag
filter (`tags=a,b`) is split into its tags here, repeats dropped, and names at most
MAX_TAGS_COUNT: each tag is an EXISTS clause whose planning cost grows faster than their
number on PostgreSQL (`tags` with 200 took 20 s), and no resource carries more in Neutron. A
sort key given twice orders nothing more and is taken once.
"""

from __future__ import annotations

import dataclasses

from alcor import errors
from alcor.resources.kinds import shown

# Query parameters that are not filters.
CONTROL_PARAMS = frozenset(
    {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "verbose"}
)
TAG_FILTERS = ("tags", "tags-any", "not-tags", "not-tags-any")
MAX_TAGS_COUNT = 50  # Neutron's limit of tags on one resource


@dataclasses.dataclass
class ListQuery:
    filters: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    fields: list[str] = dataclasses.field(default_factory=list)
    sorts: list[tuple[str, bool]] = dataclasses.field(default_factory=list)  # (key, ascending)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False

    @classmethod
    def from_params(
        cls, params: list[tuple[str, str]], max_filter_values: int | None = None
    ) -> ListQuery:
        """Build from the (key, value) pairs of a query string, in order."""
        q = cls()
        sort_keys: list[str] = []
        sort_dirs: list[str] = []
        for key, value in params:
            if key == "fields":
                q.fields.extend(f for f in value.split(",") if f)
            elif key == "sort_key":
                sort_keys.append(value)
            elif key == "sort_dir":
                sort_dirs.append(value)
            elif key == "limit":
                q.limit = _int_param("limit", value)
                if q.limit < 0:
                    raise errors.BadRequest(
                        f"Limit must be an integer 0 or greater and not '{shown(value)}'"
                    )
            elif key == "marker":
                q.marker = value
            elif key == "page_reverse":
                q.page_reverse = value.lower() in ("true", "1")
            elif key == "verbose":
                continue
            elif key in TAG_FILTERS:
                q.filters.setdefault(key, []).extend(t for t in value.split(",") if t)
            else:
                q.filters.setdefault(key, []).append(value)
        for key in TAG_FILTERS:
            if key in q.filters:
                q.filters[key] = tags = list(dict.fromkeys(q.filters[key]))
                if len(tags) > MAX_TAGS_COUNT:
                    raise errors.BadRequest(
                        f"Too many tags in filter {key}: {len(tags)}, the limit is {MAX_TAGS_COUNT}"
                    )
        if max_filter_values is not None:
            check_filter_values(q.filters, max_filter_values)
        if sort_dirs and len(sort_dirs) != len(sort_keys):
            raise errors.BadRequest("The number of sort_keys and sort_dirs must be same")
        seen: set[str] = set()
        for i, key in enumerate(sort_keys):
            direction = sort_dirs[i] if i < len(sort_dirs) else "asc"
            if direction not in ("asc", "desc"):
                raise errors.BadRequest(
                    f"{shown(direction)} is invalid value for sort_dir, "
                    "valid value is 'asc' and 'desc'"
                )
            if key not in seen:
                seen.add(key)
                q.sorts.append((key, direction == "asc"))
        return q


def check_filter_values(filters: dict[str, list[str]], limit: int) -> None:
    """Refuse filters with more than `limit` values in all."""
    count = sum(map(len, filters.values()))
    if count > limit:
        raise errors.BadRequest(
            f"Too many filter values in one request: {count}, the limit is {limit} "
            "(max_filter_values)"
        )


def _int_param(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(
            f"Invalid value for {name}: '{shown(value)}' is not an integer"
        ) from None
