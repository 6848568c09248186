"""Request bodies: media type, size limits, JSON decoding, and where the work on them runs.

A body is read only up to its limit, so a client cannot make the server buffer more: the
`max_request_body_size` setting (oslo.middleware's, 114688 bytes by default, the limit
OpenStack services put on a request) for one object, `max_bulk_request_body_size` for a bulk
create. A larger body is refused with 413 before it is read when it declares its length, as
soon as it crosses the limit otherwise. A body that is not JSON, not UTF-8 or nested deeper
than the decoder goes is a 400; a write in another media type a 415, as webob names them.

Decoding and validating take about 0.1 µs a byte: a body up to `OFFLOAD_ABOVE` is handled on
the event loop (a port create pays no thread hop), a larger one, bounded by the limits above,
in a worker thread, so that a bulk request does not stall every other request meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from alcor import errors
from alcor.resources.kinds import shown

T = TypeVar("T")

OFFLOAD_ABOVE = 16 * 1024  # bytes; about a millisecond of decoding and validation

_decoder = msgspec.json.Decoder()


def http_error(code: int, type_name: str, message: str) -> errors.NeutronError:
    """A Neutron error body for an HTTP-level refusal (webob's exception names)."""
    err = errors.NeutronError(message)
    err.code = code
    err.type_name = type_name
    return err


def too_large(limit: int, setting: str) -> errors.NeutronError:
    return http_error(
        413,
        "HTTPRequestEntityTooLarge",
        f"Request is too large. Larger than {setting} ({limit}).",
    )


async def read(request: Request, limit: int, setting: str) -> bytes:
    """The raw body, refused (413) past `limit` bytes without reading further."""
    content_type = length = None
    for name, value in request.scope["headers"]:  # one pass, no Headers object built
        if name == b"content-type":
            content_type = value
        elif name == b"content-length":
            length = value
    # A request that does not say what it sends is taken as JSON.
    if content_type is not None and content_type != b"application/json":
        media = content_type.partition(b";")[0].strip().lower()
        if media != b"application/json":
            raise http_error(
                415,
                "HTTPUnsupportedMediaType",
                f"The request media type {shown(content_type.decode('latin-1'))} is not "
                "supported by this server.",
            )
    if length is not None:  # the HTTP parser delivers no more than the declared length
        if int(length) > limit:
            raise too_large(limit, setting)
        return await request.body()
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit, setting)
        chunks.append(chunk)
    return b"".join(chunks)


def decode(raw: bytes) -> Any:
    """A JSON document, or a 400 naming what is wrong with it."""
    if not raw:
        raise errors.BadRequest("Request body is empty")
    try:
        return _decoder.decode(raw)
    except UnicodeDecodeError:
        why = "the body is not UTF-8"
    except RecursionError:
        why = "the body is nested too deeply"
    except msgspec.DecodeError:
        why = "the body is not valid JSON"
    raise errors.MalformedRequestBody(reason=why)


async def off_loop(size: int, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)`, in a worker thread when it works on a body of more than OFFLOAD_ABOVE."""
    if size <= OFFLOAD_ABOVE:
        return fn(*args)
    return await asyncio.to_thread(fn, *args)
