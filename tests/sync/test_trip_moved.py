"""A trip re-bundled to another control point leaves the old control point's lanes and
reaches the new one's: through the real bundling API, rocars-central as a process and
two lanes' sync clients (mutual TLS)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from google.protobuf.timestamp_pb2 import Timestamp

from central.client import open_channel, stubs_for
from central.services import tokens
from central.store import models as m
from central.store.db import to_db, write_transaction
from kiosk.sync_client import SyncClient
from proto.rocars.v1 import bundling_pb2, cargo_pb2, common_pb2
from tests.sync.support import CentralProcess, Pki, lane_cache, must, wait_for


def _client(path: Path, central: CentralProcess, certs: Pki, lane: str, cp: str) -> SyncClient:
    client = SyncClient(
        lane_cache(path, cp), central.lane_target, certs.lane(lane), lane, silence_timeout_s=3.0
    )
    client.start()
    return client


def test_trip_moved_to_another_control_point_leaves_the_old_lanes(
    central_proc: CentralProcess, certs: Pki, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    secret = pyotp.random_base32()
    n = os.getpid() % 100_000
    with write_transaction():
        company = m.Company.get(m.Company.brn == "11112222")
        company_token = tokens.issue(common_pb2.COMPANY, now, company=company)
        driver = m.Driver.create(
            document_number=f"M{n}",
            name="Mover",
            card_number=f"MOVE{n}",
            totp_secret=secret,
            created_at=to_db(now),
        )
        driver_token = tokens.issue(common_pb2.DRIVER, now, driver=driver)
        m.Vehicle.create(registration_mark=f"MV{n % 9999 + 1}", created_at=to_db(now))
    arrival = Timestamp()
    arrival.FromDatetime(now + timedelta(hours=1))
    lmc = _client(tmp_path / "lmc.db", central_proc, certs, "LMC-I-01", "LMC")
    sbc = _client(tmp_path / "sbc.db", central_proc, certs, "SBC-I-01", "SBC")
    channel = open_channel(f"localhost:{central_proc.api_port}", tls_ca=certs.dir / "ca.pem")
    try:
        wait_for(lambda: lmc.cache.cursor() != "" and sbc.cache.cursor() != "", 15, "both snapshots")

        def file(cp: str) -> str:
            reply = stubs_for(channel, company_token).cargo.SubmitConsignment(
                cargo_pb2.SubmitConsignmentRequest(
                    idempotency_key=f"move-{cp}-{n}",
                    direction=common_pb2.IMPORT,
                    control_point=cp,
                    cargo=cargo_pb2.CargoDetails(
                        packages_count=1,
                        package_description="cartons",
                        article_description="desk lamps",
                        consignor_name="Shenzhen Co",
                        consignor_address="8 Futian Road",
                        consignee_name="Test Shipper",
                        consignee_address="1 Road",
                        expected_at=arrival,
                    ),
                ),
                timeout=10,
            )
            return str(reply.ccrn)

        at_lmc, at_sbc = file("LMC"), file("SBC")
        bundling = stubs_for(channel, driver_token).bundling
        totp = pyotp.TOTP(secret)
        trip = bundling.BundleTrip(
            bundling_pb2.BundleTripRequest(
                idempotency_key=f"move-{n}",
                security_code=totp.at(datetime.now(UTC)),
                vehicle_registration_mark=f"MV{n % 9999 + 1}",
                control_point="LMC",
                direction=common_pb2.IMPORT,
                expected_arrival=arrival,
                ccrns=[at_lmc],
            ),
            timeout=10,
        )
        wait_for(lambda: lmc.cache.trip(trip.reference) is not None, 10, "the trip at LMC's lane")
        assert sbc.cache.trip(trip.reference) is None

        moved = bundling.RebundleTrip(
            bundling_pb2.RebundleTripRequest(
                trip_reference=trip.reference,
                security_code=totp.at(datetime.now(UTC) + timedelta(seconds=30)),  # a code works once
                ccrns=[at_sbc],
                control_point="SBC",
            ),
            timeout=10,
        )
        assert moved.control_point == "SBC" and list(moved.ccrns) == [at_sbc]
        wait_for(lambda: sbc.cache.trip(trip.reference) is not None, 10, "the trip at SBC's lane")
        assert must(sbc.cache.trip(trip.reference)).ccrns == (at_sbc,)
        # The old control point's lane must drop it, not keep clearing the truck there.
        wait_for(lambda: lmc.cache.trip(trip.reference) is None, 10, "the trip to leave LMC's lane")
        assert lmc.cache.open_trip_for_vehicle(f"MV{n % 9999 + 1}") is None
    finally:
        channel.close()
        lmc.stop()
        sbc.stop()
