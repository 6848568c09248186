"""A parsed list request: filters, fields, sorting and pagination, free of HTTP.

The API layer turns a query string into a `ListQuery`; the generic list operation turns it
into SQL. Neutron's rules: repeating a filter key ORs its values, different keys AND; sort
keys and directions come in pairs; `limit` + `marker` page forward, `page_reverse` backward.
"""

from __future__ import annotations

import dataclasses

from alcor import errors

# Query parameters that are not filters.
CONTROL_PARAMS = frozenset(
    {"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "verbose"}
)


@dataclasses.dataclass
class ListQuery:
    filters: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    fields: list[str] = dataclasses.field(default_factory=list)
    sorts: list[tuple[str, bool]] = dataclasses.field(default_factory=list)  # (key, ascending)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False

    @classmethod
    def from_params(cls, params: list[tuple[str, str]]) -> ListQuery:
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
                        f"Limit must be an integer 0 or greater and not '{value}'"
                    )
            elif key == "marker":
                q.marker = value
            elif key == "page_reverse":
                q.page_reverse = value.lower() in ("true", "1")
            elif key == "verbose":
                continue
            else:
                q.filters.setdefault(key, []).append(value)
        if sort_dirs and len(sort_dirs) != len(sort_keys):
            raise errors.BadRequest("The number of sort_keys and sort_dirs must be same")
        for i, key in enumerate(sort_keys):
            direction = sort_dirs[i] if i < len(sort_dirs) else "asc"
            if direction not in ("asc", "desc"):
                raise errors.BadRequest(
                    f"{direction} is invalid value for sort_dir, valid value is 'asc' and 'desc'"
                )
            q.sorts.append((key, direction == "asc"))
        return q


def _int_param(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.BadRequest(f"Invalid value for {name}: '{value}' is not an integer") from None
