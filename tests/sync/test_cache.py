"""The kiosk cache on its own SQLite file: snapshot generations, changes with their
cursor, an abandoned snapshot, refused messages, and the look-ups' indexes."""

from __future__ import annotations

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
