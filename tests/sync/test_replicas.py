"""Two central replicas on one throwaway PostgreSQL: a lane subscribed to replica B learns
within a second what was written through replica A, and crossing events posted to both
replicas at once are stored once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from central.store import models as m
from central.store.db import database_proxy
from central.sync.models import CrossingEventRecord
from kiosk.outbox import to_event
from kiosk.sync_client import SyncClient
from lanes.commands import Outcome
from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc
from tests.sync.kiosk_writer import decision
from tests.sync.support import (
    CentralProcess,
    Pki,
    add_trip,
    bundle_via_api,
    lane_cache,
    must,
    seed_world,
    wait_for,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def replicas(
    postgres_url: str, certs: Pki, tmp_path: Path
) -> Iterator[tuple[CentralProcess, CentralProcess]]:
    seed_world(postgres_url)
    a = CentralProcess(postgres_url, certs, tmp_path).start()
    b = CentralProcess(postgres_url, certs, tmp_path).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()
        if database_proxy.obj is not None:
            database_proxy.obj.close()


def _post(target: str, certs: Pki, events: list[sync_pb2.CrossingEvent]) -> sync_pb2.PostCrossingEventsReply:
    with grpc.secure_channel(target, certs.lane("LMC-I-01").credentials()) as channel:
        return sync_pb2_grpc.LaneSyncStub(channel).PostCrossingEvents(
            sync_pb2.PostCrossingEventsRequest(events=events), timeout=20
        )


def test_two_replicas_share_one_feed_and_store_events_once(
    replicas: tuple[CentralProcess, CentralProcess], certs: Pki, tmp_path: Path
) -> None:
    a, b = replicas
    trips = [add_trip() for _ in range(4)]
    client = SyncClient(
        lane_cache(tmp_path / "lane.db"),
        b.lane_target,
        certs.lane("LMC-I-01"),
        "LMC-I-01",
        silence_timeout_s=3,
    )
    client.start()
    try:
        cache = client.cache
        wait_for(lambda: all(cache.trip(t.reference) is not None for t in trips), 15, "the snapshot from B")
        # A write through replica A (a lane reporting a release) reaches the lane on B.
        posted = time.monotonic()
        _post(a.lane_target, certs, [to_event(decision("LMC-I-01", 0, trips[0].reference, Outcome.RELEASED))])
        wait_for(
            lambda: must(cache.trip(trips[0].reference)).status.value == "released",
            1.0,
            "replica A's change at the lane on replica B within a second",
        )
        assert time.monotonic() - posted < 1.0
        # A bundling made through replica A's public API, from the RPC's return.
        reference = bundle_via_api(a, certs)
        t0 = time.monotonic()
        wait_for(lambda: cache.trip(reference) is not None, 1.0, "replica A's bundling within a second")
        assert time.monotonic() - t0 < 1.0
        assert client.cache.open_trip_for_vehicle(must(cache.trip(reference)).vehicle_id) is not None
    finally:
        client.stop()

    # The same 60 events posted to both replicas at the same time: stored once.
    events = [
        to_event(
            decision(
                "LMC-I-01",
                i,
                trips[i].reference if i <= 3 else None,
                Outcome.RELEASED if i <= 3 else Outcome.REFERRED,
            )
        )
        for i in range(1, 61)
    ]
    replies: list[sync_pb2.PostCrossingEventsReply] = []
    threads = [
        threading.Thread(target=lambda t=t: replies.append(_post(t, certs, events)))
        for t in (a.lane_target, b.lane_target)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(replies) == 2
    duplicates = sum(ack.duplicate for reply in replies for ack in reply.acks)
    assert duplicates == 60, "each event is new at exactly one replica"
    assert CrossingEventRecord.select().count() == 61
    assert m.Trip.get(m.Trip.reference == trips[1].reference).status == common_pb2.TRIP_RELEASED
