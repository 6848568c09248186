"""API tests run against a real `alcor server` process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from alcor.lab.server_process import AlcorServer
from tests.support.clients import sdk_connection


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest) -> Iterator[AlcorServer]:
    url = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg_server")
        pg._db_counter += 1
        url = pg.create_database(f"api_{pg._db_counter}")
    with AlcorServer(database_url=url) as srv:
        yield srv


@pytest.fixture(scope="module")
def conn(server: AlcorServer) -> Any:
    return sdk_connection(server.url)


@pytest.fixture(scope="module")
def http(server: AlcorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def member_headers(project: str) -> dict[str, str]:
    return {"X-Project-Id": project, "X-Roles": "member"}


def neutron_error(resp: httpx.Response, code: int, type_name: str | None = None) -> dict:
    """Assert `resp` is a Neutron error of `code` (and type) and return its body."""
    assert resp.status_code == code, resp.text
    body = resp.json()["NeutronError"]
    assert set(body) == {"type", "message", "detail"}
    if type_name is not None:
        assert body["type"] == type_name, body
    return body


@pytest.fixture(scope="session")
def keystone() -> Iterator[Any]:
    """A real Keystone for the whole session (tests/support/keystone.py)."""
    from tests.support.keystone import Keystone, available, venv

    if not available():
        pytest.fail(f"no Keystone in {venv()}: run scripts/setup.sh (it makes .venv-keystone)")
    ks = Keystone().start()
    yield ks
    ks.stop()
