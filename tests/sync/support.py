"""Real parts for the sync tests: a development PKI, ``rocars-central`` as a process with
mutual TLS, and a small world written through the store (as the core services do:
rows and their change-log entries in one transaction)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pyotp
from google.protobuf.timestamp_pb2 import Timestamp

from central import ids, pki
from central.client import open_channel, stubs_for
from central.services import tokens
from central.store import changes
from central.store import models as m
from central.store.db import to_db, write_transaction
from central.store.schema import init_database
from kiosk.cache import LaneCache
from kiosk.tls import LaneTls
from lanes.records import Direction
from proto.rocars.v1 import bundling_pb2, cargo_pb2, common_pb2

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def must(value: T | None) -> T:
    assert value is not None
    return value


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- PKI ---------------------------------------------------------------------------


@dataclass
class Pki:
    dir: Path

    def lane(self, lane_id: str) -> LaneTls:
        return LaneTls(
            self.dir / "ca.pem", self.dir / "lanes" / f"{lane_id}.pem", self.dir / "lanes" / f"{lane_id}.key"
        )


def make_pki(directory: Path) -> Pki:
    ca = pki.create_ca()
    pki.write_pair(directory, "ca", ca)
    pki.write_pair(directory, "server", pki.issue_server(ca, ["localhost", "127.0.0.1"]))
    for lane_id, cp, direction in (
        ("LMC-I-01", "LMC", "import"),
        ("LMC-I-02", "LMC", "import"),
        ("SBC-I-01", "SBC", "import"),
        ("LMC-X-09", "LMC", "import"),
    ):
        pki.write_pair(directory / "lanes", lane_id, pki.issue_lane(ca, lane_id, cp, direction))
    # A lane certificate from a CA central does not trust.
    rogue = pki.create_ca("Rogue CA")
    pki.write_pair(directory / "rogue", "ca", rogue)
    pki.write_pair(directory / "lanes", "ROGUE", pki.issue_lane(rogue, "LMC-I-01", "LMC", "import"))
    return Pki(directory)


# --- central as a process ------------------------------------------------------------


class CentralProcess:
    """``rocars-central`` with a lane listener (mutual TLS) on a fixed port, so a restart
    comes back where the lanes look for it."""

    def __init__(
        self,
        database_url: str,
        certs: Pki,
        workdir: Path,
        sync_settings: str = "",
        workers: int | None = 64,
        central_settings: str = "",
    ) -> None:
        self.database_url = database_url
        self.workers = workers
        self.certs = certs
        self.lane_port = free_port()
        self.workdir = workdir
        self.config = workdir / f"central-{self.lane_port}.toml"
        self.config.write_text(
            ("[central]\n" + central_settings if central_settings else "")
            + "[sync]\nheartbeat_s = 0.5\nwatch_poll_s = 0.02\nsweep_every_s = 1\n"
            + sync_settings
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"central-{self.lane_port}.log"

    @property
    def lane_target(self) -> str:
        return f"localhost:{self.lane_port}"

    def start(self, timeout: float = 30.0) -> CentralProcess:
        cmd = [
            str(BIN / "rocars-central"),
            "--listen",
            "127.0.0.1:0",
            "--lane-listen",
            f"127.0.0.1:{self.lane_port}",
            "--database",
            self.database_url,
            "--tls-cert",
            str(self.certs.dir / "server.pem"),
            "--tls-key",
            str(self.certs.dir / "server.key"),
            "--client-ca",
            str(self.certs.dir / "ca.pem"),
            "--config",
            str(self.config),
            *(["--lane-workers", str(self.workers)] if self.workers is not None else []),
            "--log-level",
            "warning",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, start_new_session=True, cwd=ROOT
            )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        while b"LISTENING" not in line:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"rocars-central did not start: {self.log.read_text()[-3000:]}")
            line = self.proc.stdout.readline()
        self._api_port = int(line.decode().split("port=")[1].split()[0])
        return self

    @property
    def api_port(self) -> int:
        return self._api_port

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as a crash or power cut."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


# --- the world, written through the store ----------------------------------------------

_counter = itertools.count(1)


def open_store(url: str) -> None:
    init_database(url)


def seed_world(url: str) -> None:
    """Control points LMC and SBC, their lanes, one company (idempotent per database)."""
    open_store(url)
    now = to_db(datetime.now(UTC))
    with write_transaction():
        for code in ("LMC", "SBC"):
            m.ControlPoint.insert(code=code, name=code).on_conflict_ignore().execute()
        lmc = m.ControlPoint.get(m.ControlPoint.code == "LMC")
        sbc = m.ControlPoint.get(m.ControlPoint.code == "SBC")
        for code, cp in (("LMC-I-01", lmc), ("LMC-I-02", lmc), ("SBC-I-01", sbc)):
            m.Lane.insert(
                code=code, control_point=cp, direction=common_pb2.IMPORT, created_at=now
            ).on_conflict_ignore().execute()
        # LMC-X-09 has a valid certificate for LMC/import but is registered as SBC's:
        # central must refuse it (the registration and the certificate disagree).
        m.Lane.insert(
            code="LMC-X-09", control_point=sbc, direction=common_pb2.IMPORT, created_at=now
        ).on_conflict_ignore().execute()
        m.Company.insert(
            kind=common_pb2.SHIPPER,
            brn="11112222",
            name="Test Shipper",
            address="1 Road",
            contact_name="A",
            contact_phone="1",
            created_at=now,
        ).on_conflict_ignore().execute()


@dataclass(frozen=True)
class SeededTrip:
    reference: str
    mark: str
    epc: str
    document_number: str
    card_number: str
    ccrns: tuple[str, ...]


def add_trip(
    control_point: str = "LMC",
    direction: int = common_pb2.IMPORT,
    slot_in: timedelta = timedelta(hours=1),
    verdict: str = "clear",
    consignments: int = 1,
    now: datetime | None = None,
) -> SeededTrip:
    """Bundle a new trip with a new vehicle and driver, as the bundling service does:
    rows and change-log entries in one transaction."""
    n = next(_counter) + os.getpid() % 1000 * 100_000
    when = now or datetime.now(UTC)
    created = to_db(when)
    mark, epc, doc, card = f"T{n}", f"E2801170{n:016X}", f"D{n}", f"CARD{n}"
    with write_transaction():
        cp = m.ControlPoint.get(m.ControlPoint.code == control_point)
        company = m.Company.get(m.Company.brn == "11112222")
        vehicle = m.Vehicle.create(registration_mark=mark, tag_epc=epc, created_at=created)
        driver = m.Driver.create(
            document_number=doc,
            name=f"Driver {n}",
            card_number=card,
            totp_secret="X" * 32,
            created_at=created,
        )
        start = to_db(when + slot_in)
        trip = m.Trip.create(
            reference=f"R{n}",
            driver=driver,
            vehicle=vehicle,
            control_point=cp,
            direction=direction,
            expected_arrival=start,
            slot_start=start,
            slot_end=start + timedelta(minutes=15),
            status=common_pb2.TRIP_BUNDLED,
            created_at=created,
            updated_at=created,
        )
        ccrns = []
        for _ in range(consignments):
            ccrn = ids.new_ccrn()
            m.Consignment.create(
                ccrn=ccrn,
                company=company,
                idempotency_key=ccrn,
                direction=direction,
                control_point=cp,
                status=common_pb2.BUNDLED,
                packages_count=1,
                package_description="box",
                article_description="lamps",
                consignor_name="a",
                consignor_address="b",
                consignee_name="c",
                consignee_address="d",
                expected_at=start,
                trip=trip,
                created_at=created,
                updated_at=created,
            )
            changes.record_change(
                "verdict_changed",
                control_point,
                direction,
                ccrn,
                {"verdict": verdict, "reasons": [f"test {verdict}"], "trip": trip.reference},
                now=when,
            )
            ccrns.append(ccrn)
        changes.record_change("trip_bundled", control_point, direction, trip.reference, {}, now=when)
    return SeededTrip(trip.reference, mark, epc, doc, card, tuple(ccrns))


def unbundle(reference: str) -> None:
    with write_transaction():
        trip = m.Trip.get(m.Trip.reference == reference)
        m.Trip.update(status=common_pb2.TRIP_UNBUNDLED).where(m.Trip.id == trip.id).execute()
        cp = m.ControlPoint.get_by_id(trip.control_point_id)
        changes.record_change("trip_unbundled", cp.code, trip.direction, reference, {})


def lane_cache(path: Path, control_point: str = "LMC") -> LaneCache:
    return LaneCache.open(path, control_point, Direction.IMPORT)


def bundle_via_api(central: CentralProcess, certs: Pki, control_point: str = "LMC") -> str:
    """Submit a consignment and bundle it through ``central``'s public API, as a company
    and a driver would; returns the trip reference once the RPC has returned."""
    n = next(_counter) + os.getpid() % 1000 * 100_000
    now = datetime.now(UTC)
    secret = pyotp.random_base32()
    with write_transaction():
        company = m.Company.get(m.Company.brn == "11112222")
        company_token = tokens.issue(common_pb2.COMPANY, now, company=company)
        driver = m.Driver.create(
            document_number=f"A{n}",
            name=f"Driver {n}",
            card_number=f"API{n}",
            totp_secret=secret,
            created_at=to_db(now),
        )
        driver_token = tokens.issue(common_pb2.DRIVER, now, driver=driver)
        m.Vehicle.create(registration_mark=f"AP{n % 9999 + 1}", created_at=to_db(now))
    arrival = Timestamp()
    arrival.FromDatetime(now + timedelta(hours=1))
    channel = open_channel(f"localhost:{central.api_port}", tls_ca=certs.dir / "ca.pem")
    try:
        consignment = stubs_for(channel, company_token).cargo.SubmitConsignment(
            cargo_pb2.SubmitConsignmentRequest(
                idempotency_key=f"sync-test-{n}",
                direction=common_pb2.IMPORT,
                control_point=control_point,
                cargo=cargo_pb2.CargoDetails(
                    packages_count=2,
                    package_description="cartons",
                    article_description="LED desk lamps",
                    consignor_name="Shenzhen Co",
                    consignor_address="8 Futian Road",
                    consignee_name="Test Shipper",
                    consignee_address="1 Road",
                    expected_at=arrival,
                ),
            ),
            timeout=10,
        )
        trip = stubs_for(channel, driver_token).bundling.BundleTrip(
            bundling_pb2.BundleTripRequest(
                idempotency_key=f"bundle-{n}",
                security_code=pyotp.TOTP(secret).now(),
                vehicle_registration_mark=f"AP{n % 9999 + 1}",
                control_point=control_point,
                direction=common_pb2.IMPORT,
                expected_arrival=arrival,
                ccrns=[consignment.ccrn],
            ),
            timeout=10,
        )
    finally:
        channel.close()
    return str(trip.reference)
