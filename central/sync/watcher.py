"""One thread per central process that watches the change log's head.

Streams sleep on a condition instead of each polling the database: a change committed
through *any* replica (they share the database) wakes every stream of this process
within one poll interval. Polling ``MAX(id)`` is a single index probe, cheap enough at
50 ms; it needs nothing from the database beyond SQL, so SQLite and PostgreSQL behave
the same. The same thread prunes the log past its retention (default 7 days) once an
hour; lanes whose cursor falls below the pruned watermark get a snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import peewee

from central import metrics
from central.store import changes

log = logging.getLogger(__name__)


class ChangeWatcher:
    def __init__(
        self,
        db: peewee.Database,
        poll_s: float = 0.05,
        max_backoff_s: float = 5.0,
        retention_s: float = 7 * 86400,
        prune_every_s: float = 3600.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._retention_s = retention_s
        self._prune_every_s = prune_every_s
        self._now = now
        self._next_prune = time.monotonic() + min(60.0, prune_every_s)
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s
        self._cond = threading.Condition()
        self._head = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._healthy = True

    @property
    def head(self) -> int:
        """The highest committed change id seen (every id below it is committed too)."""
        with self._cond:
            return self._head

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="change-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Safe to call twice."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def poll_once(self) -> int:
        value = changes.head()
        with self._cond:
            if value > self._head:
                self._head = value
                self._cond.notify_all()
                metrics.CHANGELOG_HEAD.set(value)
            return self._head

    def wait_beyond(self, seq: int, timeout: float) -> int:
        """Block until the head passes ``seq`` or ``timeout`` elapses; returns the head."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._head <= seq and not self._stop.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._head

    def _run(self) -> None:
        delay = self._poll_s
        try:
            while not self._stop.is_set():
                try:
                    self.poll_once()
                    if time.monotonic() >= self._next_prune:
                        self._next_prune = time.monotonic() + self._prune_every_s
                        # Any replica may prune; deleting rows twice is harmless.
                        pruned = changes.prune(self._now() - timedelta(seconds=self._retention_s))
                        if pruned:
                            log.info("pruned %d change-log rows older than the retention", pruned)
                    if not self._healthy:
                        log.info("change log readable again")
                        self._healthy = True
                    delay = self._poll_s
                except peewee.PeeweeException as exc:
                    if self._healthy:
                        log.warning("change log unreadable: %s", exc)
                        self._healthy = False
                    delay = min(max(delay * 2, self._poll_s), self._max_backoff_s)
                    with contextlib.suppress(peewee.PeeweeException):
                        self._db.close()
                self._stop.wait(delay)
        finally:
            if not self._db.is_closed():
                self._db.close()
