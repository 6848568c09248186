"""A time-bounded lease in the database, so that one compiler publishes at a time.

Why a lease row and not `pg_try_advisory_lock`: the same code must serve SQLite (several
server processes on one file in tests and small setups) and PostgreSQL, and an advisory lock
dies silently with its connection while the holder keeps publishing. The lease lives in two
`subject_seqs` rows (no schema of our own): `lease:<name>` holds the expiry in milliseconds and
`lease:<name>:owner` a random 62-bit owner id. It is taken and renewed in a write transaction
that locks the rows (`FOR UPDATE` on PostgreSQL; SQLite's `BEGIN IMMEDIATE` serialises), and
the compiler re-checks ownership in the same transaction that advances its cursor (fencing):
a holder that stalled past its expiry may publish one batch twice, which agents absorb
(UPSERT/DELETE by id with revision guards), but it can never move the cursor after losing.
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa

from alcor.store.db import UnitOfWork
from alcor.store.schema import subject_seqs


class Lease:
    """Ownership of `name` for `ttl` seconds, renewed by calling `acquire` again."""

    def __init__(self, name: str, ttl: float) -> None:
        self.name = name
        self.ttl = ttl
        self.owner = secrets.randbits(62) or 1
        self.expires_at = 0.0  # local view: valid while time.time() < expires_at - margin

    @property
    def _expiry_key(self) -> str:
        return f"lease:{self.name}"

    @property
    def _owner_key(self) -> str:
        return f"lease:{self.name}:owner"

    def held(self) -> bool:
        """True while our last renewal is comfortably within its ttl."""
        return time.time() < self.expires_at - self.ttl / 3

    def _read(self, uow: UnitOfWork) -> dict[str, int]:
        stmt = (
            sa.select(subject_seqs.c.subject, subject_seqs.c.seq)
            .where(subject_seqs.c.subject.in_([self._expiry_key, self._owner_key]))
            .with_for_update()
        )
        return {r.subject: r.seq for r in uow.execute(stmt)}

    def acquire(self, uow: UnitOfWork) -> bool:
        """Take or renew the lease inside `uow`; False if someone else holds it."""
        now = time.time()
        rows = self._read(uow)
        if not rows:
            try:
                with uow.savepoint():
                    uow.execute(
                        subject_seqs.insert(),
                        [
                            {"subject": self._expiry_key, "seq": 0},
                            {"subject": self._owner_key, "seq": 0},
                        ],
                    )
            except sa.exc.IntegrityError:
                return False  # another server created them first; try again next round
            rows = {self._expiry_key: 0, self._owner_key: 0}
        owner = rows.get(self._owner_key, 0)
        if owner != self.owner and rows.get(self._expiry_key, 0) > now * 1000:
            self.expires_at = 0.0
            return False
        expires = now + self.ttl
        for key, value in ((self._expiry_key, int(expires * 1000)), (self._owner_key, self.owner)):
            uow.execute(
                subject_seqs.update().where(subject_seqs.c.subject == key).values(seq=value)
            )
        self.expires_at = expires
        return True

    def still_mine(self, uow: UnitOfWork) -> bool:
        """Fencing check inside a writing transaction (locks the lease rows)."""
        rows = self._read(uow)
        return (
            rows.get(self._owner_key) == self.owner
            and rows.get(self._expiry_key, 0) > time.time() * 1000
        )

    def release(self, uow: UnitOfWork) -> None:
        """Give the lease up at once (clean shutdown), so a peer takes over without waiting."""
        if self.still_mine(uow):
            uow.execute(
                subject_seqs.update()
                .where(subject_seqs.c.subject == self._expiry_key)
                .values(seq=0)
            )
        self.expires_at = 0.0
