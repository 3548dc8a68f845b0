"""Every write transaction of a process runs on one SQLite connection (its page cache then
stays valid from one write to the next), lent to the writing thread for the transaction
only: the thread's own pooled connection comes back afterwards, a failed write leaves
nothing behind, and the lent connection has the same pragmas as the pool's. These tests
also pin the peewee internals the lending relies on (``_state``, ``SqliteDatabase._connect``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from central.store import db as store_db
from central.store import models
from central.store.db import close_all, database_proxy, write_transaction
from central.store.schema import init_database


@pytest.fixture
def database(tmp_path: Path) -> Iterator[peewee.Database]:
    db = init_database(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        yield db
    finally:
        close_all()


def _point(code: str) -> dict[str, object]:
    return {"code": code, "name": f"Point {code}", "slot_minutes": 15, "slot_capacity": 40}


def test_writes_from_every_thread_share_one_connection_and_threads_keep_their_own(
    database: peewee.Database,
) -> None:
    inside: list[int] = []
    outside: list[tuple[int, int]] = []  # (before, after) the write, per thread
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            models.ControlPoint.select().count()  # opens this thread's pooled connection
            before = id(database.connection())
            with write_transaction():
                inside.append(id(database.connection()))
                models.ControlPoint.create(**_point(f"W{n:02d}"))
            outside.append((before, id(database.connection())))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            store_db.release_connection()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(inside) == 6 and len(set(inside)) == 1, "every write on one connection"
    assert all(before == after for before, after in outside), "each thread got its own back"
    assert inside[0] not in {before for before, _ in outside}, "not one of the pool's"
    assert models.ControlPoint.select().where(models.ControlPoint.code.startswith("W")).count() == 6


def test_a_failed_write_leaves_nothing_and_the_next_write_works(database: peewee.Database) -> None:
    with pytest.raises(RuntimeError), write_transaction():
        models.ControlPoint.create(**_point("GONE"))
        raise RuntimeError("abort the write")
    with pytest.raises(peewee.IntegrityError), write_transaction():
        models.ControlPoint.create(**_point("DUP1"))
        models.ControlPoint.create(**_point("DUP1"))
    with write_transaction():
        models.ControlPoint.create(**_point("KEPT"))
    codes = {c.code for c in models.ControlPoint.select()}
    assert "KEPT" in codes and "GONE" not in codes and "DUP1" not in codes
    assert not database.in_transaction()


def test_the_writer_connection_has_the_pools_pragmas_and_is_closed_with_the_rest(
    database: peewee.Database,
) -> None:
    with write_transaction():
        conn = database.connection()
        assert database.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
        assert database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert database.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert database_proxy.obj is database
    close_all()
    with pytest.raises(Exception, match="closed"):
        conn.execute("SELECT 1")
