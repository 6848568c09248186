"""Value kinds of resource attributes: how a value is validated, stored and filtered.

A kind knows three things about one attribute type: how to check and normalise a value that a
client sent in a JSON body, how to parse the same value from a query-string filter, and which
SQL column type stores it. Attribute declarations pick a kind; nothing else in the code base
needs to know what a MAC address or a CIDR looks like.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from alcor import errors


class Kind:
    """Base kind: any JSON value, stored as JSON."""

    type_name = "value"
    json_schema: dict[str, Any] = {}
    # How the API shows a stored value, where that differs from the value itself (None: as
    # is). Applied once per rendered item, so kinds without it cost nothing.
    shown_as: Callable[[Any], Any] | None = None

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        return sa.JSON()

    def check(self, name: str, value: Any) -> Any:
        """Validate a body value and return its canonical form (raise InvalidInput)."""
        return value

    def parse(self, name: str, text: str) -> Any:
        """Parse one query-string filter value."""
        return self.check(name, text)

    def filterable(self) -> bool:
        return True


# An error message shows at most this much of the value it refuses: a client that sent
# megabytes gets its mistake named, not echoed back whole.
SHOWN_CHARS = 256
_shortened = reprlib.Repr()
_shortened.maxlevel = 4  # deeper structures show as [...]: rendering never recurses far
_shortened.maxstring = _shortened.maxother = SHOWN_CHARS
_shortened.maxlist = _shortened.maxtuple = _shortened.maxdict = _shortened.maxset = 32


def shown(value: Any) -> str:
    """`value` as an error message shows it: as `str()` would, cut to SHOWN_CHARS with '...'."""
    text = value if isinstance(value, str) else _shortened.repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def _bad(name: str, value: Any, why: str) -> errors.InvalidInput:
    return errors.InvalidInput(f"Invalid input for {name}. Reason: {why}", value=value)


class Str(Kind):
    type_name = "string"

    def __init__(self, max_len: int = 255, pattern: str | None = None) -> None:
        self.max_len = max_len
        self.pattern = re.compile(pattern) if pattern else None
        self.json_schema = {"type": "string", "maxLength": max_len}

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        return sa.String(self.max_len)

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise _bad(name, value, f"'{shown(value)}' is not a valid string.")
        if len(value) > self.max_len:
            raise _bad(name, value, f"'{shown(value)}' exceeds maximum length of {self.max_len}.")
        if self.pattern and not self.pattern.fullmatch(value):
            raise _bad(name, value, f"'{shown(value)}' is not a valid {name}.")
        return value


class Uuid(Str):
    type_name = "uuid"

    def __init__(self) -> None:
        super().__init__(36)
        self.json_schema = {"type": "string", "format": "uuid"}

    _CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise _bad(name, value, f"'{shown(value)}' is not a valid UUID.")
        if self._CANONICAL.fullmatch(value):
            return value  # already what str(uuid.UUID(value)) would give, at a third the cost
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise _bad(name, value, f"'{shown(value)}' is not a valid UUID.") from None


class Bool(Kind):
    type_name = "boolean"
    json_schema = {"type": "boolean"}
    _TEXT = {"true": True, "1": True, "false": False, "0": False}

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        return sa.Boolean()

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in self._TEXT:
            return self._TEXT[value.lower()]
        raise _bad(name, value, f"'{shown(value)}' cannot be converted to boolean")


# What the BigInteger column holds: an unbounded Int still refuses what it cannot store.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class Int(Kind):
    """An integer; `as_text`: one Neutron shows as a string (a subnet pool's prefix lengths,
    which its `_make_subnetpool_dict` str()s: clients compare them as strings)."""

    type_name = "integer"

    def __init__(self, lo: int | None = None, hi: int | None = None, as_text: bool = False) -> None:
        if as_text:
            self.shown_as = _text
        self.lo = INT64_MIN if lo is None else lo
        self.hi = INT64_MAX if hi is None else hi
        self.json_schema = {"type": "integer"}
        if lo is not None:
            self.json_schema["minimum"] = lo
        if hi is not None:
            self.json_schema["maximum"] = hi

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        return sa.BigInteger()

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, bool):
            raise _bad(name, value, f"'{shown(value)}' is not an integer")
        if isinstance(value, str):
            try:
                value = int(value)
            except ValueError:
                raise _bad(name, value, f"'{shown(value)}' is not an integer") from None
        if not isinstance(value, int):
            raise _bad(name, value, f"'{shown(value)}' is not an integer")
        if value < self.lo:
            raise _bad(name, value, f"'{shown(value)}' is too small - must be at least '{self.lo}'")
        if value > self.hi:
            raise _bad(
                name, value, f"'{shown(value)}' is too large - must be no larger than '{self.hi}'"
            )
        return value


class IntChoice(Int):
    """An integer from a fixed set (ip_version: 4 or 6)."""

    def __init__(self, *values: int) -> None:
        super().__init__(min(values), max(values))
        self.values = values
        self.json_schema = {"type": "integer", "enum": list(values)}

    def check(self, name: str, value: Any) -> Any:
        out = super().check(name, value)
        if out not in self.values:
            raise _bad(name, value, f"'{shown(value)}' is not in {list(self.values)}")
        return out


class Enum(Str):
    type_name = "enum"

    def __init__(self, *values: str, ignore_case: bool = False) -> None:
        super().__init__(max(len(v) for v in values))
        self.values = values
        self.ignore_case = ignore_case
        self.json_schema = {"type": "string", "enum": list(values)}

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, str):
            for v in self.values:
                if value == v or (self.ignore_case and value.lower() == v.lower()):
                    return v
        raise _bad(name, value, f"'{shown(value)}' is not in {list(self.values)}")


class MacAddress(Str):
    type_name = "mac_address"
    _RE = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")

    def __init__(self) -> None:
        super().__init__(17)
        self.json_schema = {"type": "string", "pattern": self._RE.pattern}

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str) or not self._RE.match(value):
            raise _bad(name, value, f"'{shown(value)}' is not a valid MAC address")
        mac = value.lower().replace("-", ":")
        first = int(mac[:2], 16)
        if mac == "00:00:00:00:00:00" or first & 1:
            raise _bad(name, value, f"'{shown(value)}' is not a valid MAC address")
        return mac


class IpAddress(Str):
    type_name = "ip_address"

    def __init__(self) -> None:
        super().__init__(64)
        self.json_schema = {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]}

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str):
            raise _bad(name, value, f"'{shown(value)}' is not a valid IP address")
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            raise _bad(name, value, f"'{shown(value)}' is not a valid IP address") from None
        if addr.version == 4 and str(addr) != value:
            # Neutron refuses non-canonical IPv4 such as leading zeros ('010.0.0.1').
            raise _bad(
                name,
                value,
                f"'{shown(value)}' is not an accepted IP address, '{addr}' is recommended",
            )
        return str(addr)


class Cidr(Str):
    """An IP network. By default a route's destination, which Neutron refuses with host bits
    set. `host_bits=True` is a subnet's `cidr` (neutron-lib's `type:subnet`): Neutron accepts
    '10.0.0.77/24' and stores its network '10.0.0.0/24'; an IPv4 value must still be written
    canonically (no netmask form, no leading zeros), an IPv6 one is canonicalised."""

    type_name = "cidr"

    def __init__(self, host_bits: bool = False) -> None:
        super().__init__(64)
        self.host_bits = host_bits
        self.json_schema = {"type": "string"}

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str) or "/" not in value:
            raise self._invalid(name, value)
        try:
            iface = ipaddress.ip_interface(value)
        except ValueError:
            raise self._invalid(name, value) from None
        net = iface.network
        if self.host_bits:
            if iface.version == 4 and str(iface) != value:
                raise self._invalid(name, value)
        elif iface.ip != net.network_address:
            raise _bad(
                name, value, f"'{shown(value)}' isn't a recommended CIDR, '{net}' is recommended"
            )
        return str(net)

    @staticmethod
    def _invalid(name: str, value: Any) -> errors.InvalidInput:
        return _bad(name, value, f"'{shown(value)}' is not a valid IP subnet")


class Json(Kind):
    """A structured value (list or dict) stored as JSON, checked by a function."""

    type_name = "json"

    def __init__(
        self,
        checker: Callable[[str, Any], Any] | None = None,
        schema: dict[str, Any] | None = None,
        filter_parser: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.checker = checker
        self.json_schema = schema or {}
        self.filter_parser = filter_parser

    def check(self, name: str, value: Any) -> Any:
        return self.checker(name, value) if self.checker else value

    def parse(self, name: str, text: str) -> Any:
        if self.filter_parser is None:
            raise errors.BadRequest(f"{name} cannot be used as a filter")
        return self.filter_parser(name, text)

    def filterable(self) -> bool:
        return self.filter_parser is not None


class Timestamp(Kind):
    """Server-set time, stored as unix seconds, shown as Neutron shows it: ISO-8601 with 'Z'
    for standard attributes, '2026-11-23 20:18:25' for agents."""

    type_name = "timestamp"
    json_schema = {"type": "string", "format": "date-time"}

    def __init__(self, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> None:
        self.fmt = fmt
        self._shown: dict[int, str] = {}  # second -> text: rows of a list share seconds
        self.shown_as = self.render

    def sql_type(self) -> sa.types.TypeEngine[Any]:
        return sa.Float()

    def render(self, value: float | None) -> str | None:
        if value is None:
            return None
        second = int(value)
        text = self._shown.get(second)
        if text is None:
            if len(self._shown) > 4096:
                self._shown.clear()
            text = self._shown[second] = time.strftime(self.fmt, time.gmtime(second))
        return text


def list_of(item: Kind, unique: bool = True) -> Json:
    """A JSON list whose items are each checked by `item`."""

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise _bad(name, value, f"'{shown(value)}' is not a list")
        out = [item.check(name, v) for v in value]
        if unique and len(set(map(str, out))) != len(out):
            raise _bad(name, value, f"Duplicate items in the list: '{shown(value)}'")
        return out

    return Json(check, {"type": "array", "items": item.json_schema or {}})


def dict_list(
    fields: dict[str, Kind], required: Sequence[str] = (), extra_ok: bool = False
) -> Json:
    """A JSON list of objects with the given fields (each checked by its kind)."""

    def check_one(name: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _bad(name, value, f"'{shown(value)}' is not a dictionary")
        unknown = set(value) - set(fields)
        if unknown and not extra_ok:
            raise _bad(
                name, value, f"Unrecognized attribute(s) '{shown(', '.join(sorted(unknown)))}'"
            )
        for key in required:
            if key not in value:
                raise _bad(
                    name,
                    value,
                    f"Validation of dictionary's keys failed. "
                    f"Expected keys: {set(required)} Provided keys: {shown(set(value))}",
                )
        return {
            k: (fields[k].check(f"{name}.{k}", v) if v is not None else None)
            for k, v in value.items()
            if k in fields
        }

    def check(name: str, value: Any) -> Any:
        if not isinstance(value, list):
            raise _bad(name, value, f"'{shown(value)}' is not a list")
        return [check_one(name, v) for v in value]

    props = {k: (v.json_schema or {}) for k, v in fields.items()}
    return Json(check, {"type": "array", "items": {"type": "object", "properties": props}})


def json_object(name: str, value: Any) -> Any:
    """Check a free-form JSON object (e.g. binding:profile)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(name, value, f"'{shown(value)}' is not a dictionary")
    return value
