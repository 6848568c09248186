"""Alembic environment: migrations run on a connection handed over by `alcor.store.migrate`."""

from alembic import context

from alcor.store.models import all_metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `alcor db upgrade`, not the alembic CLI")
context.configure(
    connection=connection,
    target_metadata=all_metadata(),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
