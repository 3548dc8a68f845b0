"""Opening the central database from a URL, and the transaction discipline.

``sqlite:///path/to/file.db`` (or a bare path) opens SQLite in WAL mode with foreign
keys on and a busy timeout; ``postgresql://user@host:port/db`` opens PostgreSQL. Every
model binds to ``database_proxy`` so one process can point the whole schema at either.

Writers use ``write_transaction()``: on SQLite it begins IMMEDIATE, taking the write
lock up front, because a deferred transaction that reads and then writes can fail with
"database is locked" when two writers upgrade at once; on PostgreSQL it is a plain
transaction (row locks and the change log's own lock do the rest).

SQLite writers queue twice before BEGIN IMMEDIATE: on an in-process lock (a waiting
thread wakes the moment it is free) and then on a lock file beside the database
(``<db>.writer-lock``, ``fcntl.flock``) shared by every process that writes the file,
as the server's children do with ``--processes N``. Without the file lock, writers of
different processes meet SQLite's busy handler, which sleeps in growing steps (up to
100 ms) instead of waking when the lock is free. flock has no timeout of its own, so the
file lock is polled without blocking, sleeping 50 us doubling to 0.25 ms between tries;
after ``WRITE_LOCK_TIMEOUT_S`` either wait raises :class:`WriteLockTimeout`. (A helper
thread blocking in ``flock`` on the writer's behalf, so the kernel hands the lock over
on release, was measured against this poller with two server processes under the
submission benchmark and gained nothing in rate or tail, so the simpler poller stays; so
did a "give way" variant in which waiters announce themselves on a second lock file and
a process lets an announced waiter of another process go first.)
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import parse_qs, unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

log = logging.getLogger(__name__)
database_proxy = peewee.DatabaseProxy()
WAL_AUTOCHECKPOINT_PAGES = 10_000
_CHECKPOINT_RETRY_CAP_S = 5.0
_SQLITE_WRITER = threading.Lock()

# How long a writer waits for its turn (in-process queue plus lock file) before giving up:
# the same as SQLite's busy timeout, which still covers writers that take neither lock.
WRITE_LOCK_TIMEOUT_S = 10.0
_POLL_FIRST_S = 0.000_05
# A short cap: the lock changes hands every ~0.5 ms under load, and a waiter that sleeps
# longer leaves it idle. Measured with two processes: 0.25 ms files ~7 % more than 1 ms.
_POLL_CAP_S = 0.000_25


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
            # The server checkpoints from a background thread (WalCheckpointer); a
            # writer checkpoints on commit, inside the write lock, only past this many
            # pages (~40 MB), as a safety net and for processes without that thread.
            "wal_autocheckpoint": WAL_AUTOCHECKPOINT_PAGES,
        },
        check_same_thread=False,
    )


class WalCheckpointer:
    """Copies committed WAL pages into the database file every ``interval_s`` from its
    own thread and connection, with PASSIVE checkpoints (they never block writers or
    readers, and skip pages a reader still needs).

    Left to SQLite, the writer whose commit crosses the auto-checkpoint threshold copies
    the pages itself while it still holds this module's writer lock, so every writer
    queued behind it waits too (measured: 5-14 % more submissions per second with two
    server processes when the checkpoint moves here). Failures are logged once when they
    start and once when they end. ``stop()`` is safe to call twice."""

    def __init__(self, path: str, interval_s: float = 0.05) -> None:
        self.path = path
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=15)

    def _run(self) -> None:
        con: sqlite3.Connection | None = None
        delay = self.interval_s
        try:
            while not self._stop.wait(delay):
                try:
                    if con is None:
                        con = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
                    con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    delay = self.interval_s
                    if self._failing:
                        self._failing = False
                        log.warning("WAL checkpoints of %s work again", self.path)
                except sqlite3.Error as exc:
                    delay = min(delay * 2, _CHECKPOINT_RETRY_CAP_S)
                    if not self._failing:
                        self._failing = True
                        log.error("WAL checkpoint of %s failed (retrying): %s", self.path, exc)
                    if con is not None:
                        con.close()
                        con = None
        finally:
            if con is not None:
                con.close()


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
    _close_writer_connection(db)


def is_sqlite(db: peewee.Database | None = None) -> bool:
    target = db if db is not None else database_proxy.obj
    return isinstance(target, peewee.SqliteDatabase)


def is_postgres(db: peewee.Database | None = None) -> bool:
    target = db if db is not None else database_proxy.obj
    return isinstance(target, peewee.PostgresqlDatabase)


class WriteLockTimeout(peewee.OperationalError):
    """A writer waited longer than its timeout for the SQLite write lock (the same
    class as SQLite's own "database is locked", so callers treat both alike)."""


class WriterLockFile:
    """The cross-process writer lock of one SQLite file: an exclusive ``flock`` on
    ``<database>.writer-lock``. Callers hold ``_SQLITE_WRITER`` around it, so one thread
    per process at a time uses the (process-wide) descriptor."""

    def __init__(self, database_path: str) -> None:
        self.path = f"{database_path}.writer-lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self._file = os.fdopen(fd, "rb", buffering=0)  # closed with this object

    def acquire(self, deadline: float, timeout_s: float) -> None:
        """Take the lock, polling until ``deadline`` (time.monotonic; ``timeout_s`` is
        for the message)."""
        delay = _POLL_FIRST_S
        while True:
            try:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            now = time.monotonic()
            if now >= deadline:
                raise WriteLockTimeout(
                    f"database write lock: another process held {self.path} past the {timeout_s:g} s timeout"
                )
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, _POLL_CAP_S)

    def release(self) -> None:
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)


# One lock file per open database object; dropped (and its descriptor closed) with it.
_lock_files: weakref.WeakKeyDictionary[peewee.Database, WriterLockFile] = weakref.WeakKeyDictionary()
_lock_files_guard = threading.Lock()


def writer_lock_file(db: peewee.Database) -> WriterLockFile | None:
    """The lock file of an SQLite file database (None for ``:memory:``: no other
    process can open it)."""
    if db.database == ":memory:":
        return None
    with _lock_files_guard:
        lock = _lock_files.get(db)
        if lock is None:
            lock = _lock_files[db] = WriterLockFile(str(Path(db.database).expanduser().resolve()))
        return lock


# One connection per SQLite file database for all of this process's write transactions
# (they are serial anyway, under _SQLITE_WRITER). A connection's page cache is dropped
# whenever another connection has written since its last transaction, and the pool hands
# out its least recently returned connection: every write would otherwise start by
# re-reading every page it touches. Measured in process: writes rotating over 4
# connections cost 13 % more CPU per submission than on one; 4 threads filing through
# the pool as the server does: 3-5 % less CPU per submission with this connection.
_writer_connections: weakref.WeakKeyDictionary[peewee.Database, sqlite3.Connection] = (
    weakref.WeakKeyDictionary()
)


@contextlib.contextmanager
def _on_writer_connection(db: peewee.Database) -> Iterator[None]:
    """Run the body on the process's writer connection (the caller holds
    ``_SQLITE_WRITER``), then give the thread its own connection state back."""
    conn = _writer_connections.get(db)
    if conn is None:
        # Not from the pool: the class's own connect (pragmas, hooks), kept for good.
        conn = _writer_connections[db] = peewee.SqliteDatabase._connect(db)  # type: ignore[attr-defined]
    state = db._state  # type: ignore[attr-defined]  # peewee internals: tests/central/test_writer_connection.py
    saved = (state.conn, state.closed, state.transactions, state.ctx)
    state.conn, state.closed, state.transactions, state.ctx = conn, False, [], []
    try:
        yield
    finally:
        state.conn, state.closed, state.transactions, state.ctx = saved
        if conn.in_transaction:  # a failure left it mid-transaction: never reuse it
            _writer_connections.pop(db, None)
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def _close_writer_connection(db: peewee.Database) -> None:
    # Only when no writer is using it: closing a connection under a running statement
    # crashes the sqlite3 module. A busy one is closed with its database object.
    if _SQLITE_WRITER.acquire(blocking=False):
        try:
            conn = _writer_connections.pop(db, None)
            if conn is not None:
                conn.close()
        finally:
            _SQLITE_WRITER.release()


@contextlib.contextmanager
def sqlite_writer_turn(db: peewee.Database, timeout_s: float | None = None) -> Iterator[None]:
    """Wait for this writer's turn: the in-process queue, then the lock file; for a file
    database, the turn runs on the process's writer connection."""
    timeout = WRITE_LOCK_TIMEOUT_S if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout
    # A waiter on a threading.Lock wakes the moment it is free, where SQLite's busy
    # handler sleeps in steps of up to 100 ms (the tail latency killer).
    if not _SQLITE_WRITER.acquire(timeout=timeout):
        raise WriteLockTimeout(
            f"database write lock: this process's writers queued past the {timeout:g} s timeout"
        )
    try:
        lock = writer_lock_file(db)
        if lock is None:  # :memory:: no other process, and another connection is another database
            yield
            return
        lock.acquire(deadline, timeout)
        try:
            with _on_writer_connection(db):
                yield
        finally:
            lock.release()
    finally:
        _SQLITE_WRITER.release()


class _Pending(threading.local):
    """Callbacks for after the outermost write transaction of this thread commits
    (None outside one)."""

    callbacks: list[Callable[[], None]] | None = None


_pending = _Pending()


def on_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the current write transaction commits, never if it rolls
    back (a metric must count what was stored, not what was tried). Outside a
    :func:`write_transaction` it runs at once."""
    if _pending.callbacks is None:
        callback()
    else:
        _pending.callbacks.append(callback)


def _run_committed(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the write is stored; a failing callback must not undo the reply
            log.exception("after-commit callback %r failed", callback)


@contextlib.contextmanager
def write_transaction(timeout_s: float | None = None) -> Iterator[None]:
    """A transaction that will write. Nested calls become savepoints. On SQLite the
    writer first waits for its turn (at most ``timeout_s``, default
    ``WRITE_LOCK_TIMEOUT_S``; then :class:`WriteLockTimeout`). Callbacks given to
    :func:`on_commit` inside it run after the outermost one commits."""
    db = database_proxy.obj
    if db is None:
        raise RuntimeError("database not initialised: call central.store.schema.init_database first")
    if _pending.callbacks is not None:  # nested (a savepoint): the outermost one runs them
        mark = len(_pending.callbacks)
        try:
            with db.atomic():
                yield
        except BaseException:
            del _pending.callbacks[mark:]  # rolled back to the savepoint: not stored
            raise
        return
    callbacks: list[Callable[[], None]] = []
    _pending.callbacks = callbacks
    try:
        if is_sqlite(db) and not db.in_transaction():
            with sqlite_writer_turn(db, timeout_s), db.atomic("IMMEDIATE"):
                yield
        else:
            with db.atomic():
                yield
    finally:
        _pending.callbacks = None
    _run_committed(callbacks)


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
