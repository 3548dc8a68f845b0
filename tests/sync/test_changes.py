"""The change log's rules, on a real SQLite file: inside the writer's transaction only,
refusing bad input before writing, pruning with a watermark, and when a lane's cursor
forces a snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from central.clock import SystemClock
from central.store import changes
from central.store.db import database_proxy, write_transaction
from central.store.schema import init_database
from central.sync.cursor import Cursor
from central.sync.feed import FeedConfig, LaneFeed
from central.sync.watcher import ChangeWatcher


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[LaneFeed]:
    db = init_database(f"sqlite:///{tmp_path / 'c.db'}")
    yield LaneFeed(db, SystemClock(), ChangeWatcher(db), FeedConfig())
    db.close()


def _watch(entity: str, now: datetime | None = None, **payload: object) -> int:
    with write_transaction():
        return changes.record_change(
            "watchlist_hit", "LMC", None, entity, {"subject": "vehicle", **payload}, now=now
        )


def test_record_change_needs_the_writers_transaction_and_good_input(feed: LaneFeed) -> None:
    with pytest.raises(changes.ChangeLogError, match="inside the writer's transaction"):
        changes.record_change("trip_bundled", "LMC", 1, "R1", {})
    with write_transaction(), pytest.raises(changes.ChangeLogError, match=r"change\.kind"):
        changes.record_change("trip_teleported", "LMC", 1, "R1", {})
    with write_transaction(), pytest.raises(changes.ChangeLogError, match=r"change\.payload\.verdict"):
        changes.record_change("verdict_changed", "LMC", 1, "123", {"verdict": "maybe"})
    with write_transaction(), pytest.raises(changes.ChangeLogError, match=r"change\.direction"):
        changes.record_change("trip_bundled", "LMC", "sideways", "R1", {})
    assert changes.head() == 0, "nothing of a refused change is written"


def test_a_rolled_back_writer_leaves_no_change(feed: LaneFeed) -> None:
    with pytest.raises(RuntimeError), write_transaction():
        changes.record_change("trip_bundled", "LMC", 1, "R1", {})
        raise RuntimeError("the business write failed")
    assert changes.head() == 0


def test_cursors_that_need_a_snapshot(feed: LaneFeed) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    first = _watch("W1", old, value="AB1")
    for i in range(3):
        _watch(f"X{i}", old, value="AB2")
    _watch("W1", old, value="AB1", removed=True)
    newest = _watch("W2", value="CD3")
    epoch = changes.epoch()
    assert feed.resume_point(Cursor(epoch, first, 0).encode()) is not None
    assert feed.resume_point("") is None
    assert feed.resume_point("garbage") is None
    assert feed.resume_point(Cursor("otherepoch", first, 0).encode()) is None, "a rebuilt database"
    assert feed.resume_point(Cursor(epoch, newest + 10, 0).encode()) is None, "a cursor ahead of the log"

    pruned = changes.prune(datetime.now(UTC) - timedelta(days=7))
    # The newest row of each compacted entity stays: W1's removal, X0..X2, W2.
    assert pruned == 1
    assert feed.resume_point(Cursor(epoch, first - 1, 0).encode()) is None, "below the pruned watermark"
    assert feed.resume_point(Cursor(epoch, newest, 0).encode()) is not None
    kept = {(r.entity_id, bool(r.payload.get("removed"))) for r in changes.latest_compacted("LMC", 1, newest)}
    assert kept == {("W1", True), ("X0", False), ("X1", False), ("X2", False), ("W2", False)}


def test_feed_settings_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\[sync\]\.heartbeat: unknown"):
        FeedConfig.from_mapping({"heartbeat": 5})
    with pytest.raises(ValueError, match=r"\[sync\]\.heartbeat_s: must be a positive"):
        FeedConfig.from_mapping({"heartbeat_s": -1})
    assert FeedConfig.from_mapping({"heartbeat_s": 2, "batch_limit": 100}).batch_limit == 100


def teardown_module() -> None:
    if database_proxy.obj is not None:
        database_proxy.obj.close()
