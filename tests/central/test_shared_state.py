"""State that must hold across central processes sharing one database: two real
``rocars-central`` processes on one SQLite file, with the token cache's TTL set to a
minute, so only the shared cache epoch (not the TTL) can make the second process see
a change made through the first within the bounds asserted here; and wrong security
codes counted in the database, so spreading guesses over processes gains nothing."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pyotp
import pytest

from central.api.convert import ts
from central.client import Stubs, open_channel, stubs_for
from central.services.bootstrap import bootstrap
from central.services.principal import COMPANY, Principal
from central.services.tokens import TokenCache
from central.store.db import close_all
from central.store.schema import init_database
from proto.rocars.v1 import bundling_pb2, common_pb2, registration_pb2

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
# Far below both TTLs in play (tokens: 60 s from the config below; control points: 5 s)
# and far above the epoch's 50 ms poll, so the test tells the two mechanisms apart.
EPOCH_BOUND_S = 2.0
CONFIG = "[central]\ntoken_cache_seconds = 60\nexpected_lanes = 2\n"


@dataclass
class CentralProcess:
    """One ``python -m central.server`` child; ``stop()`` is safe to call twice."""

    proc: subprocess.Popen[str]
    port: int
    _channels: list[grpc.Channel] = field(default_factory=list)

    def stubs(self, token: str | None) -> Stubs:
        channel = open_channel(f"127.0.0.1:{self.port}")
        self._channels.append(channel)
        return stubs_for(channel, token)

    def stop(self) -> None:
        for channel in self._channels:
            channel.close()
        self._channels.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_central(database_url: str, config: Path, env: dict[str, str] | None = None) -> CentralProcess:
    """Start a central process and wait for its ``LISTENING port=...`` line."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "central.server",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database_url,
            "--config",
            str(config),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    found: list[int] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("LISTENING port="):
                found.append(int(line.split()[1].split("=")[1]))
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not found:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"central did not print LISTENING within {START_TIMEOUT_S} s")
    return CentralProcess(proc, found[0])


def bootstrap_database(url: str) -> str:
    """Create the schema, Hong Kong's control points and the first officer; returns the
    officer's token. Done here, not through a server, so both servers start equal."""
    init_database(url)
    try:
        _officer, token, _created = bootstrap("OFF-001", "Officer Wong", datetime.now(UTC))
    finally:
        close_all()
    return token


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_centrals(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[CentralProcess, CentralProcess, str]]:
    """Two central processes on one database (a SQLite file, or a throwaway PostgreSQL
    database), and the officer's token."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    else:
        url = str(request.getfixturevalue("postgres_cluster").create_database())
    with centrals(url, tmp_path, CONFIG) as (a, b, officer):
        yield a, b, officer


@contextlib.contextmanager
def centrals(
    url: str, tmp_path: Path, config_text: str
) -> Iterator[tuple[CentralProcess, CentralProcess, str]]:
    """Two central processes on a bootstrapped database with the given ``[central]``
    configuration, and the officer's token; both stopped on the way out."""
    officer = bootstrap_database(url)
    config = tmp_path / "central.toml"
    config.write_text(config_text)
    started: list[CentralProcess] = []
    try:
        started.append(start_central(url, config))
        started.append(start_central(url, config))
        yield started[0], started[1], officer
    finally:
        for process in started:
            process.stop()


def within(bound_s: float, condition: Callable[[], bool]) -> float:
    """Seconds until ``condition()`` holds; fails after ``bound_s``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > bound_s:
            raise AssertionError(f"not within {bound_s} s")
        time.sleep(0.01)
    return time.monotonic() - started


def refused(call: Callable[[], object]) -> bool:
    try:
        call()
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAUTHENTICATED, exc
        return True
    return False


def register_company(officer: Stubs) -> registration_pb2.RegisterCompanyReply:
    return officer.registration.RegisterCompany(
        registration_pb2.RegisterCompanyRequest(
            company=registration_pb2.Company(
                kind=common_pb2.SHIPPER,
                brn="12345678",
                name="Pearl River Shippers Ltd",
                address="1 Harbour Road, HK",
                contact_name="Ada Chan",
                contact_phone="+852 2345 6789",
            )
        ),
        timeout=10,
    )


def register_driver(officer: Stubs) -> registration_pb2.RegisterDriverReply:
    reply = officer.registration.RegisterDriver(
        registration_pb2.RegisterDriverRequest(
            driver=registration_pb2.Driver(document_number="A123456(3)", name="Chan Tai Man")
        ),
        timeout=10,
    )
    officer.registration.RegisterVehicle(
        registration_pb2.RegisterVehicleRequest(
            vehicle=registration_pb2.Vehicle(registration_mark="AB 1234")
        ),
        timeout=10,
    )
    return reply


def who_am_i(stubs: Stubs) -> registration_pb2.WhoAmIReply:
    return stubs.registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)


def revoke_company_tokens(officer: Stubs, company_id: int) -> registration_pb2.RevokeTokensReply:
    return officer.registration.RevokeTokens(
        registration_pb2.RevokeTokensRequest(
            account_kind=registration_pb2.ACCOUNT_COMPANY, account_id=company_id
        ),
        timeout=10,
    )


def test_revoked_token_is_refused_by_the_other_process_within_the_epoch_poll(
    two_centrals: tuple[CentralProcess, CentralProcess, str],
) -> None:
    a, b, officer = two_centrals
    company = register_company(a.stubs(officer))
    through_b = b.stubs(company.api_token)
    assert who_am_i(through_b).account_id == company.company.id  # now cached in b for 60 s
    assert who_am_i(through_b).account_id == company.company.id
    assert revoke_company_tokens(a.stubs(officer), company.company.id).revoked == 1
    within(EPOCH_BOUND_S, lambda: refused(lambda: who_am_i(through_b)))
    assert refused(lambda: who_am_i(a.stubs(company.api_token)))


SLOW_POLL_S = 5.0


def test_the_epoch_poll_interval_is_the_configured_one(tmp_path: Path) -> None:
    """With ``cache_epoch_poll_seconds = 5`` the other process keeps serving a revoked
    token from its cache until its next read of the epoch (so the setting is what bounds
    it, not the 50 ms default), and refuses it within one interval."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    config = CONFIG + f"cache_epoch_poll_seconds = {SLOW_POLL_S}\n"
    with centrals(url, tmp_path, config) as (a, b, officer):
        company = register_company(a.stubs(officer))
        through_b = b.stubs(company.api_token)
        assert who_am_i(through_b).account_id == company.company.id  # cached; epoch just read
        cached_at = time.monotonic()
        assert revoke_company_tokens(a.stubs(officer), company.company.id).revoked == 1
        assert refused(lambda: who_am_i(a.stubs(company.api_token)))
        time.sleep(1.0)  # twenty default intervals: with 50 ms, b would have re-read by now
        still_served = not refused(lambda: who_am_i(through_b))
        if time.monotonic() - cached_at < SLOW_POLL_S * 0.8:  # a stalled host proves nothing
            assert still_served, "the other process re-read the epoch before its configured interval"
        within(SLOW_POLL_S + EPOCH_BOUND_S, lambda: refused(lambda: who_am_i(through_b)))


def test_deactivated_account_is_refused_by_the_other_process_and_back_when_reactivated(
    two_centrals: tuple[CentralProcess, CentralProcess, str],
) -> None:
    a, b, officer = two_centrals
    driver = register_driver(a.stubs(officer))
    through_b = b.stubs(driver.api_token)
    assert who_am_i(through_b).account_id == driver.driver.id

    def set_active(active: bool) -> None:
        a.stubs(officer).registration.SetAccountActive(
            registration_pb2.SetAccountActiveRequest(
                account_kind=registration_pb2.ACCOUNT_DRIVER, account_id=driver.driver.id, active=active
            ),
            timeout=10,
        )

    set_active(False)
    within(EPOCH_BOUND_S, lambda: refused(lambda: who_am_i(through_b)))
    set_active(True)
    within(EPOCH_BOUND_S, lambda: not refused(lambda: who_am_i(through_b)))


def _capacity(stubs: Stubs) -> int:
    reply = stubs.bundling.GetSlotAvailability(
        bundling_pb2.GetSlotAvailabilityRequest(control_point="LMC", direction=common_pb2.IMPORT, slots=1),
        timeout=10,
    )
    return int(reply.slots[0].capacity)


def test_changed_control_point_is_used_by_the_other_process(
    two_centrals: tuple[CentralProcess, CentralProcess, str],
) -> None:
    a, b, officer = two_centrals
    through_b = b.stubs(officer)
    assert _capacity(through_b) == 60  # bootstrap's default, now cached in b
    a.stubs(officer).registration.UpsertControlPoint(
        registration_pb2.UpsertControlPointRequest(
            control_point=registration_pb2.ControlPoint(
                code="LMC", name="Lok Ma Chau", slot_minutes=15, slot_capacity=2
            )
        ),
        timeout=10,
    )
    within(EPOCH_BOUND_S, lambda: _capacity(through_b) == 2)


def _bundle_empty(stubs: Stubs, code: str, key: str) -> bundling_pb2.Trip:
    return stubs.bundling.BundleTrip(
        bundling_pb2.BundleTripRequest(
            idempotency_key=key,
            security_code=code,
            vehicle_registration_mark="AB 1234",
            control_point="LMC",
            direction=common_pb2.IMPORT,
            expected_arrival=ts(datetime.now(UTC) + timedelta(hours=2)),
            empty_truck=True,
        ),
        timeout=10,
    )


def _wrong(secret: str) -> str:
    """A well-formed code that is none of the three the server accepts now."""
    totp = pyotp.TOTP(secret)
    valid = {totp.at(datetime.now(UTC) + timedelta(seconds=s)) for s in (-60, -30, 0, 30, 60)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def test_wrong_codes_through_both_processes_lock_the_driver_out_after_the_limit_in_total(
    two_centrals: tuple[CentralProcess, CentralProcess, str],
) -> None:
    a, b, officer = two_centrals
    driver = register_driver(a.stubs(officer))
    via = [a.stubs(driver.api_token), b.stubs(driver.api_token)]
    # Five wrong codes, alternating: three through a, two through b. Counted per process
    # (as before), neither would have reached the limit of five.
    for i in range(5):
        with pytest.raises(grpc.RpcError) as err:
            _bundle_empty(via[i % 2], _wrong(driver.totp_secret), f"wrong-key-{i}")
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "security_code" in (err.value.details() or "")
    # Now the right code is refused by both processes.
    for stubs in via:
        with pytest.raises(grpc.RpcError) as err:
            _bundle_empty(stubs, pyotp.TOTP(driver.totp_secret).now(), "right-key")
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "too many wrong codes" in (err.value.details() or "")
    # The officer resets the driver's secret: the lock-out ends with it, in both.
    fresh = a.stubs(officer).registration.ResetDriverSecurityCode(
        registration_pb2.ResetDriverSecurityCodeRequest(driver_id=driver.driver.id), timeout=10
    )
    trip = _bundle_empty(via[1], pyotp.TOTP(fresh.totp_secret).now(), "after-reset-key")
    assert trip.reference


def test_a_success_resets_the_count(two_centrals: tuple[CentralProcess, CentralProcess, str]) -> None:
    a, b, officer = two_centrals
    driver = register_driver(a.stubs(officer))
    via = [a.stubs(driver.api_token), b.stubs(driver.api_token)]
    for i in range(4):
        with pytest.raises(grpc.RpcError):
            _bundle_empty(via[i % 2], _wrong(driver.totp_secret), f"wrong-key-{i}")
    assert _bundle_empty(via[0], pyotp.TOTP(driver.totp_secret).now(), "right-key").reference
    # Four more wrong codes after the success: still under the limit of five in a row.
    for i in range(4):
        with pytest.raises(grpc.RpcError) as err:
            _bundle_empty(via[i % 2], _wrong(driver.totp_secret), f"again-key-{i}")
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_concurrent_wrong_codes_over_both_processes_get_exactly_the_limit(
    two_centrals: tuple[CentralProcess, CentralProcess, str],
) -> None:
    """Twelve wrong codes at once, six through each process: the count is read and
    written under the driver's write lock, so exactly five are judged and the rest meet
    the lock-out, however the calls interleave."""
    a, b, officer = two_centrals
    driver = register_driver(a.stubs(officer))
    via = [a.stubs(driver.api_token), b.stubs(driver.api_token)]
    wrong = _wrong(driver.totp_secret)

    def attempt(i: int) -> grpc.StatusCode:
        try:
            _bundle_empty(via[i % 2], wrong, f"burst-key-{i}")
        except grpc.RpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(attempt, range(12)))
    assert codes.count(grpc.StatusCode.UNAUTHENTICATED) == 5, codes
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 7, codes


def test_a_lookup_begun_before_a_clear_is_not_cached() -> None:
    """The race the generation closes: a look-up that read the old state must not be
    stored after the epoch cleared the cache, or it would outlive the change by a TTL."""
    cache = TokenCache(ttl_s=60)
    principal = Principal(COMPANY, 1, "Pearl River Shippers Ltd")
    began = cache.generation.value
    cache.clear()  # the epoch moved while the look-up ran
    cache.put("digest", principal, began)
    assert cache.get("digest") is None
    cache.put("digest", principal, cache.generation.value)
    assert cache.get("digest") == principal
