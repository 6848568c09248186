"""Default security group rule templates as Neutron has them: a rule is unique within each
template (default groups', other groups') rather than across both, so the same rule may be
one template for default groups and another for the rest; and the four seeded templates
carry Neutron's descriptions ('Legacy default SG rule for ... traffic'), which clients
compare.

The unique index is on (fingerprint, used_in_default_sg, used_in_non_default_sg): it still
stops two concurrent creates of the very same template; a rule meant for both kinds of
group against one meant for either is the application's check.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "default_security_group_rules"
_SEEDED = {  # the seeded templates' fingerprints (migration 0013) and Neutron's descriptions
    "egress|IPv4|+|+|+|+|+": "Legacy default SG rule for egress traffic",
    "egress|IPv6|+|+|+|+|+": "Legacy default SG rule for egress traffic",
    "ingress|IPv4|+|+|+|PARENT|+": "Legacy default SG rule for ingress traffic",
    "ingress|IPv6|+|+|+|PARENT|+": "Legacy default SG rule for ingress traffic",
}


def upgrade() -> None:
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_default_security_group_rules_fingerprint"))
        batch_op.create_unique_constraint(
            "uq_default_sg_rules_template",
            ["fingerprint", "used_in_default_sg", "used_in_non_default_sg"],
        )
    table = sa.table(_TABLE, sa.column("fingerprint"), sa.column("description"))
    for fingerprint, text in _SEEDED.items():
        op.execute(
            table.update()
            .where(table.c.fingerprint == fingerprint, table.c.description == "")
            .values(description=text)
        )


def downgrade() -> None:
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.drop_constraint("uq_default_sg_rules_template")
        batch_op.create_unique_constraint(
            batch_op.f("uq_default_security_group_rules_fingerprint"), ["fingerprint"]
        )
