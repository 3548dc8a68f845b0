"""The kiosk cache on its own SQLite file: snapshot generations, changes with their
cursor, an abandoned snapshot, refused messages, and the look-ups' indexes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from kiosk.cache import CacheError, LaneCache
from lanes.records import Direction, TripStatus, Verdict
from proto.rocars.v1 import common_pb2, sync_pb2

NOW = 2_000_000_000.0


def _trip(ref: str, mark: str = "", verdict: Any = common_pb2.CLEAR) -> sync_pb2.SyncTrip:
    trip = sync_pb2.SyncTrip(
        reference=ref,
        registration_mark=mark or f"V{ref}",
        driver_document_number=f"D{ref}",
        control_point="LMC",
        direction=common_pb2.IMPORT,
        status=common_pb2.TRIP_BUNDLED,
        verdict=verdict,
    )
    trip.slot_start.seconds = int(NOW) + 600
    trip.slot_end.seconds = int(NOW) + 1500
    trip.consignments.add(ccrn=f"C{ref}", verdict=verdict, status=common_pb2.BUNDLED)  # type: ignore[arg-type]
    return trip


def _msg(
    kind: int,
    cursor: str = "",
    snapshot: str = "",
    trips: tuple[str, ...] = (),
    removed: tuple[str, ...] = (),
) -> sync_pb2.SyncMessage:
    msg = sync_pb2.SyncMessage(kind=kind, cursor=cursor, snapshot_id=snapshot)  # type: ignore[arg-type]
    for ref in trips:
        msg.batch.trips.append(_trip(ref))
        msg.batch.vehicles.add(registration_mark=f"V{ref}", tag_epc=f"E{ref}", active=True)
        msg.batch.drivers.add(document_number=f"D{ref}", card_number=f"K{ref}", name=ref, active=True)
    msg.batch.removed_trips.extend(removed)
    return msg


@pytest.fixture
def cache(tmp_path: Path) -> LaneCache:
    return LaneCache.open(tmp_path / "lane.db", "LMC", Direction.IMPORT, clock=lambda: NOW)


def _refs(cache: LaneCache) -> set[str]:
    return {r.reference for r in cache.m.Trip.select(cache.m.Trip.reference)}


def test_snapshot_generations_changes_and_an_abandoned_snapshot(cache: LaneCache) -> None:
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s1"))
    cache.apply(_msg(sync_pb2.SNAPSHOT_CHUNK, snapshot="s1", trips=("A", "B")))
    assert cache.cursor() == "", "no cursor before the snapshot ends"
    cache.apply(_msg(sync_pb2.SNAPSHOT_END, "c1", snapshot="s1"))
    assert (_refs(cache), cache.cursor()) == ({"A", "B"}, "c1")
    cache.apply(_msg(sync_pb2.CHANGES, "c2", trips=("C",), removed=("A",)))
    assert (_refs(cache), cache.cursor()) == ({"B", "C"}, "c2")
    # A new snapshot replaces everything it does not carry.
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s2"))
    cache.apply(_msg(sync_pb2.SNAPSHOT_CHUNK, snapshot="s2", trips=("C", "D")))
    cache.apply(_msg(sync_pb2.SNAPSHOT_END, "c3", snapshot="s2"))
    assert (_refs(cache), cache.cursor()) == ({"C", "D"}, "c3")
    assert cache.vehicle_by_plate("VB") is None and cache.driver_by_card("KB") is None
    # A snapshot cut short, then changes from the old cursor: the cut one is abandoned.
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s3"))
    cache.apply(_msg(sync_pb2.SNAPSHOT_CHUNK, snapshot="s3", trips=("E",)))
    cache.apply(_msg(sync_pb2.HEARTBEAT, "c4"))
    assert cache.cursor() == "c4" and cache.status().generation == "s2"
    with pytest.raises(CacheError, match="without its begin"):
        cache.apply(_msg(sync_pb2.SNAPSHOT_END, "c5", snapshot="s3"))
    assert cache.cursor() == "c4", "a refused message changes nothing"
    assert cache.staleness_s() == 0.0


def test_lookups(cache: LaneCache) -> None:
    cache.apply(_msg(sync_pb2.CHANGES, "c1", trips=("A",)))
    vehicle = cache.vehicle_by_epc("ea")
    assert vehicle is not None and vehicle.registration_mark == "VA"
    assert cache.vehicle_by_plate("v a") == vehicle
    driver = cache.driver_by_card("KA")
    assert driver is not None and driver.document_number == "DA"
    trip = cache.open_trip_for_vehicle("VA")
    assert trip is not None and (trip.trip_id, trip.verdict, trip.status) == (
        "A",
        Verdict.CLEAR,
        TripStatus.BUNDLED,
    )
    assert cache.consignment_verdicts("A") == {"CA": Verdict.CLEAR}
    # Each look-up is one indexed query.
    db = cache.db
    plans = {
        "epc": "SELECT * FROM cached_vehicle WHERE tag_epc = 'EA'",
        "card": "SELECT * FROM cached_driver WHERE card_number = 'KA'",
        "trip": "SELECT * FROM cached_trip WHERE registration_mark = 'VA' AND status = 1",
    }
    for name, sql in plans.items():
        detail = " ".join(str(row[-1]) for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql))
        assert "USING INDEX" in detail, (name, detail)


def _plans_use_indexes(cache: LaneCache) -> bool:
    plans = (
        "SELECT * FROM cached_vehicle WHERE tag_epc = 'EA'",
        "SELECT * FROM cached_driver WHERE card_number = 'KA'",
        "SELECT * FROM cached_trip WHERE registration_mark = 'VA' AND status = 1",
        "SELECT * FROM cached_watchlist WHERE subject = 'vehicle' AND value = 'VA'",
    )
    # A fresh comment per call: Python's statement cache would otherwise hand back the
    # plan prepared before the indexes were dropped or built.
    nonce = f" /* {time.monotonic_ns()} */"
    return all(
        "USING INDEX"
        in " ".join(str(r[-1]) for r in cache.db.execute_sql("EXPLAIN QUERY PLAN " + sql + nonce))
        for sql in plans
    )


def test_a_cold_start_builds_the_indexes_at_its_end_or_at_the_next_message(cache: LaneCache) -> None:
    assert _plans_use_indexes(cache)
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s1"))
    cache.apply(_msg(sync_pb2.SNAPSHOT_CHUNK, snapshot="s1", trips=("A", "B")))
    assert not _plans_use_indexes(cache), "an empty cache loads its snapshot without indexes"
    cache.apply(_msg(sync_pb2.SNAPSHOT_END, "c1", snapshot="s1"))
    assert _plans_use_indexes(cache) and _refs(cache) == {"A", "B"}
    assert int(cache.db.execute_sql("PRAGMA wal_autocheckpoint").fetchone()[0]) > 0
    trip = cache.open_trip_for_vehicle("VA")
    assert trip is not None and trip.ccrns == ("CA",) and trip.slot_end == NOW + 1500
    # A snapshot into a cache that holds data keeps its indexes (lanes are reading).
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s2"))
    assert _plans_use_indexes(cache)
    cache.apply(_msg(sync_pb2.SNAPSHOT_END, "c2", snapshot="s2"))
    assert _refs(cache) == set()


def test_an_abandoned_cold_start_and_a_reopened_file_get_their_indexes_back(tmp_path: Path) -> None:
    cache = LaneCache.open(tmp_path / "lane.db", "LMC", Direction.IMPORT, clock=lambda: NOW)
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s1"))
    cache.apply(_msg(sync_pb2.SNAPSHOT_CHUNK, snapshot="s1", trips=("A",)))
    cache.apply(_msg(sync_pb2.HEARTBEAT, "c1"))  # the snapshot was cut short
    assert _plans_use_indexes(cache)
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s2"))
    cache.apply(_msg(sync_pb2.SNAPSHOT_CHUNK, snapshot="s2", trips=("B",)))
    cache.close()  # the kiosk stopped mid-snapshot
    again = LaneCache.open(tmp_path / "lane.db", "LMC", Direction.IMPORT, clock=lambda: NOW)
    assert _plans_use_indexes(again) and again.cursor() == "c1"


def test_a_cache_file_of_an_older_layout_is_rebuilt_by_a_snapshot(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the first layout: JSON columns, no user_version
        conn.execute("CREATE TABLE cached_trip (reference TEXT PRIMARY KEY, verdict_reasons TEXT)")
        conn.execute("INSERT INTO cached_trip VALUES ('OLD', '[]')")
        conn.execute(
            "CREATE TABLE sync_state (id INTEGER PRIMARY KEY, cursor TEXT, generation TEXT, "
            "pending_snapshot TEXT, last_message_at REAL, lane_config TEXT)"
        )
        conn.execute("INSERT INTO sync_state VALUES (1, 'c9', 'g', '', NULL, '{}')")
    cache = LaneCache.open(path, "LMC", Direction.IMPORT, clock=lambda: NOW)
    assert cache.cursor() == "" and _refs(cache) == set(), "an old layout means a fresh snapshot"
    cache.apply(_msg(sync_pb2.SNAPSHOT_BEGIN, snapshot="s1"))
    cache.apply(_msg(sync_pb2.SNAPSHOT_CHUNK, snapshot="s1", trips=("A",)))
    cache.apply(_msg(sync_pb2.SNAPSHOT_END, "c1", snapshot="s1"))
    assert cache.trip("A") is not None and cache.cursor() == "c1"
