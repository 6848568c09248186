"""Published address-set members: what the compiler told each security group's subject.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:12:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "address_set_members",
        sa.Column("port_id", sa.String(length=36), nullable=False),
        sa.Column("security_group_id", sa.String(length=36), nullable=False),
        sa.Column("ips", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint(
            "port_id", "security_group_id", name=op.f("pk_address_set_members")
        ),
    )
    # Hosts fetch full address sets from the membership table itself; seeding every existing
    # membership with no addresses makes a port's next change publish its addresses, and a
    # leave its DELETE, instead of the compiler taking the leave for a port never published.
    op.execute(
        "INSERT INTO address_set_members (port_id, security_group_id, ips) "
        "SELECT port_id, security_group_id, '[]' FROM port_security_groups"
    )


def downgrade() -> None:
    op.drop_table("address_set_members")
