"""Opening the central database from a URL, and the transaction discipline.

``sqlite:///path/to/file.db`` (or a bare path) opens SQLite in WAL mode with foreign
keys on and a busy timeout; ``postgresql://user@host:port/db`` opens PostgreSQL. Every
model binds to ``database_proxy`` so one process can point the whole schema at either.

Writers use ``write_transaction()``: on SQLite it begins IMMEDIATE, taking the write
lock up front, because a deferred transaction that reads and then writes can fail with
"database is locked" when two writers upgrade at once; on PostgreSQL it is a plain
transaction (row locks and the change log's own lock do the rest).
"""

from __future__ import annotations

import contextlib
import functools
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

database_proxy = peewee.DatabaseProxy()
_SQLITE_WRITER = threading.Lock()


class DatabaseUrlError(ValueError):
    """The database URL is not one this service can open."""


def open_database(url: str) -> peewee.Database:
    """Open (without connecting) the database named by ``url``."""
    if url == ":memory:" or url == "sqlite://:memory:":
        return _sqlite(":memory:")
    if "://" not in url:
        return _sqlite(url)
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db -> "relative.db"; sqlite:////abs/path.db -> "/abs/path.db"
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if not path:
            raise DatabaseUrlError(f"database: sqlite URL {url!r} has no file path")
        return _sqlite(path)
    if parsed.scheme in ("postgresql", "postgres"):
        options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        pool_size = int(options.pop("pool_size", "32"))  # ?pool_size=N: connections per process
        kwargs: dict[str, Any] = {
            "user": unquote(parsed.username) if parsed.username else None,
            "password": unquote(parsed.password) if parsed.password else None,
            "host": options.pop("host", None) or parsed.hostname,
            "port": parsed.port,
            "connect_timeout": int(options.pop("connect_timeout", "10")),
            **options,
        }
        name = unquote(parsed.path.lstrip("/")) or "postgres"
        return PooledPostgresqlDatabase(
            name,
            max_connections=pool_size,
            stale_timeout=300,
            timeout=10,
            **{k: v for k, v in kwargs.items() if v is not None},
        )
    raise DatabaseUrlError(
        f"database: unsupported URL scheme {parsed.scheme!r} (use sqlite:// or postgresql://)"
    )


def _sqlite(path: str) -> peewee.SqliteDatabase:
    if path == ":memory:":
        # One shared connection would be needed for a pool to see one database; an
        # in-memory database is for quick experiments only.
        return peewee.SqliteDatabase(path, pragmas={"foreign_keys": 1}, check_same_thread=False)
    Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    # Pooled: the server hands each call's connection back when the call ends
    # (central.api.auth), so worker threads never pile up open connections.
    return PooledSqliteDatabase(
        path,
        max_connections=64,
        stale_timeout=300,
        timeout=10,  # seconds to wait for a free pooled connection (busy_timeout is SQLite's)
        pragmas={
            "journal_mode": "wal",
            "foreign_keys": 1,
            "synchronous": "normal",  # WAL + normal: durable across process crashes
            "busy_timeout": 10_000,
            "cache_size": -16_000,
        },
        check_same_thread=False,
    )


def release_connection() -> None:
    """Return this thread's connection to the pool (no-op outside a transaction-free,
    connected state). Called after every RPC."""
    db = database_proxy.obj
    if db is not None and not db.is_closed() and not db.in_transaction():
        db.close()


def close_all() -> None:
    """Close this thread's connection and every idle pooled one. Connections another
    live thread holds are left to that thread: closing a connection under a running
    query crashes the sqlite3 module (background threads close their own on stop)."""
    db = database_proxy.obj
    if db is None:
        return
    if not db.is_closed() and not db.in_transaction():
        db.close()
    if hasattr(db, "close_idle"):
        db.close_idle()


def is_sqlite(db: peewee.Database | None = None) -> bool:
    target = db if db is not None else database_proxy.obj
    return isinstance(target, peewee.SqliteDatabase)


def is_postgres(db: peewee.Database | None = None) -> bool:
    target = db if db is not None else database_proxy.obj
    return isinstance(target, peewee.PostgresqlDatabase)


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """A transaction that will write. Nested calls become savepoints."""
    db = database_proxy.obj
    if db is None:
        raise RuntimeError("database not initialised: call central.store.schema.init_database first")
    if is_sqlite(db) and not db.in_transaction():
        # SQLite has one writer at a time. Queue this process's writers on a Python
        # lock first: a waiter wakes the moment the lock is free, where SQLite's busy
        # handler sleeps in steps of up to 100 ms (the tail latency killer). Other
        # processes on the same file still meet the busy timeout.
        with _SQLITE_WRITER, db.atomic("IMMEDIATE"):
            yield
    else:
        with db.atomic():
            yield


# PostgreSQL SQLSTATEs after which running the whole transaction again is correct:
# deadlock_detected and serialization_failure. PostgreSQL has already rolled back.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
_P = ParamSpec("_P")
_R = TypeVar("_R")


def is_retryable(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure, however peewee wrapped the driver's
    error (peewee 4 raises its own class with the psycopg2 error as the context)."""
    candidates = [exc, exc.__cause__, exc.__context__, *(a for a in exc.args if isinstance(a, BaseException))]
    return any(getattr(c, "pgcode", None) in RETRYABLE_SQLSTATES for c in candidates if c is not None)


def retrying(
    attempts: int = 6, first_delay_s: float = 0.01
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Run a whole write again when PostgreSQL aborted it for a deadlock or a
    serialization failure (both mean "nothing happened, try again"). The delay doubles
    from ``first_delay_s`` to a cap, with jitter so that two writers that deadlocked
    once do not retry in lock-step into the same deadlock; after ``attempts`` the error
    goes to the caller."""

    def decorate(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            delay = first_delay_s
            for attempt in range(1, attempts + 1):
                try:
                    return fn(*args, **kwargs)
                except (peewee.OperationalError, peewee.InternalError) as exc:
                    if attempt == attempts or not is_retryable(exc):
                        raise
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 0.5)
            raise AssertionError("unreachable")

        return wrapper

    return decorate


def to_db(when: datetime) -> datetime:
    """Aware datetime -> naive UTC for storage."""
    if when.tzinfo is None:
        raise ValueError("to_db: datetime must be timezone-aware")
    return when.astimezone(UTC).replace(tzinfo=None)


def from_db(when: datetime | None) -> datetime | None:
    """Naive UTC from storage -> aware UTC."""
    if when is None:
        return None
    if isinstance(when, str):  # SQLite may hand back text for computed columns
        when = datetime.fromisoformat(when)
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
