"""Neutron's exception vocabulary: each error a client can see, with its HTTP code.

Names and messages follow neutron-lib (`neutron_lib.exceptions`) because clients match on
the `type` field of `{"NeutronError": {"type", "message", "detail"}}`: openstacksdk maps the
code, Nova and Heat match the type name. Any layer raises these; only the API renders them.
"""

from __future__ import annotations

from typing import Any


class NeutronError(Exception):
    """Base: rendered as a Neutron error body with `code`."""

    code = 500
    type_name: str | None = None

    def __init__(self, message: str, detail: str = "", **info: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.info = info

    @property
    def type(self) -> str:
        return self.type_name or type(self).__name__

    def body(self) -> dict[str, Any]:
        return {"NeutronError": {"type": self.type, "message": self.message, "detail": self.detail}}


class BadRequest(NeutronError):
    code = 400
    type_name = "HTTPBadRequest"


class InvalidInput(BadRequest):
    type_name = "InvalidInput"

    def __init__(self, message: str, value: Any = None) -> None:
        super().__init__(message)


class NotAuthorized(NeutronError):
    code = 403
    type_name = "HTTPForbidden"


class NotFound(NeutronError):
    code = 404
    type_name = "HTTPNotFound"


class Conflict(NeutronError):
    code = 409
    type_name = "HTTPConflict"


class PreconditionFailed(NeutronError):
    code = 412
    type_name = "PreconditionFailed"


class NotImplementedByServer(NeutronError):
    code = 501
    type_name = "HTTPNotImplemented"


class ServiceUnavailable(NeutronError):
    code = 503
    type_name = "ServiceUnavailable"


def not_found(resource: str, rid: str) -> NotFound:
    """`<Resource>NotFound` as neutron-lib names it (NetworkNotFound, PortNotFound...)."""
    camel = "".join(p.capitalize() for p in resource.split("_"))
    err = NotFound(f"{camel_words(resource)} {rid} could not be found.")
    err.type_name = f"{camel}NotFound"
    return err


def camel_words(resource: str) -> str:
    """'security_group' -> 'Security group' (Neutron's wording in messages)."""
    words = resource.replace("_", " ")
    return words[:1].upper() + words[1:]


def typed(cls: type[NeutronError], type_name: str, message: str, detail: str = "") -> NeutronError:
    """An error of HTTP class `cls` carrying a specific Neutron type name."""
    err = cls(message, detail)
    err.type_name = type_name
    return err
