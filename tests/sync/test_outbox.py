"""Crossing events: durable outbox, delivery after an outage, crash between write and send,
exactly-once storage at central and the status the filer sees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from central.client import open_channel, stubs_for
from central.services import tokens
from central.store import models as m
from central.store.db import write_transaction
from central.sync.models import CrossingEventRecord
from drivers.base import Backoff
from kiosk.cache import LaneCache
from kiosk.outbox import Outbox, OutboxError, OutboxSender, to_event
from kiosk.sync_client import SyncClient
from lanes.commands import Outcome
from proto.rocars.v1 import cargo_pb2, common_pb2
from tests.sync.kiosk_writer import decision
from tests.sync.support import ROOT, CentralProcess, Pki, add_trip, lane_cache, wait_for


def _stored() -> int:
    return int(CrossingEventRecord.select().count())


def test_outbox_delivers_everything_once_after_an_outage(
    central_proc: CentralProcess, certs: Pki, tmp_path: Path
) -> None:
    trips = [add_trip() for _ in range(5)]
    cache = lane_cache(tmp_path / "lane.db")
    sync = SyncClient(
        cache, central_proc.lane_target, certs.lane("LMC-I-01"), "LMC-I-01", silence_timeout_s=3
    )
    sync.start()
    wait_for(lambda: cache.cursor() != "", 15, "the snapshot")
    sync.stop()
    central_proc.stop()  # central is down from here on

    outbox = Outbox(cache, "LMC-I-01")
    sender = OutboxSender(
        outbox, central_proc.lane_target, certs.lane("LMC-I-01"), batch_size=40, backoff=Backoff(0.05, 0.3)
    )
    sender.start()
    # The lane keeps deciding from its cache while central is away.
    for i, trip in enumerate(trips):
        found = cache.open_trip_for_vehicle(trip.mark)
        assert found is not None and found.trip_id == trip.reference
        outbox.record(decision("LMC-I-01", i, trip.reference, Outcome.RELEASED))
        assert cache.open_trip_for_vehicle(trip.mark) is None, "a released trip must not be released again"
    for i in range(5, 150):
        outbox.record(decision("LMC-I-01", i, None, Outcome.REFERRED))
    with pytest.raises(OutboxError, match="idempotency_key"):
        outbox.record(decision("LMC-I-01", 7, None, Outcome.REFERRED))
    wait_for(
        lambda: not sender.availability.available and sender.backoff.peek >= 0.3, 10, "retries at the cap"
    )
    assert outbox.pending_count() == 150 and _stored() == 0

    central_proc.start()
    wait_for(lambda: outbox.pending_count() == 0, 20, "the outbox to drain")
    assert _stored() == 150
    assert sender.duplicates == 0
    for trip in trips:
        row = m.Trip.get(m.Trip.reference == trip.reference)
        assert row.status == common_pb2.TRIP_RELEASED and row.crossed_at is not None
        assert {c.status for c in m.Consignment.select().where(m.Consignment.trip == row.id)} == {
            common_pb2.RELEASED
        }

    # A lost acknowledgement: the lane sends everything again; central stores nothing twice.
    outbox.Event.update(delivered_at=None).execute()
    outbox._wake.set()
    wait_for(lambda: outbox.pending_count() == 0, 20, "the re-sent outbox to drain")
    assert _stored() == 150 and sender.duplicates == 150
    sender.stop()
    sender.stop()  # safe twice


def test_kiosk_killed_between_outbox_write_and_send(
    central_proc: CentralProcess, certs: Pki, tmp_path: Path
) -> None:
    trips = [add_trip() for _ in range(3)]
    db = tmp_path / "kiosk.db"
    central_proc.stop()  # so the first kiosk cannot have sent anything before it dies
    cmd = [
        sys.executable,
        "-m",
        "tests.sync.kiosk_writer",
        str(db),
        "LMC-I-01",
        central_proc.lane_target,
        str(certs.dir),
        "40",
        *[t.reference for t in trips],
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("RECORDED 40"), line
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    central_proc.start()

    # The kiosk comes back: a second process records 20 more and is killed mid-delivery.
    proc = subprocess.Popen(
        [*cmd[:-4], "20"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().startswith("RECORDED 60")
        while True:
            text = proc.stdout.readline().decode()
            assert text, "kiosk_writer exited early"
            if text.startswith("DELIVERED") and int(text.split()[1]) >= 6:
                break
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert 6 <= _stored() < 60

    # A third start delivers the rest; nothing lost, nothing doubled.
    cache = LaneCache.open(db, "LMC", "import")
    outbox = Outbox(cache, "LMC-I-01")
    sender = OutboxSender(
        outbox, central_proc.lane_target, certs.lane("LMC-I-01"), backoff=Backoff(0.05, 0.2)
    )
    sender.start()
    try:
        wait_for(lambda: outbox.pending_count() == 0, 20, "the outbox to drain")
    finally:
        sender.stop()
    assert _stored() == 60
    keys = [r.idempotency_key for r in CrossingEventRecord.select(CrossingEventRecord.idempotency_key)]
    assert sorted(keys) == sorted(f"LMC-I-01-test-{i}" for i in range(60))
    assert m.Trip.get(m.Trip.reference == trips[0].reference).status == common_pb2.TRIP_RELEASED


def test_the_filer_sees_the_status_and_a_malformed_event_blocks_nothing(
    central_proc: CentralProcess, certs: Pki, tmp_path: Path
) -> None:
    trip = add_trip(consignments=2)
    with write_transaction():
        company = m.Company.get(m.Company.brn == "11112222")
        token = tokens.issue(common_pb2.COMPANY, datetime.now(UTC), company=company)
    cache = lane_cache(tmp_path / "lane.db")
    outbox = Outbox(cache, "LMC-I-01")
    bad = to_event(decision("LMC-I-01", 0, None, Outcome.REFERRED))
    bad.idempotency_key = "x" * 97  # central accepts at most 96 characters
    outbox.record_event(bad, outcome="referred", decided_at=time.time())
    outbox.record(decision("LMC-I-01", 1, trip.reference, Outcome.INSPECTION))
    sender = OutboxSender(
        outbox, central_proc.lane_target, certs.lane("LMC-I-01"), backoff=Backoff(0.05, 0.2)
    )
    sender.start()
    try:
        wait_for(lambda: outbox.pending_count() == 0, 15, "the outbox to drain")
    finally:
        sender.stop()
    assert (sender.rejected, outbox.rejected_count(), _stored()) == (1, 1, 1)
    channel = open_channel(f"localhost:{central_proc.api_port}", tls_ca=certs.dir / "ca.pem")
    try:
        cargo = stubs_for(channel, token).cargo
        for ccrn in trip.ccrns:
            reply = cargo.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=ccrn), timeout=10)
            assert reply.status == common_pb2.SELECTED_FOR_INSPECTION
    finally:
        channel.close()
