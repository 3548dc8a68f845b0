"""The out-of-order commit race: writer A allocates a change id first, writer B starts
later and tries to commit first. A feed reader (the real LaneFeed) must never skip A's
change. On PostgreSQL the same race with the change-log lock switched off shows the
trap is real (the reader loses A's change), so the test can fail."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from central.clock import SystemClock
from central.store import changes
from central.store.db import database_proxy, write_transaction
from central.store.schema import init_database
from central.sync.feed import FeedConfig, LaneFeed, LaneIdentity
from central.sync.watcher import ChangeWatcher
from proto.rocars.v1 import sync_pb2


def _watch(entity: str) -> None:
    changes.record_change(
        "watchlist_hit",
        "LMC",
        None,
        entity,
        {"subject": "vehicle", "value": entity, "reason": "race", "action": "refer"},
    )


def race(url: str) -> tuple[set[str], dict[str, float]]:
    """Run the race once; returns the watch-list ids the reader saw and event times."""
    db = init_database(url)
    watcher = ChangeWatcher(db, poll_s=0.01)
    watcher.start()
    feed = LaneFeed(db, SystemClock(), watcher, FeedConfig(heartbeat_s=0.1, sweep_every_s=3600))
    seen: set[str] = set()
    times: dict[str, float] = {}
    snapshot_done, stop = threading.Event(), threading.Event()
    a_allocated, release_a = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def reader() -> None:
        try:
            for msg in feed.stream(
                LaneIdentity("LMC-I-01", "LMC", 1), "", is_active=lambda: not stop.is_set()
            ):
                if msg.kind == sync_pb2.SNAPSHOT_END:
                    snapshot_done.set()
                for entry in msg.batch.watchlist:
                    seen.add(entry.id)
                    times.setdefault(f"seen {entry.id}", time.monotonic())
        except BaseException as exc:  # surfaced by the test below
            failures.append(exc)
        finally:
            db.close()

    def writer_a() -> None:
        try:
            with write_transaction():
                _watch("A")
                a_allocated.set()
                release_a.wait(10)
            times["A committed"] = time.monotonic()
        finally:
            db.close()

    def writer_b() -> None:
        try:
            a_allocated.wait(10)
            times["B started"] = time.monotonic()
            with write_transaction():
                _watch("B")
            times["B committed"] = time.monotonic()
        finally:
            db.close()

    threads = [threading.Thread(target=f, daemon=True) for f in (reader, writer_a, writer_b)]
    threads[0].start()
    assert snapshot_done.wait(10), f"no snapshot: {failures}"
    threads[1].start()
    assert a_allocated.wait(10)
    threads[2].start()
    time.sleep(0.6)  # B commits now unless it must wait for A; the reader polls every 10 ms
    times["A released"] = time.monotonic()
    release_a.set()
    threads[1].join(10)
    threads[2].join(10)
    deadline = time.monotonic() + 3
    while seen != {"A", "B"} and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    threads[0].join(10)
    watcher.stop()
    assert not failures, failures
    return seen, times


def _close() -> None:
    if database_proxy.obj is not None:
        database_proxy.obj.close()


def test_race_sqlite_never_skips(tmp_path: Path) -> None:
    seen, times = race(f"sqlite:///{tmp_path / 'race.db'}")
    _close()
    assert seen == {"A", "B"}
    # SQLite serialises writers: B could only commit after A was let go (A's own stamp
    # is taken after its commit returns, so on a loaded machine B may stamp first).
    assert times["B committed"] > times["A released"]


@pytest.mark.postgres
def test_race_postgres_never_skips(postgres_url: str) -> None:
    seen, times = race(postgres_url)
    _close()
    assert seen == {"A", "B"}
    assert times["B committed"] > times["A released"], "B must wait for A's change-log lock"
    ids = {r.entity_id: r.id for r in changes.changes_after(0, "LMC", 1)}
    _close()
    assert ids["A"] < ids["B"]


@pytest.mark.postgres
def test_race_postgres_without_the_lock_loses_a_change(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The negative control: a plain sequence column skips A's change."""
    monkeypatch.setattr(changes, "is_postgres", lambda db=None: False)
    seen, times = race(postgres_url)
    _close()
    assert times["B committed"] < times["A released"]
    assert seen == {"B"}, "without serialisation the reader moves past A's id before A commits"
