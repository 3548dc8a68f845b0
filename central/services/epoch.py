"""The shared cache epoch: how N central processes on one database keep their caches
of tokens and control points honest.

Every change that must invalidate those caches (a token revoked, an account deactivated
or re-activated, a control point's slot size or capacity changed) calls :func:`bump`
inside its own write transaction, so the epoch moves exactly when the change commits.
Every process compares the epoch before it serves from a cache, reading it at most
once per ``poll_s`` (50 ms): when it differs from the value last seen, every cache
registered here is cleared. A revoked token therefore stops working in every process
within about ``poll_s`` of the commit, however long the caches' TTL.

Why checked on use and not by a polling thread: it needs no thread to start and stop
in every process (the server, the CLI's in-process server and the tests all get it by
calling the caches), an idle process reads nothing, and a busy one reads one indexed
row per interval, however many calls it serves; the bound is the same. The read is
skipped inside a transaction: there it could see this transaction's own uncommitted
bump and, were that rolled back, remember a value no commit ever had.

Caches guard against a clear racing a fill with a generation number: a value looked up
before a clear must not be stored after it (see :class:`Generation`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import peewee

from central import metrics
from central.store import fast, models
from central.store.db import database_proxy

log = logging.getLogger(__name__)


class Generation:
    """A counter a cache bumps on every clear. A filler reads it before its database
    look-up and stores the result only if it has not moved: otherwise the look-up may
    predate the change that caused the clear."""

    def __init__(self) -> None:
        self._value = 0
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        return self._value

    def advance(self) -> None:
        with self._lock:
            self._value += 1


class SharedEpoch:
    def __init__(self, poll_s: float = 0.05) -> None:
        self.poll_s = poll_s
        self._seen: int | None = None
        self._next_read = 0.0
        self._lock = threading.Lock()
        self._clearers: list[Callable[[], None]] = []
        self._readable = True

    def register(self, clear: Callable[[], None]) -> None:
        """``clear`` empties one cache; called whenever the epoch moves."""
        self._clearers.append(clear)

    def clear_all(self) -> None:
        for clear in self._clearers:
            clear()

    def forget(self) -> None:
        """Drop every cache and the epoch seen (a server starting, tests switching
        databases): the next use reads the epoch afresh."""
        with self._lock:
            self._seen = None
            self._next_read = 0.0
        self.clear_all()

    def check(self) -> None:
        """Clear the caches if the epoch moved since last read; reads it at most once
        per ``poll_s``. Call before serving from a cache."""
        if time.monotonic() < self._next_read:
            return
        db = database_proxy.obj
        if db is None or db.in_transaction():
            return
        # One reader at a time; the others serve from the cache, which was checked less
        # than one interval ago.
        if not self._lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() < self._next_read:
                return
            try:
                row = fast.select_one(models.CacheEpoch, ("value",), {"id": 1})
            except peewee.PeeweeException as exc:
                # Fail safe: without the epoch no cached entry can be trusted. The call's
                # own look-up then meets the same fault and fails.
                self._seen = None
                self.clear_all()
                if self._readable:
                    self._readable = False
                    log.warning("cache epoch unreadable, caches bypassed: %s", exc)
                return
            if not self._readable:
                self._readable = True
                log.info("cache epoch readable again")
            value = int(row[0]) if row is not None else 0
            if value != self._seen:
                if self._seen is not None:
                    metrics.CACHE_INVALIDATIONS.inc()
                self.clear_all()
                self._seen = value
                metrics.CACHE_EPOCH.set(value)
            self._next_read = time.monotonic() + self.poll_s
        finally:
            self._lock.release()


shared_epoch = SharedEpoch()


def bump() -> None:
    """Move the epoch, inside the caller's write transaction (so it moves exactly when
    the change commits, and not at all if it rolls back)."""
    E = models.CacheEpoch
    if E.update(value=E.value + 1).where(E.id == 1).execute() == 0:
        E.insert(id=1, value=1).on_conflict_ignore().execute()
