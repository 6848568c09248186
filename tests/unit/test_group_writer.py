"""SQLite's single writer survives callers that give up: a write cancelled while queued is
not run, and later writes still go through (a dead writer would hang the whole server)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from alcor.store import migrate
from alcor.store.db import Database, UnitOfWork


def test_cancelled_queued_write_is_dropped_and_writer_lives(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    release = threading.Event()
    ran: list[str] = []

    def blocker(uow: UnitOfWork) -> str:
        release.wait(10)
        ran.append("blocker")
        return "blocker"

    def work(uow: UnitOfWork, name: str) -> str:
        ran.append(name)
        return name

    async def main() -> None:
        first = asyncio.ensure_future(db.write(blocker))
        await asyncio.sleep(0.05)  # the writer is now inside `blocker`
        queued = [asyncio.ensure_future(db.write(work, f"job{i}")) for i in range(3)]
        await asyncio.sleep(0.05)
        queued[1].cancel()
        release.set()
        assert await first == "blocker"
        assert await queued[0] == "job0" and await queued[2] == "job2"
        assert await db.write(work, "after") == "after"

    asyncio.run(main())
    assert ran == ["blocker", "job0", "job2", "after"]
    db.close()


def test_a_failing_listener_does_not_kill_the_writer(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'l.db'}")
    migrate.upgrade(db.engine)

    def broken() -> None:
        raise RuntimeError("listener bug")

    db.on_commit(broken)

    def logged(uow: UnitOfWork) -> int:
        uow.log("port", "p1", "update", 1)
        return 1

    assert db.write_sync(logged) == 1
    assert db.write_sync(logged) == 1
    db.close()
