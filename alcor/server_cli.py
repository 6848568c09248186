"""`alcor server` and `alcor db`: the API process and its schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alcor.config import LogLevelError, ServerSettings, SettingError, load

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (default /etc/alcor/alcor.toml)")
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql+psycopg://user:pw@host/db [env ALCOR_DATABASE_URL]",
    ),
]


def _settings(config: Path | None, **flags: object) -> ServerSettings:
    from urllib.parse import urlsplit

    for name in ("database_url", "nats_url"):
        url = flags.get(name)
        if isinstance(url, str) and urlsplit(url).password:
            typer.echo(
                f"alcor: warning: a password in --{name.replace('_', '-')} is visible to every "
                f"local user (ps); put the URL in ALCOR_{name.upper()} or a config file only "
                "you can read",
                err=True,
            )
    return load(ServerSettings, flags=flags, config_file=config, section="server")


def server(
    bind: Annotated[
        str | None,
        typer.Option(
            help="address:port to serve the Neutron API on [env ALCOR_BIND, default 127.0.0.1:9696]"
        ),
    ] = None,
    database_url: UrlOpt = None,
    nats_url: Annotated[
        str | None,
        typer.Option(
            help="NATS server URL; empty starts an embedded nats-server [env ALCOR_NATS_URL]"
        ),
    ] = None,
    state_dir: Annotated[
        str | None,
        typer.Option(help="where the embedded SQLite database and NATS live [env ALCOR_STATE_DIR]"),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(help="debug|info|warning|error[,logger=level...]: warning,alcor.api=info"),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the Neutron v2.0 API, compile goal states and deliver them to agents."""
    from alcor import server as server_mod
    from alcor.api.auth import UnsafeSettings
    from alcor.policy.checks import PolicySyntaxError
    from alcor.store.migrate import SchemaOutdated

    settings = _settings(
        config,
        bind=bind,
        database_url=database_url,
        nats_url=nats_url,
        state_dir=state_dir,
        log_level=log_level,
    )
    try:
        server_mod.run(settings)
    except (
        SchemaOutdated,
        UnsafeSettings,
        PolicySyntaxError,
        OSError,
        LogLevelError,
        SettingError,
    ) as exc:
        typer.echo(f"alcor server: {exc}", err=True)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade(
    database_url: UrlOpt = None, config: ConfigOpt = None, revision: str = "head"
) -> None:
    """Create or upgrade the schema to `revision` (default: the newest)."""
    import sqlalchemy as sa

    from alcor.server import make_private
    from alcor.store import migrate

    settings = _settings(config, database_url=database_url)
    make_private(settings)
    engine = sa.create_engine(settings.effective_database_url())
    before = migrate.current(engine)
    migrate.upgrade(engine, revision)
    typer.echo(f"schema: {before or 'empty'} -> {migrate.current(engine)}")


@db_app.command("current")
def db_current(database_url: UrlOpt = None, config: ConfigOpt = None) -> None:
    """Show the schema revision of the database and the one the code needs."""
    import sqlalchemy as sa

    from alcor.store import migrate

    settings = _settings(config, database_url=database_url)
    engine = sa.create_engine(settings.effective_database_url())
    typer.echo(f"database: {migrate.current(engine) or 'empty'}  code: {migrate.head()}")
