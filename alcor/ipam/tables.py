"""The allocator tables (defined on the shared `alcor.store.schema.metadata`).

Values are integers up to 128 bits (IPv6), which no portable SQL integer type holds, so a
value is stored as its *key*: exactly 32 lower-case hex digits (`pools.key`). Fixed width makes
text order equal numeric order, so range scans (`vkey >= :k ORDER BY vkey`) work on both
SQLite and PostgreSQL. On PostgreSQL the key columns use the "C" collation, so ordering is
bytewise whatever the database's default locale is.

- `ipam_pools`    one row per pool: its ranges and bucket count.
- `ipam_buckets`  `nbuckets` rows per pool: the per-residue allocation state, the unit locked
                  by an allocation.
- `ipam_used`     one row per allocated value (the only table other code may query).
- `ipam_free`     released values below their bucket's high-water mark, waiting for reuse.

No foreign keys between them on purpose: on PostgreSQL every insert into a referencing table
takes a KEY SHARE lock on the referenced row, which would make the one pool row a point of
contention for every allocation. `pools.delete_pool` removes all rows of a pool explicitly.
"""

from __future__ import annotations

import sqlalchemy as sa

from alcor.store.schema import metadata

# A value key: 32 hex digits, bytewise-ordered on PostgreSQL whatever the database locale.
ValueKey = sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")

ipam_pools = sa.Table(
    "ipam_pools",
    metadata,
    sa.Column("pool_id", sa.String(255), primary_key=True),
    # Normalised inclusive ranges as "lo:hi,lo:hi" with 32-hex-digit bounds ("" = no range).
    sa.Column("ranges", sa.Text, nullable=False),
    sa.Column("nbuckets", sa.Integer, nullable=False),  # fixed at creation: bucket = value % n
    # Bumped by every range change, and copied into every bucket row in the same transaction:
    # an allocator that read the pool before locking its bucket re-reads it on a mismatch.
    sa.Column("gen", sa.Integer, nullable=False, server_default="0"),
)

ipam_buckets = sa.Table(
    "ipam_buckets",
    metadata,
    sa.Column("pool_id", sa.String(255), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),  # the residue: value % nbuckets
    # The high-water mark: the smallest never-handed-out value of this residue inside the
    # ranges that is free, or NULL when there is none left. Values below it are allocated,
    # in `ipam_free`, or outside the ranges.
    sa.Column("hwm", ValueKey),
    # How many `ipam_used` rows of this bucket have vkey >= hwm (explicit allocations ahead
    # of the mark). While 0, advancing the mark needs no query.
    sa.Column("ahead", sa.Integer, nullable=False, server_default="0"),
    sa.Column("nfree", sa.Integer, nullable=False, server_default="0"),  # rows in ipam_free
    sa.Column("used", sa.Integer, nullable=False, server_default="0"),  # rows in ipam_used
    # full == (hwm IS NULL AND nfree = 0): nothing left to hand out in this bucket.
    sa.Column("full", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("gen", sa.Integer, nullable=False, server_default="0"),
)

ipam_used = sa.Table(
    "ipam_used",
    metadata,
    sa.Column("pool_id", sa.String(255), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("vkey", ValueKey, primary_key=True),  # the value, 32 hex digits
    sa.Column("owner", sa.String(255), nullable=False),  # e.g. the port or network id
    sa.Column("display", sa.String(64), nullable=False),  # human form: "10.0.0.5", "1001"
    sa.Index("ix_ipam_used_owner", "owner"),
    sa.Index("ix_ipam_used_display", "display"),
)

ipam_free = sa.Table(
    "ipam_free",
    metadata,
    sa.Column("pool_id", sa.String(255), primary_key=True),
    sa.Column("bucket", sa.Integer, primary_key=True),
    sa.Column("vkey", ValueKey, primary_key=True),
)
