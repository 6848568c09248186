"""Alembic environment: migrations run on a connection handed over by `alcor.store.migrate`.

Migrations are written by hand, so no target metadata is needed here (the comparison of
migrations with declarations is `tests/unit/test_migrations.py`, from `alcor.schema_head`).
"""

from alembic import context

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `alcor db upgrade`, not the alembic CLI")
context.configure(
    connection=connection,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
