"""A real central server for tests of any area, on SQLite or PostgreSQL, with a clock
the test moves, an officer token, and helpers that register a small world through the
real API.

    def test_x(central: CentralUnderTest) -> None:
        world = central.world()
        reply = central.as_company(world.company_token).cargo.SubmitConsignment(...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pyotp

from central.api.convert import ts
from central.api.registry import SERVICER_MODULES, ServerConfig
from central.client import Stubs, open_channel, stubs_for
from central.clock import SettableClock
from central.server import ServerHandle, TlsFiles, start_server
from central.services.bootstrap import bootstrap
from central.store.db import close_all
from proto.rocars.v1 import cargo_pb2, common_pb2, registration_pb2

# Servicers the shared fixtures start: all but the lane feed, whose background
# change watcher outlives a stopped server until central.sync registers it with
# ServerContext.on_shutdown (it polls every 50 ms and holds a pooled connection).
# Tests of the feed start their own servers with it.
TEST_MODULES = [m for m in SERVICER_MODULES if m != "central.sync.api"]

# A Monday morning, on a slot boundary, far from any real date.
T0 = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


@dataclass
class World:
    """One of each party, registered through the API."""

    company_id: int
    company_token: str
    other_company_id: int
    other_company_token: str
    driver_id: int
    driver_token: str
    driver_secret: str
    other_driver_id: int
    other_driver_token: str
    other_driver_secret: str
    vehicle_mark: str
    other_vehicle_mark: str
    lane_code: str
    control_point: str = "LMC"


@dataclass
class CentralUnderTest:
    handle: ServerHandle
    clock: SettableClock
    officer_token: str
    database_url: str
    tls: TlsFiles | None = None  # set when the server runs with TLS (client_ca = the CA)
    _channels: list[grpc.Channel] = field(default_factory=list)
    _counter: int = 0

    @property
    def address(self) -> str:
        return f"localhost:{self.handle.port}" if self.tls else self.handle.address

    def channel(
        self, *, lane: bool = False, client_cert: Path | None = None, client_key: Path | None = None
    ) -> grpc.Channel:
        """A channel closed with the fixture: to the token listener, or (``lane``) to
        the mutual-TLS listener with the given client certificate."""
        if lane:
            assert self.tls is not None and self.handle.lane_port
            channel = open_channel(
                f"localhost:{self.handle.lane_port}",
                tls_ca=self.tls.client_ca,
                client_cert=client_cert,
                client_key=client_key,
            )
        else:
            channel = open_channel(self.address, tls_ca=self.tls.client_ca if self.tls else None)
        self._channels.append(channel)
        return channel

    def stubs(self, token: str | None) -> Stubs:
        return stubs_for(self.channel(), token)

    def as_officer(self) -> Stubs:
        return self.stubs(self.officer_token)

    def close(self) -> None:
        for channel in self._channels:
            channel.close()

    def totp(self, secret: str) -> str:
        """The code a driver's authenticator shows now (by the server's clock)."""
        return pyotp.TOTP(secret).at(self.clock.now())

    def next_totp(self, secret: str) -> str:
        """A fresh code: moves the clock to the next 30 s step (a code works once)."""
        self.clock.advance(timedelta(seconds=30))
        return self.totp(secret)

    def unique(self) -> int:
        self._counter += 1
        return self._counter

    def world(self) -> World:
        officer = self.as_officer()
        reg = officer.registration
        c1 = reg.RegisterCompany(
            registration_pb2.RegisterCompanyRequest(
                company=registration_pb2.Company(
                    kind=common_pb2.SHIPPER,
                    brn="12345678",
                    name="Pearl River Shippers Ltd",
                    address="1 Harbour Road, HK",
                    contact_name="Ada Chan",
                    contact_phone="+852 2345 6789",
                    contact_email="ops@prs.example",
                )
            ),
            timeout=10,
        )
        c2 = reg.RegisterCompany(
            registration_pb2.RegisterCompanyRequest(
                company=registration_pb2.Company(
                    kind=common_pb2.FREIGHT_FORWARDER,
                    brn="87654321",
                    name="Kowloon Forwarding Co",
                    address="2 Canton Road, HK",
                    contact_name="Bo Lee",
                    contact_phone="+852 3456 7890",
                )
            ),
            timeout=10,
        )
        d1 = reg.RegisterDriver(
            registration_pb2.RegisterDriverRequest(
                driver=registration_pb2.Driver(
                    document_number="A123456(3)", name="Chan Tai Man", card_number="CARD-0001"
                )
            ),
            timeout=10,
        )
        d2 = reg.RegisterDriver(
            registration_pb2.RegisterDriverRequest(
                driver=registration_pb2.Driver(
                    document_number="H12345678", name="Li Wei", card_number="CARD-0002"
                )
            ),
            timeout=10,
        )
        reg.RegisterVehicle(
            registration_pb2.RegisterVehicleRequest(
                vehicle=registration_pb2.Vehicle(
                    registration_mark="AB 1234",
                    tag_epc="E28011700000020A1B2C3D4E",
                    owner_company_id=c1.company.id,
                )
            ),
            timeout=10,
        )
        reg.RegisterVehicle(
            registration_pb2.RegisterVehicleRequest(
                vehicle=registration_pb2.Vehicle(
                    registration_mark="FU 88", mainland_plate="粤Z1234港", tag_epc="E28011700000020A1B2C3D4F"
                )
            ),
            timeout=10,
        )
        reg.RegisterLane(
            registration_pb2.RegisterLaneRequest(
                lane=registration_pb2.Lane(code="LMC-I-01", control_point="LMC", direction=common_pb2.IMPORT)
            ),
            timeout=10,
        )
        return World(
            company_id=c1.company.id,
            company_token=c1.api_token,
            other_company_id=c2.company.id,
            other_company_token=c2.api_token,
            driver_id=d1.driver.id,
            driver_token=d1.api_token,
            driver_secret=d1.totp_secret,
            other_driver_id=d2.driver.id,
            other_driver_token=d2.api_token,
            other_driver_secret=d2.totp_secret,
            vehicle_mark="AB1234",
            other_vehicle_mark="FU88",
            lane_code="LMC-I-01",
        )


def cargo(expected_at: datetime, **overrides: object) -> cargo_pb2.CargoDetails:
    """A valid cargo data set; override any field."""
    fields: dict[str, object] = dict(
        packages_count=12,
        package_description="cartons",
        article_description="LED desk lamps",
        consignor_name="Shenzhen Bright Lighting Co",
        consignor_address="8 Futian Road, Shenzhen",
        consignee_name="Pearl River Shippers Ltd",
        consignee_address="1 Harbour Road, Hong Kong",
        expected_at=ts(expected_at),
    )
    fields.update(overrides)
    return cargo_pb2.CargoDetails(**fields)  # type: ignore[arg-type]


def submit_request(
    key: str,
    expected_at: datetime,
    control_point: str = "LMC",
    direction: int = common_pb2.IMPORT,
    **overrides: object,
) -> cargo_pb2.SubmitConsignmentRequest:
    return cargo_pb2.SubmitConsignmentRequest(
        idempotency_key=key,
        direction=direction,  # type: ignore[arg-type]
        control_point=control_point,
        cargo=cargo(expected_at, **overrides),
    )


@contextlib.contextmanager
def running_central(
    database_url: str,
    *,
    config: ServerConfig | None = None,
    start: datetime = T0,
    badge: str = "OFF-001",
    modules: list[str] | None = None,
    tls: TlsFiles | None = None,
) -> Iterator[CentralUnderTest]:
    """Start central in-process on ``database_url`` with a settable clock and a
    bootstrapped officer; stop it (and close client channels) at the end. ``modules``
    limits the servicers (default: every one in central.api.registry). With ``tls``
    (whose ``client_ca`` must also have signed the server certificate) both listeners
    use TLS and the lane listener requires client certificates."""
    clock = SettableClock(start)
    handle = start_server(
        database_url,
        clock=clock,
        config=config or ServerConfig(token_cache_seconds=0),
        call_workers=8,
        modules=modules,
        tls=tls,
        lane_listen="127.0.0.1:0" if tls else None,
    )
    try:
        _officer, token, _created = bootstrap(badge, "Officer Wong", clock.now())
        under_test = CentralUnderTest(handle, clock, token, database_url, tls)
        try:
            yield under_test
        finally:
            under_test.close()
    finally:
        handle.stop(grace=1.0)
        close_all()


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'central.db'}"
