"""Seeding a simulated checkpoint over central's public gRPC API, as its users would.

The officer (token from ``rocars bootstrap``) registers companies, drivers (with the card
numbers of the simulator's standard driver cards), vehicles (plate and RFID tag) and the
lanes; a company files consignments and gets CCRNs; a driver bundles them to a vehicle with
the security code of their authenticator (RFC 6238), as the physical token does. An
officer's keyword rule selects dangerous goods for inspection. Nothing here touches
central's database or code: only ``proto/rocars/v1`` stubs over a channel.

A driver's code can be spent once per 30-second step (one step of drift each way), so
one driver bundles three trips at once and then one per step: ``Bundler`` spends codes in
that order and waits for the next step only when it must.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pyotp
from google.protobuf.timestamp_pb2 import Timestamp

from proto.rocars.v1 import (
    bundling_pb2,
    bundling_pb2_grpc,
    cargo_pb2,
    cargo_pb2_grpc,
    common_pb2,
    officer_pb2,
    officer_pb2_grpc,
    registration_pb2,
    registration_pb2_grpc,
    sync_pb2,
    sync_pb2_grpc,
)

log = logging.getLogger(__name__)

RPC_TIMEOUT_S = 10.0
LEAD = dt.timedelta(minutes=35)  # bundling and filing need at least 30 minutes' notice

# The simulator's standard driver cards (simulators.card.issuer.standard_cards): their
# card numbers are what the kiosk reads and looks up.
CARD_NUMBERS = {"good": "4000123456789012", "second": "4000987654321098"}
DRIVER_NAMES = {"good": "CHAN Tai Man", "second": "LI Siu Ming"}


def hkid(letter: str, digits: str) -> str:
    """A Hong Kong identity card number with its check digit (e.g. ``A123456(3)``)."""
    values = [36, ord(letter) - 55] + [int(d) for d in digits]
    total = sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return f"{letter}{digits}({'A' if check == 10 else check})"


DRIVER_DOCS = {"good": hkid("K", "123456"), "second": hkid("R", "765432")}
STANDARD_DRIVERS = {
    label: (CARD_NUMBERS[label], DRIVER_DOCS[label], DRIVER_NAMES[label]) for label in CARD_NUMBERS
}


def epc_for(n: int) -> str:
    """A 96-bit EPC (24 hex digits) for the n-th simulated vehicle tag."""
    return f"E2801160{n:016X}"


def stamp(when: dt.datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when.astimezone(dt.UTC).replace(tzinfo=None))
    return ts


class _Bearer(grpc.UnaryUnaryClientInterceptor):
    """``authorization: Bearer ...`` on every call (a plaintext loopback channel refuses
    gRPC call credentials)."""

    def __init__(self, token: str) -> None:
        self.header = ("authorization", f"Bearer {token}")

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        metadata = [m for m in (details.metadata or []) if m[0] != "authorization"]
        return continuation(_Details(details, [*metadata, self.header]), request)


class _Details(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: Any) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class Api:
    """Stubs for one account (its token) over one channel to central's token listener."""

    def __init__(self, channel: grpc.Channel, token: str) -> None:
        authed = grpc.intercept_channel(channel, _Bearer(token))
        self.registration = registration_pb2_grpc.RegistrationStub(authed)
        self.cargo = cargo_pb2_grpc.CargoStub(authed)
        self.bundling = bundling_pb2_grpc.BundlingStub(authed)
        self.risk = officer_pb2_grpc.RiskStub(authed)
        self.crossings = sync_pb2_grpc.CrossingsStub(authed)


@dataclass
class Vehicle:
    plate: str
    tag: str


@dataclass
class Seeded:
    officer: Api
    companies: list[Api]
    drivers: dict[str, tuple[Api, str]]  # card label -> (api, TOTP secret)
    vehicles: list[Vehicle]
    control_point: str
    direction: Any  # rocars.v1.Direction
    ccrn_count: int = 0
    trips: dict[str, str] = field(default_factory=dict)  # plate -> trip reference


def seed(
    channel: grpc.Channel,
    officer_token: str,
    lane_ids: list[str],
    *,
    control_point: str = "LMC",
    direction: str = "import",
    vehicles: int = 24,
    drivers: dict[str, tuple[str, str, str]] | None = None,
) -> Seeded:
    """``drivers``: card label -> (card number, document number, name) of each driver to
    register (default: the holders of the standard ``good`` and ``second`` cards)."""
    officer = Api(channel, officer_token)
    holders = drivers if drivers is not None else STANDARD_DRIVERS
    direction_pb = common_pb2.IMPORT if direction == "import" else common_pb2.EXPORT
    reg = officer.registration
    for lane_id in lane_ids:
        reg.RegisterLane(
            registration_pb2.RegisterLaneRequest(
                lane=registration_pb2.Lane(
                    code=lane_id,
                    control_point=control_point,
                    direction=direction_pb,
                    description=f"simulated cargo lane {lane_id}",
                )
            ),
            timeout=RPC_TIMEOUT_S,
        )
    companies = []
    for n, (name, kind) in enumerate(
        (
            ("Pearl River Freight Ltd", common_pb2.FREIGHT_FORWARDER),
            ("Kowloon Electronics Trading Co", common_pb2.SHIPPER),
        )
    ):
        reply = reg.RegisterCompany(
            registration_pb2.RegisterCompanyRequest(
                company=registration_pb2.Company(
                    kind=kind,
                    brn=f"{31000000 + n:08d}",
                    name=name,
                    address=f"{n + 1} Canton Road, Kowloon",
                    contact_name="Operations desk",
                    contact_phone=f"+852 2100 {1000 + n}",
                )
            ),
            timeout=RPC_TIMEOUT_S,
        )
        companies.append(Api(channel, reply.api_token))
    registered = {}
    for label, (card_number, document_number, name) in holders.items():
        reply = reg.RegisterDriver(
            registration_pb2.RegisterDriverRequest(
                driver=registration_pb2.Driver(
                    document_number=document_number,
                    name=name,
                    card_number=card_number,
                    phone="+852 9100 0000",
                )
            ),
            timeout=RPC_TIMEOUT_S,
        )
        registered[label] = (Api(channel, reply.api_token), reply.totp_secret)
    fleet = []
    for n in range(vehicles):
        vehicle = Vehicle(
            plate=f"{'ABCDEFGHJK'[n % 10]}{'RSTUVW'[n // 10 % 6]}{1000 + 37 * n}", tag=epc_for(n + 1)
        )
        reg.RegisterVehicle(
            registration_pb2.RegisterVehicleRequest(
                vehicle=registration_pb2.Vehicle(registration_mark=vehicle.plate, tag_epc=vehicle.tag)
            ),
            timeout=RPC_TIMEOUT_S,
        )
        fleet.append(vehicle)
    # Dangerous goods go to the inspection bay: a rule officers keep as data.
    rule = (
        '{"id":"dg-lithium","kind":"keyword","owner":"Dangerous goods unit","verdict":"inspect",'
        '"description":"lithium batteries are inspected","params":{"keywords":["lithium"]}}'
    )
    officer.risk.ChangeRules(
        officer_pb2.ChangeRulesRequest(put_json=[rule], comment="checkpoint seeding"), timeout=RPC_TIMEOUT_S
    )
    return Seeded(officer, companies, registered, fleet, control_point, direction_pb)


def retrying(what: str, call: Callable[[], Any], timeout: float = 90.0) -> Any:
    """``call()`` again while central is unreachable (it may be down for a while),
    backoff doubling from 0.2 s to a 3 s cap; other errors go straight up."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            return call()
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() + delay > deadline:
                raise
            log.info("%s: central unavailable; retrying in %.1f s", what, delay)
            time.sleep(delay)
            delay = min(delay * 2, 3.0)


def file_cargo(seeded: Seeded, *, dangerous: bool = False, company: int = 0) -> str:
    """One consignment filed by a company; its CCRN."""
    seeded.ccrn_count += 1
    n = seeded.ccrn_count
    when = dt.datetime.now(dt.UTC) + LEAD
    articles = "lithium batteries for power tools" if dangerous else "cotton shirts and trousers"
    request = cargo_pb2.SubmitConsignmentRequest(
            idempotency_key=f"checkpoint-{n:06d}-{time.time_ns() % 10**9}",
            direction=seeded.direction,
            control_point=seeded.control_point,
            cargo=cargo_pb2.CargoDetails(
                packages_count=10 + n,
                package_description="cartons",
                article_description=articles,
                consignor_name="Shenzhen Bright Manufacturing Co",
                consignor_address="8 Futian Road, Shenzhen",
                consignee_name="Harbour Retail Ltd",
                consignee_address="20 Des Voeux Road, Central",
                expected_at=stamp(when),
                gross_weight_kg=f"{500 + n}.5",
            ),
        )
    api = seeded.companies[company % len(seeded.companies)]
    # The same idempotency key on every retry: a reply lost to an outage files nothing twice.
    reply = retrying("filing cargo", lambda: api.cargo.SubmitConsignment(request, timeout=RPC_TIMEOUT_S))
    return str(reply.ccrn)


class Bundler:
    """Spends each driver's security codes in the order central accepts them (step-1, step,
    step+1, then one per new step); thread-safe."""

    def __init__(self, seeded: Seeded) -> None:
        self.seeded = seeded
        self._last_step: dict[str, int] = {}
        self._lock = threading.Lock()

    def _code(self, label: str, deadline: float) -> str:
        totp = pyotp.TOTP(self.seeded.drivers[label][1])
        while True:
            with self._lock:
                now_step = totp.timecode(dt.datetime.now(dt.UTC))
                step = max(self._last_step.get(label, now_step - 2) + 1, now_step - 1)
                if step <= now_step + 1:
                    self._last_step[label] = step
                    return str(totp.generate_otp(step))
            if time.monotonic() > deadline:
                raise TimeoutError(f"driver {label}: no security code free before the deadline")
            time.sleep(0.5)

    def bundle(self, label: str, vehicle: Vehicle, ccrns: list[str], timeout: float = 90.0) -> str:
        """Bundle ``ccrns`` to ``vehicle`` for driver ``label``; the trip reference."""
        deadline = time.monotonic() + timeout
        api = self.seeded.drivers[label][0]
        when = dt.datetime.now(dt.UTC) + LEAD
        key = f"trip-{vehicle.plate}-{time.time_ns() % 10**12}"  # the same on every retry
        delay = 0.2
        while True:
            code = self._code(label, deadline)
            try:
                trip = api.bundling.BundleTrip(
                    bundling_pb2.BundleTripRequest(
                        idempotency_key=key,
                        security_code=code,
                        vehicle_registration_mark=vehicle.plate,
                        control_point=self.seeded.control_point,
                        direction=self.seeded.direction,
                        expected_arrival=stamp(when),
                        ccrns=ccrns,
                    ),
                    timeout=RPC_TIMEOUT_S,
                )
            except grpc.RpcError as exc:
                # A code another client spent first: take the next one.
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED and time.monotonic() < deadline:
                    log.info("bundling for %s: %s; retrying with the next code", vehicle.plate, exc.details())
                    continue
                if exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() + delay < deadline:
                    time.sleep(delay)  # central is down: wait for it, backoff doubling to a cap
                    delay = min(delay * 2, 3.0)
                    continue
                raise
            self.seeded.trips[vehicle.plate] = trip.reference
            return str(trip.reference)

    def unbundle(self, label: str, reference: str, timeout: float = 90.0) -> None:
        """The driver cancels the trip (the truck will arrive with nothing bundled)."""
        deadline = time.monotonic() + timeout
        api = self.seeded.drivers[label][0]
        while True:
            try:
                api.bundling.UnbundleTrip(
                    bundling_pb2.UnbundleTripRequest(
                        trip_reference=reference, security_code=self._code(label, deadline)
                    ),
                    timeout=RPC_TIMEOUT_S,
                )
                return
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED and time.monotonic() < deadline:
                    continue
                if exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() + 1.0 < deadline:
                    time.sleep(1.0)
                    continue
                raise


def trip_statuses(officer: Api, control_point: str) -> dict[str, int]:
    """Trip reference -> TripStatus, as central's officer query shows them."""
    out: dict[str, int] = {}
    token = ""
    while True:
        reply = officer.bundling.ListTrips(
            bundling_pb2.ListTripsRequest(
                page=common_pb2.PageRequest(page_size=500, page_token=token), control_point=control_point
            ),
            timeout=RPC_TIMEOUT_S,
        )
        out.update({t.reference: t.status for t in reply.trips})
        token = reply.next_page_token
        if not token:
            return out


def crossing_event_count(officer: Api, control_point: str = "") -> int:
    """Crossing events central stored (all, or one control point's), by the officer query."""
    reply = officer.crossings.CountCrossingEvents(
        sync_pb2.CountCrossingEventsRequest(
            filter=sync_pb2.CrossingFilter(control_points=[control_point] if control_point else [])
        ),
        timeout=RPC_TIMEOUT_S,
    )
    return int(reply.total)


def trip_verdict(officer: Api, reference: str) -> int:
    return int(
        officer.risk.Explain(
            officer_pb2.ExplainRequest(trip_reference=reference), timeout=RPC_TIMEOUT_S
        ).verdict
    )
