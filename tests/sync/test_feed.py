"""The lane feed end to end: rocars-central as a process, mutual TLS, the kiosk's cache
and sync client in this process, the world written through the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from central.store import changes
from central.store.db import write_transaction
from kiosk.sync_client import SyncClient
from lanes.records import TripStatus, Verdict
from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc
from tests.sync.support import CentralProcess, Pki, add_trip, lane_cache, must, unbundle, wait_for


def _client(
    cache_path: Path,
    central: CentralProcess,
    certs: Pki,
    lane: str = "LMC-I-01",
    cp: str = "LMC",
    kinds: list[int] | None = None,
) -> SyncClient:
    cache = lane_cache(cache_path, cp)
    client = SyncClient(
        cache,
        central.lane_target,
        certs.lane(lane),
        lane,
        silence_timeout_s=3.0,
        on_message=(lambda msg: kinds.append(msg.kind)) if kinds is not None else None,
    )
    client.start()
    return client


def test_snapshot_then_changes_and_lookups(central_proc: CentralProcess, certs: Pki, tmp_path: Path) -> None:
    early = [add_trip(verdict=v) for v in ("clear", "inspect", "hold")]
    far = add_trip(slot_in=timedelta(hours=30))  # beyond the 6 h horizon
    kinds: list[int] = []
    client = _client(tmp_path / "lane.db", central_proc, certs, kinds=kinds)
    try:
        cache = client.cache
        wait_for(lambda: cache.cursor() != "", 15, "the snapshot")
        assert kinds[0] == sync_pb2.SNAPSHOT_BEGIN and sync_pb2.SNAPSHOT_END in kinds
        assert {must(cache.trip(t.reference)).verdict for t in early} == {
            Verdict.CLEAR,
            Verdict.INSPECT,
            Verdict.HOLD,
        }
        assert cache.trip(far.reference) is None, "a trip beyond the horizon must not be sent yet"
        # Every look-up the lane needs.
        first = early[0]
        assert must(cache.vehicle_by_epc(first.epc.lower())).registration_mark == first.mark
        assert must(cache.vehicle_by_plate(first.mark)).tag_epc == first.epc
        assert must(cache.driver_by_card(first.card_number)).document_number == first.document_number
        trip = cache.open_trip_for_vehicle(first.mark)
        assert trip is not None and trip.trip_id == first.reference and trip.ccrns == first.ccrns
        assert trip.status == TripStatus.BUNDLED and trip.verdict_reasons == ("test clear",)

        # Changes after the snapshot: a new bundling, a verdict change, an unbundling.
        late = add_trip()
        wait_for(lambda: cache.trip(late.reference) is not None, 5, "the new trip")
        assert sync_pb2.CHANGES in kinds
        with write_transaction():
            changes.record_change(
                "verdict_changed",
                "LMC",
                1,
                first.ccrns[0],
                {"verdict": "inspect", "reasons": ["officer override"], "trip": first.reference},
            )
        wait_for(
            lambda: must(cache.trip(first.reference)).verdict == Verdict.INSPECT, 5, "the verdict change"
        )
        unbundle(early[1].reference)
        wait_for(lambda: cache.open_trip_for_vehicle(early[1].mark) is None, 5, "the unbundling")
        wait_for(lambda: sync_pb2.HEARTBEAT in kinds, 5, "a heartbeat while idle")
        assert client.availability.available
        assert (client.staleness_s() or 99.0) < 2.0
    finally:
        client.stop()


def test_another_control_point_sees_nothing_of_this_one(
    central_proc: CentralProcess, certs: Pki, tmp_path: Path
) -> None:
    lmc_trip = add_trip("LMC")
    sbc_trip = add_trip("SBC")
    lmc = _client(tmp_path / "lmc.db", central_proc, certs)
    sbc = _client(tmp_path / "sbc.db", central_proc, certs, lane="SBC-I-01", cp="SBC")
    try:
        wait_for(lambda: lmc.cache.cursor() != "" and sbc.cache.cursor() != "", 15, "both snapshots")
        later = add_trip("LMC")
        wait_for(lambda: lmc.cache.trip(later.reference) is not None, 5, "the LMC trip at LMC")
        assert sbc.cache.trip(sbc_trip.reference) is not None
        time_to_leak = sbc.messages_applied
        wait_for(lambda: sbc.messages_applied > time_to_leak, 5, "a heartbeat at SBC after the LMC change")
        counts = sbc.cache.counts()
        assert counts["Trip"] == 1 and counts["Vehicle"] == 1 and counts["Driver"] == 1
        for t in (lmc_trip, later):
            assert sbc.cache.trip(t.reference) is None
            assert sbc.cache.vehicle_by_plate(t.mark) is None
            assert sbc.cache.driver_by_card(t.card_number) is None
    finally:
        lmc.stop()
        sbc.stop()


def test_restart_resumes_from_the_stored_cursor(
    central_proc: CentralProcess, certs: Pki, tmp_path: Path
) -> None:
    add_trip()
    kinds: list[int] = []
    client = _client(tmp_path / "lane.db", central_proc, certs, kinds=kinds)
    wait_for(lambda: client.cache.cursor() != "", 15, "the snapshot")
    client.stop()
    client.cache.close()
    missed = add_trip()  # bundled while the kiosk is down
    kinds.clear()
    again = _client(tmp_path / "lane.db", central_proc, certs, kinds=kinds)
    try:
        wait_for(lambda: again.cache.trip(missed.reference) is not None, 10, "the trip bundled while down")
        assert sync_pb2.SNAPSHOT_BEGIN not in kinds, "a resumed lane must not need a new snapshot"
    finally:
        again.stop()


def test_central_killed_and_restarted_mid_stream(
    central_proc: CentralProcess, certs: Pki, tmp_path: Path
) -> None:
    client = _client(tmp_path / "lane.db", central_proc, certs)
    try:
        wait_for(lambda: client.cache.cursor() != "", 15, "the snapshot")
        central_proc.kill()
        wait_for(lambda: not client.availability.available, 10, "the feed to be seen as lost")
        during = add_trip()  # a bundling committed while central's process is down
        central_proc.start()
        wait_for(
            lambda: client.cache.trip(during.reference) is not None, 20, "the trip after central is back"
        )
        after = add_trip()
        wait_for(lambda: client.cache.trip(after.reference) is not None, 5, "a trip after the restart")
        assert client.availability.available
    finally:
        client.stop()


def _subscribe(central: CentralProcess, creds: grpc.ChannelCredentials, **request: Any) -> list[int]:
    with grpc.secure_channel(central.lane_target, creds) as channel:
        stream = sync_pb2_grpc.LaneSyncStub(channel).Subscribe(
            sync_pb2.SubscribeRequest(**request), timeout=3
        )
        return [next(stream).kind]


def test_missing_or_wrong_client_certificate_is_refused(central_proc: CentralProcess, certs: Pki) -> None:
    ca = (certs.dir / "ca.pem").read_bytes()
    no_cert = grpc.ssl_channel_credentials(root_certificates=ca)
    with pytest.raises(grpc.RpcError) as err:
        _subscribe(central_proc, no_cert, lane_id="LMC-I-01")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails
    rogue = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=(certs.dir / "lanes" / "ROGUE.key").read_bytes(),
        certificate_chain=(certs.dir / "lanes" / "ROGUE.pem").read_bytes(),
    )
    with pytest.raises(grpc.RpcError) as err:
        _subscribe(central_proc, rogue, lane_id="LMC-I-01")
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    # A valid certificate whose identity disagrees with the lane's registration.
    mismatched = certs.lane("LMC-X-09").credentials()
    with pytest.raises(grpc.RpcError) as err:
        _subscribe(central_proc, mismatched, lane_id="LMC-X-09")
    # Refused by the server's authentication or, failing that, by the sync service itself.
    assert err.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    assert "SBC" in (err.value.details() or "")
    # A valid lane asking for another control point's feed.
    with pytest.raises(grpc.RpcError) as err:
        _subscribe(
            central_proc, certs.lane("LMC-I-01").credentials(), lane_id="LMC-I-01", control_point="SBC"
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "control_point" in (err.value.details() or "")
    # ... and the right one works over the same listener.
    kinds = _subscribe(
        central_proc,
        certs.lane("LMC-I-01").credentials(),
        lane_id="LMC-I-01",
        control_point="LMC",
        direction=common_pb2.IMPORT,
    )
    assert kinds == [sync_pb2.SNAPSHOT_BEGIN]


def test_trips_entering_the_horizon_are_swept_in(sqlite_world: str, certs: Pki, tmp_path: Path) -> None:
    from prometheus_client import REGISTRY

    central = CentralProcess(sqlite_world, certs, tmp_path, sync_settings="horizon_s = 3600\n").start()
    try:
        soon = add_trip(slot_in=timedelta(seconds=3600 + 3), consignments=2)  # 3 s beyond the horizon
        client = _client(tmp_path / "lane.db", central, certs)
        try:
            wait_for(lambda: client.cache.cursor() != "", 15, "the snapshot")
            assert client.cache.trip(soon.reference) is None
            wait_for(lambda: client.cache.trip(soon.reference) is not None, 10, "the sweep")
            verdicts = client.cache.consignment_verdicts(soon.reference)
            assert verdicts == dict.fromkeys(soon.ccrns, Verdict.CLEAR)
            staleness = REGISTRY.get_sample_value("rocars_lane_cache_staleness_seconds", {"lane": "LMC-I-01"})
            assert staleness is not None and 0 <= staleness < 2
        finally:
            client.stop()
    finally:
        central.stop()
