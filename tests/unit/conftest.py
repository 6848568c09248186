"""Fixtures shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alcor.store.db import Database
from tests.scale import southbound_rows as rows


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite database with the whole schema (southbound tests write rows directly)."""
    database = Database(f"sqlite:///{tmp_path / 'unit.db'}")
    rows.create_schema(database)
    yield database
    database.close()
