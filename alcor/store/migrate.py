"""Schema migrations (Alembic), driven from Python so `alcor` needs no alembic.ini.

The server refuses to start on a database whose schema is older than the code (it would
otherwise fail on the first request touching a new column); the message says what to run.
An embedded SQLite database is created/upgraded automatically, since nobody else shares it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutdated(RuntimeError):
    """The database schema is not at the code's head revision."""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head() -> str:
    head_rev = ScriptDirectory.from_config(_config()).get_current_head()
    assert head_rev is not None
    return head_rev


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def check(engine: sa.Engine) -> None:
    """Raise SchemaOutdated unless the database is at head.

    The message ends up in logs: the URL in it has its password masked."""
    have, want = current(engine), head()
    if have != want:
        state = "empty" if have is None else f"at revision {have}"
        masked = " (with the password for ***)" if engine.url.password else ""
        raise SchemaOutdated(
            f"The database is {state}, the code needs revision {want}. Run: alcor db upgrade "
            f"--database-url '{engine.url.render_as_string(hide_password=True)}'{masked}"
        )
