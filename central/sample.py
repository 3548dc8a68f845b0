"""``python -m central.sample``: the central service in one scripted run, told in plain
language.

Starts ``rocars-central`` as a real process on a SQLite file in a temporary directory,
bootstraps the first officer, registers a company, a driver, a vehicle and a lane,
files two consignments, bundles them to the truck, shows the trip and its crossing
slot, and stops the server with SIGTERM (graceful shutdown). Every step goes over gRPC
exactly as any client would. ``--keep DIR`` keeps the database there.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp

from central import ids
from central.api.convert import ts_of
from central.cli.client import HONG_KONG
from central.client import Stubs, open_channel, stubs_for
from proto.rocars.v1 import bundling_pb2, cargo_pb2, common_pb2, registration_pb2

STARTUP_TIMEOUT_S = 30


def say(step: str, text: str) -> None:
    print(f"\n[{step}] {text}", flush=True)


def detail(text: str) -> None:
    print(f"      {text}", flush=True)


def hk(when: datetime) -> str:
    return when.astimezone(HONG_KONG).strftime("%Y-%m-%d %H:%M HKT")


@contextmanager
def central_process(database: Path) -> Iterator[str]:
    """Run rocars-central on a free port; yield its address; SIGTERM it at the end."""
    cmd = [
        sys.executable,
        "-m",
        "central.server",
        "--listen",
        "127.0.0.1:0",
        "--database",
        f"sqlite:///{database}",
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        assert proc.stdout is not None
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("LISTENING") or proc.poll() is not None:
                break
        match = re.search(r"port=(\d+)", line)
        if not match:
            err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
            raise RuntimeError(f"rocars-central did not start: {line!r} {err[-2000:]}")
        yield f"127.0.0.1:{match.group(1)}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(timeout=20)
                say(
                    "stop",
                    f"Server stopped on SIGTERM (exit code {code}): calls in flight were allowed to finish.",
                )
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
                say("stop", "Server did not stop within 20 s of SIGTERM and was killed.")


def bootstrap(database: Path) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "central.cli.app",
            "bootstrap",
            "--database",
            f"sqlite:///{database}",
            "--badge",
            "C-1001",
            "--name",
            "Officer Wong Ka Ming",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    data = json.loads(out.stdout)
    say("1", "Bootstrap: the first customs officer is created directly on the database.")
    detail(
        "Officer Wong Ka Ming, badge C-1001; control points created: "
        f"{', '.join(data['control_points_created'])}."
    )
    detail("Their API token was printed once and is stored only as a SHA-256 hash.")
    return str(data["api_token"])


def run(workdir: Path) -> int:
    database = workdir / "central.db"
    print("ROCARS central, scripted sample")
    print(f"Database: {database}")
    officer_token = bootstrap(database)
    with central_process(database) as address:
        say("2", f"rocars-central is listening on {address} (gRPC, health and reflection enabled).")
        with open_channel(address) as channel:
            officer = stubs_for(channel, officer_token)
            return story(channel, officer)


def story(channel: object, officer: Stubs) -> int:
    reg = officer.registration
    company = reg.RegisterCompany(
        registration_pb2.RegisterCompanyRequest(
            company=registration_pb2.Company(
                kind=common_pb2.FREIGHT_FORWARDER,
                brn="31415926",
                name="Harbour Freight Forwarding Ltd",
                address="88 Container Port Road, Kwai Chung",
                contact_name="Ada Chan",
                contact_phone="+852 2345 6789",
                contact_email="ops@harbour-freight.example",
            )
        ),
        timeout=10,
    )
    say("3", f"The officer registers the forwarder {company.company.name} (BRN {company.company.brn}).")
    detail("It receives its own API token, shown once.")
    driver = reg.RegisterDriver(
        registration_pb2.RegisterDriverRequest(
            driver=registration_pb2.Driver(
                document_number="A123456(3)",
                name="Chan Tai Man",
                card_number="HKIC-A1234563",
                phone="+852 9123 4567",
            )
        ),
        timeout=10,
    )
    say("4", f"The officer registers driver {driver.driver.name} (HKID {driver.driver.document_number}).")
    detail("He receives an API token and a security-code secret for his authenticator app,")
    detail("the software form of the physical ROCARS security token; bundling needs the current code.")
    vehicle = reg.RegisterVehicle(
        registration_pb2.RegisterVehicleRequest(
            vehicle=registration_pb2.Vehicle(
                registration_mark="LV 2046",
                mainland_plate="粤Z8888港",
                tag_epc="E2801170000002A1B2C3D4E5",
                owner_company_id=company.company.id,
            )
        ),
        timeout=10,
    )
    say(
        "5",
        f"The officer registers the truck {vehicle.registration_mark} "
        f"(Mainland plate {vehicle.mainland_plate}, RFID tag {vehicle.tag_epc}).",
    )
    lane = reg.RegisterLane(
        registration_pb2.RegisterLaneRequest(
            lane=registration_pb2.Lane(
                code="LMC-I-01",
                control_point="LMC",
                direction=common_pb2.IMPORT,
                description="Lok Ma Chau, import kiosk 1",
            )
        ),
        timeout=10,
    )
    say("6", f"The officer registers kiosk lane {lane.code} at {lane.control_point} (import).")
    detail("Lanes authenticate with client certificates (rocars pki), not tokens.")

    forwarder = stubs_for(channel, company.api_token)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    crossing = (now + timedelta(hours=3)).replace(second=0, microsecond=0)
    ccrns = []
    requests = []
    for key, count, kind, articles in (
        ("PO-2046-001", 48, "cartons", "LED desk lamps, 240 V"),
        ("PO-2046-002", 6, "pallets", "Stainless steel cookware"),
    ):
        requests.append(
            cargo_pb2.SubmitConsignmentRequest(
                idempotency_key=key,
                direction=common_pb2.IMPORT,
                control_point="LMC",
                cargo=cargo_pb2.CargoDetails(
                    packages_count=count,
                    package_description=kind,
                    article_description=articles,
                    consignor_name="Shenzhen Bright Home Co",
                    consignor_address="18 Futian Road, Shenzhen",
                    consignee_name="Kowloon Household Retail Ltd",
                    consignee_address="2 Canton Road, Tsim Sha Tsui",
                    expected_at=ts_of(crossing),
                    gross_weight_kg="1250.5",
                    declared_value="98000.00",
                    currency="HKD",
                    hs_code="9405.21",
                    container_numbers=["CSQU3054383"],
                ),
            )
        )
        reply = forwarder.cargo.SubmitConsignment(requests[-1], timeout=10)
        ccrns.append(reply.ccrn)
        say("7", f"The forwarder files advance cargo information ({count} {kind} of {articles}).")
        detail(f"Central answers with CCRN {ids.format_ccrn(reply.ccrn)}: 12 digits, the last a check digit,")
        detail("so a mistyped CCRN is refused before any look-up.")
    again = forwarder.cargo.SubmitConsignment(requests[0], timeout=10)
    say("8", "The forwarder's system retries the first submission (same idempotency key):")
    detail(f"the same CCRN comes back ({ids.format_ccrn(again.ccrn)}); nothing is filed twice.")

    trucker = stubs_for(channel, driver.api_token)  # type: ignore[arg-type]
    code = pyotp.TOTP(driver.totp_secret).now()
    arrival = crossing
    trip = trucker.bundling.BundleTrip(
        bundling_pb2.BundleTripRequest(
            idempotency_key="trip-LV2046-1",
            security_code=code,
            vehicle_registration_mark="LV 2046",
            control_point="LMC",
            direction=common_pb2.IMPORT,
            expected_arrival=ts_of(arrival),
            ccrns=ccrns,
        ),
        timeout=10,
    )
    say(
        "9",
        f"Driver Chan bundles both CCRNs to {trip.vehicle_registration_mark}, using security code {code}.",
    )
    detail(f"Trip {trip.reference}; expected at Lok Ma Chau {hk(arrival)}.")
    slot = trip.slot_start.ToDatetime(tzinfo=UTC)
    slot_end = trip.slot_end.ToDatetime(tzinfo=UTC)
    detail(
        f"Crossing slot {hk(slot)} to {slot_end.astimezone(HONG_KONG):%H:%M}"
        + (" (the wanted slot was full; this is the next free one)." if trip.slot_moved else ".")
    )
    status = forwarder.cargo.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=ccrns[0]), timeout=10)
    say(
        "10",
        f"The forwarder checks CCRN {ids.format_ccrn(status.ccrn)}: status "
        f"{common_pb2.ConsignmentStatus.Name(status.status).lower()}, on trip {status.trip_reference}.",
    )
    try:
        trucker.cargo.SubmitConsignment(cargo_pb2.SubmitConsignmentRequest(), timeout=10)
    except Exception as exc:  # grpc.RpcError
        say("11", "The driver tries to file cargo himself and is refused by role:")
        detail(f"{getattr(exc, 'code', lambda: '?')()}: {getattr(exc, 'details', lambda: '')()}")
    print("\nDone: registration, advance cargo information, idempotent retry, bundling with a security code,")
    print("a crossing slot and role-based refusal, all over the real gRPC API.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m central.sample", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--keep", type=Path, help="keep the database in this directory")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return run(args.keep)
    with tempfile.TemporaryDirectory(prefix="rocars-sample-") as tmp:
        return run(Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
