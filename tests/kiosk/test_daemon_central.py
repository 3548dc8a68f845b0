"""The kiosk daemon against a real central (``rocars-central`` as a process, mutual TLS):
the trip reaches the lane through the sync feed, the truck is released from the local
cache, and the crossing event reaches central through the outbox, once."""

from __future__ import annotations

import signal
import sqlite3
import tomllib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from central.store import changes
from central.store import models as m
from central.store.db import write_transaction
from central.sync.models import CrossingEventRecord
from proto.rocars.v1 import common_pb2
from simulators.lane import render_toml
from tests.kiosk.conftest import GOOD_CARD_NUMBER, Kiosk, LaneRig, make_rig, wait_for
from tests.sync.support import CentralProcess, Pki, add_trip, make_pki, seed_world

pytestmark = [pytest.mark.pcscd, pytest.mark.slow]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[CentralProcess, Pki]]:
    certs = make_pki(tmp_path / "pki")
    url = f"sqlite:///{tmp_path / 'central.db'}"
    seed_world(url)
    proc = CentralProcess(url, certs, tmp_path).start()
    yield proc, certs
    proc.stop()


def test_trip_synced_from_central_is_released_and_its_crossing_delivered_once(
    central: tuple[CentralProcess, Pki], short_dir: Path, kiosk_factory: Callable[..., Kiosk]
) -> None:
    proc, certs = central
    trip = add_trip(slot_in=timedelta(minutes=-5))
    with write_transaction():  # the virtual card "good" is this trip's driver's card
        driver = m.Driver.document_number == trip.document_number
        m.Driver.update(card_number=GOOD_CARD_NUMBER).where(driver).execute()
        changes.record_change("trip_bundled", "LMC", common_pb2.IMPORT, trip.reference, {})

    rig: LaneRig = make_rig(short_dir)
    try:
        data = tomllib.loads(rig.config_path.read_text())
        lane_tls = certs.lane(rig.lane_id)
        tables: dict[str, dict[str, object]] = {k: v for k, v in data.items() if k != "devices"}
        tables["central"] = {
            "address": proc.lane_target,
            "ca": str(lane_tls.ca),
            "cert": str(lane_tls.cert),
            "key": str(lane_tls.key),
        }
        for name, table in data["devices"].items():
            tables[f"devices.{name}"] = table
        rig.config_path.write_text(render_toml(tables))

        kiosk = kiosk_factory(rig)
        wait_for(
            lambda: _cached_trip(rig.cache_path, trip.reference),
            20,
            "the trip synced into the cache",
            detail=lambda: kiosk.log() + proc.log.read_text()[-3000:],
        )
        rig.cmd("arrive", plate=trip.mark, tag=trip.epc)
        wait_for(lambda: rig.state()["inputs"]["arming_loop"], 5, "the truck on the arming loop")
        rig.insert_card(kiosk)
        wait_for(
            lambda: rig.outputs()["barrier_raise"],
            15,
            "the arm raised for the synced clear trip",
            detail=lambda: f"{rig.crossings()}\n{kiosk.log()}",
        )
        assert rig.crossings() == [(f"{rig.lane_id}:000000000001", "released")]
        wait_for(
            lambda: _delivered(rig.cache_path) == 1,
            20,
            "the crossing event acknowledged by central",
            detail=lambda: kiosk.log() + proc.log.read_text()[-3000:],
        )
        stored = list(CrossingEventRecord.select())
        assert [s.idempotency_key for s in stored] == [f"{rig.lane_id}:000000000001"]
        kiosk.signal(signal.SIGTERM)
        assert kiosk.wait_exit(15) == 0
    finally:
        rig.sim.close()


def _cached_trip(path: Path, reference: str) -> bool:
    if not path.exists():
        return False
    with sqlite3.connect(path, timeout=5) as db:
        try:
            row = db.execute("SELECT 1 FROM cached_trip WHERE reference=?", (reference,)).fetchone()
        except sqlite3.OperationalError:
            return False  # the kiosk has not created its tables yet
        return row is not None


def _delivered(path: Path) -> int:
    with sqlite3.connect(path, timeout=5) as db:
        sql = "SELECT COUNT(*) FROM outbox_event WHERE delivered_at IS NOT NULL"
        return int(db.execute(sql).fetchone()[0])
