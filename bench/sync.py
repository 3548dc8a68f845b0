"""Lane sync benchmark: propagation to 50 lanes, a 50,000-trip cold start, outbox delivery.

    .venv/bin/python bench/sync.py

Runs rocars-central as a process (SQLite, mutual TLS lane listener) and, in this one
process, 50 lanes (sync client + local cache each). Figures:

- propagation: from the BundleTrip RPC's return to each subscribed lane's cache holding
  the trip (25 lanes per direction at LMC; each bundling reaches 25 caches);
- snapshot: cold start of a lane at SBC holding 50,000 trips (begin to cursor stored);
- outbox: crossing events recorded durably at a lane, then delivered to central.

Targets: propagation p99 <= 500 ms, snapshot >= 20,000 trips/s. Machine noise matters
on a shared 2-core box, so a unary RPC round trip measured in the same run is printed as
a baseline. Last line: one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import peewee
import pyotp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from central import pki  # noqa: E402
from central.client import open_channel, stubs_for  # noqa: E402
from central.services.bootstrap import bootstrap  # noqa: E402
from central.store import changes  # noqa: E402
from central.store import models as m  # noqa: E402
from central.store.db import to_db  # noqa: E402
from central.store.schema import init_database  # noqa: E402
from drivers.base import Backoff  # noqa: E402
from kiosk.cache import LaneCache  # noqa: E402
from kiosk.outbox import Outbox, OutboxSender  # noqa: E402
from kiosk.sync_client import SyncClient  # noqa: E402
from kiosk.tls import LaneTls  # noqa: E402
from lanes.commands import CrossingRecord, Outcome  # noqa: E402
from lanes.records import Direction  # noqa: E402
from proto.rocars.v1 import (  # noqa: E402
    bundling_pb2,
    cargo_pb2,
    common_pb2,
    diagnostics_pb2,
    registration_pb2,
)

LANES = 50
BUNDLINGS = int(os.environ.get("BENCH_BUNDLINGS", "150"))
BUNDLING_INTERVAL_S = 0.1
SNAPSHOT_TRIPS = int(os.environ.get("BENCH_SNAPSHOT_TRIPS", "50000"))
OUTBOX_EVENTS = 2000


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certs(d: Path, lanes: list[tuple[str, str, str]]) -> None:
    ca = pki.create_ca()
    pki.write_pair(d, "ca", ca)
    pki.write_pair(d, "server", pki.issue_server(ca, ["localhost", "127.0.0.1"]))
    for lane_id, cp, direction in lanes:
        pki.write_pair(d / "lanes", lane_id, pki.issue_lane(ca, lane_id, cp, direction))


def lane_tls(d: Path, lane_id: str) -> LaneTls:
    return LaneTls(d / "ca.pem", d / "lanes" / f"{lane_id}.pem", d / "lanes" / f"{lane_id}.key")


def sqlite_baseline(path: Path, n: int) -> float:
    """Rows/s of a plain executemany insert (one indexed table, WAL) on this machine now:
    the ceiling any lane cache write shares with whatever else the machine is doing."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY, a TEXT, b REAL, c INTEGER, d TEXT)")
    conn.execute("CREATE INDEX t_a ON t (a, c, b)")
    rows = [(f"R{i}", f"V{i}", float(i), 1, "[]") for i in range(n)]
    t0 = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO t VALUES (?,?,?,?,?)", rows)
    elapsed = time.perf_counter() - t0
    conn.close()
    return n / elapsed


def _pairs(query: Any) -> dict[str, int]:
    return dict(query)


def seed_snapshot_trips(n: int, now: datetime) -> None:
    """n bundled trips at SBC/import within the horizon, written in bulk."""
    cp = m.ControlPoint.get(m.ControlPoint.code == "SBC")
    company = m.Company.select().first()
    db = m.Trip._meta.database
    created = to_db(now)
    with db.atomic():
        for chunk in peewee.chunked(range(n), 500):
            ids = list(chunk)
            m.Vehicle.insert_many(
                [
                    {"registration_mark": f"SN{i}", "tag_epc": f"E2{i:022X}", "created_at": created}
                    for i in ids
                ]
            ).execute()
            m.Driver.insert_many(
                [
                    {
                        "document_number": f"SD{i}",
                        "name": f"Driver {i}",
                        "card_number": f"SC{i}",
                        "totp_secret": "X" * 32,
                        "created_at": created,
                    }
                    for i in ids
                ]
            ).execute()
        vehicles: dict[str, int] = _pairs(
            m.Vehicle.select(m.Vehicle.registration_mark, m.Vehicle.id)
            .where(m.Vehicle.registration_mark.startswith("SN"))
            .tuples()
        )
        drivers: dict[str, int] = _pairs(
            m.Driver.select(m.Driver.document_number, m.Driver.id)
            .where(m.Driver.document_number.startswith("SD"))
            .tuples()
        )
        for chunk in peewee.chunked(range(n), 500):
            rows = []
            for i in chunk:
                start = to_db(now + timedelta(minutes=30 + (i % 300)))
                rows.append(
                    {
                        "reference": f"SR{i}",
                        "driver": drivers[f"SD{i}"],
                        "vehicle": vehicles[f"SN{i}"],
                        "control_point": cp.id,
                        "direction": common_pb2.IMPORT,
                        "expected_arrival": start,
                        "slot_start": start,
                        "slot_end": start + timedelta(minutes=15),
                        "status": common_pb2.TRIP_BUNDLED,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            m.Trip.insert_many(rows).execute()
        trips: dict[str, int] = _pairs(
            m.Trip.select(m.Trip.reference, m.Trip.id).where(m.Trip.reference.startswith("SR")).tuples()
        )
        for chunk in peewee.chunked(range(n), 500):
            m.Consignment.insert_many(
                [
                    {
                        "ccrn": f"SC{i:09d}",
                        "company": company.id,
                        "idempotency_key": f"snap{i}",
                        "direction": common_pb2.IMPORT,
                        "control_point": cp.id,
                        "status": common_pb2.BUNDLED,
                        "packages_count": 1,
                        "package_description": "box",
                        "article_description": "lamps",
                        "consignor_name": "a",
                        "consignor_address": "b",
                        "consignee_name": "c",
                        "consignee_address": "d",
                        "expected_at": created,
                        "trip": trips[f"SR{i}"],
                        "created_at": created,
                        "updated_at": created,
                    }
                    for i in chunk
                ]
            ).execute()
            changes.LaneVerdict.insert_many(
                [
                    {
                        "scope": "consignment",
                        "key": f"SC{i:09d}",
                        "verdict": 1 + (i % 7 == 0),
                        "reasons": "[]",
                        "change_id": 0,
                    }
                    for i in chunk
                ]
            ).execute()


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="rocars-bench-sync-"))
    central: subprocess.Popen[bytes] | None = None
    clients: list[SyncClient] = []
    try:
        return run(work, clients, lambda p: globals().__setitem__("_central", p))
    finally:
        for c in clients:
            c.stop(timeout=2)
        central = globals().get("_central")
        if central is not None and central.poll() is None:
            os.killpg(central.pid, signal.SIGTERM)
            central.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


def run(work: Path, clients: list[SyncClient], keep: object) -> int:
    now = datetime.now(UTC)
    url = f"sqlite:///{work / 'central.db'}"
    init_database(url)
    _officer, officer_token, _ = bootstrap("BENCH-1", "Bench Officer", now)
    lanes = [
        (f"LMC-{'I' if i % 2 == 0 else 'X'}-{i:02d}", "LMC", "import" if i % 2 == 0 else "export")
        for i in range(LANES)
    ]
    cp_lmc = m.ControlPoint.get(m.ControlPoint.code == "LMC")
    cp_sbc = m.ControlPoint.get(m.ControlPoint.code == "SBC")
    for lane_id, _cp, direction in lanes:
        m.Lane.create(
            code=lane_id,
            control_point=cp_lmc,
            direction=1 if direction == "import" else 2,
            created_at=to_db(now),
        )
    m.Lane.create(code="SBC-I-01", control_point=cp_sbc, direction=1, created_at=to_db(now))
    certs = work / "pki"
    make_certs(certs, [*lanes, ("SBC-I-01", "SBC", "import")])

    port = free_port()
    (work / "central.toml").write_text("[sync]\nheartbeat_s = 5.0\n")
    central = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "rocars-central"),
            "--listen",
            "127.0.0.1:0",
            "--lane-listen",
            f"127.0.0.1:{port}",
            "--database",
            url,
            "--tls-cert",
            str(certs / "server.pem"),
            "--tls-key",
            str(certs / "server.key"),
            "--client-ca",
            str(certs / "ca.pem"),
            "--config",
            str(work / "central.toml"),
            "--lane-workers",
            str(LANES + 30),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=(work / "central.log").open("wb"),
        start_new_session=True,
        cwd=ROOT,
    )
    keep(central)  # type: ignore[operator]
    assert central.stdout is not None
    line = central.stdout.readline().decode()
    if "LISTENING" not in line:
        raise SystemExit(f"central did not start: {line!r}")
    api_port = int(line.split("port=")[1].split()[0])
    target = f"localhost:{port}"

    officer = stubs_for(open_channel(f"localhost:{api_port}", tls_ca=certs / "ca.pem"), officer_token)
    company = officer.registration.RegisterCompany(
        registration_pb2.RegisterCompanyRequest(
            company=registration_pb2.Company(
                kind=common_pb2.SHIPPER,
                brn="55556666",
                name="Bench Shipper",
                address="1 Road",
                contact_name="A",
                contact_phone="+852 1234 5678",
            )
        ),
        timeout=10,
    )
    company_stubs = stubs_for(
        open_channel(f"localhost:{api_port}", tls_ca=certs / "ca.pem"), company.api_token
    )

    # Baseline: a trivial authenticated unary RPC on the same server, same run.
    rtts = []
    for _ in range(200):
        t0 = time.perf_counter()
        officer.diagnostics.Echo(diagnostics_pb2.EchoRequest(message="x"), timeout=5)
        rtts.append((time.perf_counter() - t0) * 1000)

    # Inputs for the bundling stream (one driver each: a security code works once).
    inputs = []
    for i in range(BUNDLINGS):
        d = officer.registration.RegisterDriver(
            registration_pb2.RegisterDriverRequest(
                driver=registration_pb2.Driver(
                    document_number=f"H{70000000 + i}", name=f"Bench Driver {i}", card_number=f"BC{i:06d}"
                )
            ),
            timeout=10,
        )
        mark = f"BE {1000 + i}"
        officer.registration.RegisterVehicle(
            registration_pb2.RegisterVehicleRequest(
                vehicle=registration_pb2.Vehicle(registration_mark=mark, tag_epc=f"E2BE{i:020X}")
            ),
            timeout=10,
        )
        bundle_direction = common_pb2.IMPORT if i % 2 == 0 else common_pb2.EXPORT
        arrival = now + timedelta(hours=1, minutes=(i * 7) % 240)
        stamp = cargo_pb2.CargoDetails().expected_at.__class__()
        stamp.FromDatetime(arrival)
        c = company_stubs.cargo.SubmitConsignment(
            cargo_pb2.SubmitConsignmentRequest(
                idempotency_key=f"bench-{i:06d}",
                direction=bundle_direction,
                control_point="LMC",
                cargo=cargo_pb2.CargoDetails(
                    packages_count=3,
                    package_description="cartons",
                    article_description="LED desk lamps",
                    consignor_name="Shenzhen Co",
                    consignor_address="8 Futian Road",
                    consignee_name="Bench Shipper",
                    consignee_address="1 Road",
                    expected_at=stamp,
                ),
            ),
            timeout=10,
        )
        inputs.append((d, mark, bundle_direction, stamp, c.ccrn))

    # 50 lanes subscribe; each records when its cache holds a trip.
    held: dict[str, list[float]] = {}
    held_lock = threading.Lock()

    def on_message(msg: object) -> None:
        t = time.monotonic()
        with held_lock:
            for trip in msg.batch.trips:  # type: ignore[attr-defined]
                held.setdefault(trip.reference, []).append(t)

    for lane_id, cp, lane_direction in lanes:
        cache = LaneCache.open(work / "lanes" / f"{lane_id}.db", cp, Direction(lane_direction))
        client = SyncClient(cache, target, lane_tls(certs, lane_id), lane_id, on_message=on_message)
        clients.append(client)
        client.start()
    deadline = time.monotonic() + 120
    while any(c.cache.cursor() == "" for c in clients):
        if time.monotonic() > deadline:
            raise SystemExit("lanes did not finish their snapshots")
        time.sleep(0.05)

    returned: dict[str, float] = {}
    failures = 0
    for d, mark, trip_direction, stamp, ccrn in inputs:
        stub = stubs_for(officer.channel, d.api_token).bundling
        code = pyotp.TOTP(d.totp_secret).now()
        try:
            trip = stub.BundleTrip(
                bundling_pb2.BundleTripRequest(
                    idempotency_key=f"bundle-{ccrn}",
                    security_code=code,
                    vehicle_registration_mark=mark,
                    control_point="LMC",
                    direction=trip_direction,
                    expected_arrival=stamp,
                    ccrns=[ccrn],
                ),
                timeout=10,
            )
        except Exception as exc:  # count and carry on: the figure says how many failed
            failures += 1
            print(f"bundling failed: {exc}", file=sys.stderr)
            continue
        returned[trip.reference] = time.monotonic()
        time.sleep(BUNDLING_INTERVAL_S)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with held_lock:
            if all(len(held.get(r, [])) >= LANES // 2 for r in returned):
                break
        time.sleep(0.05)
    prop_ms: list[float] = []
    missing = 0
    with held_lock:
        for ref, t_ret in returned.items():
            times = held.get(ref, [])
            missing += max(0, LANES // 2 - len(times))
            prop_ms.extend(max(0.0, (t - t_ret) * 1000) for t in times)
    for c in clients:
        c.stop(timeout=2)

    # Cold start of one lane holding SNAPSHOT_TRIPS trips.
    seed_snapshot_trips(SNAPSHOT_TRIPS, now)
    # The bulk seed leaves ~100 MB in the WAL; a live database is checkpointed as it goes
    # (SQLite's auto-checkpoint), so do that here rather than time WAL look-ups.
    m.Trip._meta.database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    snap_cache = LaneCache.open(work / "lanes" / "SBC-I-01.db", "SBC", Direction.IMPORT)
    apply_s = [0.0]
    plain_commit = snap_cache.commit

    def timed_commit(prepared: Any) -> None:
        t = time.perf_counter()
        plain_commit(prepared)
        apply_s[0] += time.perf_counter() - t

    snap_cache.commit = timed_commit  # type: ignore[method-assign,assignment]
    ended = threading.Event()
    snap = SyncClient(
        snap_cache,
        target,
        lane_tls(certs, "SBC-I-01"),
        "SBC-I-01",
        on_message=lambda msg: ended.set() if msg.kind == 3 else None,
    )  # type: ignore[attr-defined]
    baseline_rows_per_s = sqlite_baseline(work / "baseline.db", SNAPSHOT_TRIPS)
    t0 = time.monotonic()
    snap.start()
    clients.append(snap)
    ended.wait(300)
    snapshot_s = time.monotonic() - t0
    snap.stop(timeout=2)
    snapshot_trips = snap_cache.counts()["Trip"]

    # Outbox: record durably, then deliver.
    ob_cache = LaneCache.open(work / "lanes" / "outbox.db", "LMC", Direction.IMPORT)
    outbox = Outbox(ob_cache, lanes[0][0])
    t0 = time.monotonic()
    for i in range(OUTBOX_EVENTS):
        outbox.record(
            CrossingRecord(
                idempotency_key=f"{lanes[0][0]}-bench-{i}",
                lane_id=lanes[0][0],
                control_point="LMC",
                direction=Direction.IMPORT,
                sequence=i,
                outcome=Outcome.REFERRED,
                decided_at=time.time(),
                arrived_at=None,
                trip_id=None,
                vehicle_id=None,
                registration_mark=None,
                tag_epc=None,
                plate=None,
                driver_id=None,
                card_number=None,
                verdict=None,
                ccrns=(),
                reasons=(),
            )
        )
    record_s = time.monotonic() - t0
    sender = OutboxSender(
        outbox, target, lane_tls(certs, lanes[0][0]), batch_size=200, backoff=Backoff(0.05, 1)
    )
    t0 = time.monotonic()
    sender.start()
    while outbox.pending_count() and time.monotonic() - t0 < 120:
        time.sleep(0.01)
    deliver_s = time.monotonic() - t0
    sender.stop()

    figures = {
        "lanes": LANES,
        "bundlings": len(returned),
        "bundling_failures": failures,
        "lane_deliveries_missing": missing,
        "propagation_p50_ms": round(pct(prop_ms, 50), 1),
        "propagation_p99_ms": round(pct(prop_ms, 99), 1),
        "propagation_max_ms": round(max(prop_ms), 1) if prop_ms else None,
        "snapshot_trips": snapshot_trips,
        "snapshot_s": round(snapshot_s, 2),
        "snapshot_lane_commit_s": round(apply_s[0], 2),
        "snapshot_trips_per_s": round(snapshot_trips / snapshot_s) if snapshot_s else 0,
        "baseline_sqlite_rows_per_s": round(baseline_rows_per_s),
        "snapshot_over_sqlite_baseline": round(snapshot_trips / snapshot_s / baseline_rows_per_s, 3),
        "outbox_events": OUTBOX_EVENTS,
        "outbox_record_per_s": round(OUTBOX_EVENTS / record_s),
        "outbox_events_per_s": round(OUTBOX_EVENTS / deliver_s),
        "baseline_unary_rpc_p50_ms": round(statistics.median(rtts), 2),
        "propagation_p50_over_baseline": round(pct(prop_ms, 50) / statistics.median(rtts), 1),
        "target_propagation_p99_ms": 500,
        "target_snapshot_trips_per_s": 20000,
    }
    print(f"{'figure':34} value")
    for key, value in figures.items():
        print(f"{key:34} {value}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
