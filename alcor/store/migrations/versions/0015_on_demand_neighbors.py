"""Networks say how hosts learn their neighbours (`alcor:neighbor_resolution`: auto, preload
or on_demand; see `alcor.southbound.ondemand`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("networks") as batch:
        batch.add_column(sa.Column("alcor_neighbor_resolution", sa.String(length=9), nullable=True))
    op.execute("UPDATE networks SET alcor_neighbor_resolution = 'auto'")


def downgrade() -> None:
    with op.batch_alter_table("networks") as batch:
        batch.drop_column("alcor_neighbor_resolution")
