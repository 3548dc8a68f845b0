"""Central's Prometheus metrics, scraped over HTTP after real gRPC calls: counts move by
exactly the calls made, tokens never appear; and in multiprocess mode one endpoint
adds up every process's values (two real central processes writing, this one serving)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from central import metrics
from central.api.convert import ts
from central.store import changes
from central.store.db import close_all, on_commit, write_transaction
from proto.rocars.v1 import bundling_pb2, cargo_pb2, common_pb2, registration_pb2, sync_pb2, sync_pb2_grpc
from tests.central.test_shared_state import CONFIG, bootstrap_database, start_central
from tests.support.central import CentralUnderTest, cargo, submit_request
from tests.sync.support import CentralProcess as SyncCentral
from tests.sync.support import make_pki, seed_world, wait_for

SUBMIT = "/rocars.v1.Cargo/SubmitConsignment"
WHOAMI = "/rocars.v1.Registration/WhoAmI"


def scrape(server: metrics.MetricsServer) -> str:
    with urllib.request.urlopen(server.url, timeout=10) as reply:
        assert reply.status == 200
        return str(reply.read().decode())


def value(text: str, sample: str, **labels: str) -> float:
    """The sample's value (0 when absent: a labelled counter appears on first use)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


class Delta:
    """Values after minus values at creation, for one scrape endpoint (the registry is
    process-wide, so other tests' calls are in the absolute numbers)."""

    def __init__(self, server: metrics.MetricsServer) -> None:
        self.server = server
        self.before = scrape(server)
        self.after = ""

    def take(self) -> str:
        self.after = scrape(self.server)
        return self.after

    def __call__(self, sample: str, **labels: str) -> float:
        return value(self.after, sample, **labels) - value(self.before, sample, **labels)


def verdicts(delta: Delta, subject: str) -> float:
    return sum(
        delta("rocars_central_risk_verdicts_total", subject=subject, verdict=v)
        for v in ("clear", "inspect", "hold")
    )


@pytest.fixture
def endpoint() -> Iterator[metrics.MetricsServer]:
    assert metrics.multiprocess_dir() is None, "these tests need single-process mode"
    server = metrics.serve_metrics("127.0.0.1:0")
    try:
        yield server
    finally:
        server.stop()
        server.stop()  # safe twice


def test_rpc_counts_latency_and_auth_failures_move_by_exactly_the_calls_made(
    central: CentralUnderTest, endpoint: metrics.MetricsServer
) -> None:
    world = central.world()
    company = central.stubs(world.company_token)
    when = central.clock.now() + timedelta(hours=3)
    delta = Delta(endpoint)
    filed = [
        company.cargo.SubmitConsignment(submit_request(f"order-{i:04d}", when), timeout=10) for i in range(3)
    ]
    company.cargo.SubmitConsignment(submit_request("order-0000", when), timeout=10)  # a replayed retry
    with pytest.raises(grpc.RpcError) as err:
        company.cargo.SubmitConsignment(submit_request("order-bad1", when, packages_count=0), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:  # a driver may not file cargo
        central.stubs(world.driver_token).cargo.SubmitConsignment(
            submit_request("order-drv1", when), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    forged = "rcs_" + "x" * 43
    with pytest.raises(grpc.RpcError) as err:
        central.stubs(forged).registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        central.stubs(None).registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as err:
        central.stubs("not-a-token").registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    company.cargo.AmendConsignment(
        cargo_pb2.AmendConsignmentRequest(ccrn=filed[0].ccrn, cargo=cargo(when, packages_count=13)),
        timeout=10,
    )
    company.cargo.CancelConsignment(cargo_pb2.CancelConsignmentRequest(ccrn=filed[1].ccrn), timeout=10)
    text = delta.take()

    assert delta("rocars_central_rpcs_total", method=SUBMIT, code="OK") == 4
    assert delta("rocars_central_rpcs_total", method=SUBMIT, code="INVALID_ARGUMENT") == 1
    assert delta("rocars_central_rpcs_total", method=SUBMIT, code="PERMISSION_DENIED") == 1
    assert delta("rocars_central_rpcs_total", method=WHOAMI, code="UNAUTHENTICATED") == 3
    assert delta("rocars_central_rpc_duration_seconds_count", method=SUBMIT) == 6
    assert delta("rocars_central_rpc_duration_seconds_sum", method=SUBMIT) > 0
    assert delta("rocars_central_submissions_total") == 3  # the replay is not a new filing
    assert delta("rocars_central_amendments_total") == 1
    assert delta("rocars_central_cancellations_total") == 1
    # Three first profiles; the amendment changed neither verdict nor reasons, and a
    # cancelled consignment keeps its verdict.
    assert verdicts(delta, "consignment") == 3
    assert verdicts(delta, "trip") == 0
    assert delta("rocars_central_auth_failures_total", reason="unknown_token") == 1
    assert delta("rocars_central_auth_failures_total", reason="missing_credentials") == 1
    assert delta("rocars_central_auth_failures_total", reason="malformed_token") == 1
    assert delta("rocars_central_auth_failures_total", reason="role") == 1
    for secret in (forged, world.company_token, world.driver_token, central.officer_token):
        assert secret not in text and secret[4:] not in text


def test_after_commit_callbacks_run_only_for_what_was_stored(central: CentralUnderTest) -> None:
    ran: list[str] = []
    with write_transaction():
        on_commit(lambda: ran.append("committed"))
        assert ran == []  # not before the commit
    assert ran == ["committed"]
    with pytest.raises(RuntimeError), write_transaction():
        on_commit(lambda: ran.append("rolled back"))
        raise RuntimeError("abort the write")
    with write_transaction():
        on_commit(lambda: ran.append("outer"))
        with pytest.raises(RuntimeError), write_transaction():  # a savepoint rolled back
            on_commit(lambda: ran.append("inner"))
            raise RuntimeError("abort the savepoint")
    assert ran == ["committed", "outer"]
    on_commit(lambda: ran.append("no transaction"))
    assert ran[-1] == "no transaction"


def test_bundles_and_wrong_codes_are_counted(
    central: CentralUnderTest, endpoint: metrics.MetricsServer
) -> None:
    world = central.world()
    driver = central.stubs(world.driver_token)

    def bundle(key: str, code: str) -> bundling_pb2.Trip:
        return driver.bundling.BundleTrip(
            bundling_pb2.BundleTripRequest(
                idempotency_key=key,
                security_code=code,
                vehicle_registration_mark=world.vehicle_mark,
                control_point="LMC",
                direction=common_pb2.IMPORT,
                expected_arrival=ts(central.clock.now() + timedelta(hours=2)),
                empty_truck=True,
            ),
            timeout=10,
        )

    delta = Delta(endpoint)
    right = central.next_totp(world.driver_secret)
    wrong = "000000" if right != "000000" else "111111"
    with pytest.raises(grpc.RpcError):
        bundle("bundle-key-1", wrong)
    trip = bundle("bundle-key-2", right)
    driver.bundling.UnbundleTrip(
        bundling_pb2.UnbundleTripRequest(
            trip_reference=trip.reference, security_code=central.next_totp(world.driver_secret)
        ),
        timeout=10,
    )
    delta.take()
    assert delta("rocars_central_wrong_security_codes_total") == 1
    assert delta("rocars_central_bundles_total", action="bundle") == 1
    assert delta("rocars_central_bundles_total", action="unbundle") == 1
    assert (
        delta("rocars_central_rpcs_total", method="/rocars.v1.Bundling/BundleTrip", code="UNAUTHENTICATED")
        == 1
    )
    # A wrong code is the caller's security-code failure, not an authentication failure.
    assert delta("rocars_central_auth_failures_total", reason="unknown_token") == 0


def test_serve_metrics_refuses_a_bad_address() -> None:
    for bad in ("127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ValueError, match="--metrics-listen"):
            metrics.serve_metrics(bad)


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    officer = bootstrap_database(url)
    config = tmp_path / "central.toml"
    config.write_text(CONFIG)
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {metrics.MULTIPROC_ENV: str(shared)}
    started = []
    try:
        started.append(start_central(url, config, env))
        started.append(start_central(url, config, env))
        a, b = started
        for process, calls in ((a, 3), (b, 2)):
            stubs = process.stubs(officer)
            for _ in range(calls):
                stubs.registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
        # This process serves what the two children wrote.
        monkeypatch.setenv(metrics.MULTIPROC_ENV, str(shared))
        server = metrics.serve_metrics("127.0.0.1:0")
        try:
            text = scrape(server)
            assert value(text, "rocars_central_rpcs_total", method=WHOAMI, code="OK") == 5
            assert value(text, "rocars_central_rpc_duration_seconds_count", method=WHOAMI) == 5
            assert value(text, "rocars_central_cache_epoch") >= 1  # bootstrap moved it
            assert officer not in text
            # A child stops: the supervisor marks it dead; its counts stay in the sums,
            # its live gauges go.
            b.stop()
            metrics.mark_process_dead(b.proc.pid)
            assert not list(shared.glob(f"gauge_live*_{b.proc.pid}.db"))
            assert list(shared.glob(f"gauge_live*_{a.proc.pid}.db"))
            text = scrape(server)
            assert value(text, "rocars_central_rpcs_total", method=WHOAMI, code="OK") == 5
        finally:
            server.stop()
    finally:
        for process in started:
            process.stop()


def test_sync_streams_crossings_and_change_log_head_across_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lane's open stream shows in the live-summed gauge while it lasts; crossing
    events count once (a re-sent one is a duplicate); the change-log head is reported."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    certs = make_pki(tmp_path / "pki")
    url = f"sqlite:///{tmp_path / 'central.db'}"
    seed_world(url)
    close_all()
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(shared))  # inherited by the child
    central = SyncCentral(url, certs, tmp_path).start()
    server = metrics.serve_metrics("127.0.0.1:0")
    try:
        with grpc.secure_channel(central.lane_target, certs.lane("LMC-I-01").credentials()) as channel:
            lane = sync_pb2_grpc.LaneSyncStub(channel)
            stream = lane.Subscribe(sync_pb2.SubscribeRequest(lane_id="LMC-I-01"), timeout=30)
            next(stream)  # the stream is open once its first message arrives
            assert value(scrape(server), "rocars_central_sync_streams_open") == 1
            event = sync_pb2.CrossingEvent(
                idempotency_key="LMC-I-01:1",
                lane_id="LMC-I-01",
                sequence=1,
                outcome=sync_pb2.CROSSING_RELEASED,
                occurred_at=ts(datetime.now(UTC) - timedelta(minutes=1)),
            )
            for _ in range(2):  # the second post is the lane's retry
                lane.PostCrossingEvents(sync_pb2.PostCrossingEventsRequest(events=[event]), timeout=10)
            stream.cancel()
        # LMC-X-09's certificate names LMC import, but the lane is registered at SBC.
        with grpc.secure_channel(central.lane_target, certs.lane("LMC-X-09").credentials()) as channel:
            with pytest.raises(grpc.RpcError) as err:
                next(sync_pb2_grpc.LaneSyncStub(channel).Subscribe(sync_pb2.SubscribeRequest(), timeout=10))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        text = scrape(server)
        assert value(text, "rocars_central_crossings_ingested_total") == 1
        assert value(text, "rocars_central_auth_failures_total", reason="certificate") == 1
        with write_transaction():  # a change committed by another writer of the database
            changes.record_change(
                "lane_config", "LMC", common_pb2.IMPORT, "LMC-I-01", {}, now=datetime.now(UTC)
            )
        head = changes.head()
        close_all()
        assert head >= 1
        wait_for(
            lambda: value(scrape(server), "rocars_central_changelog_head") == head,
            10,
            "the head to be reported",
        )
        assert (
            value(
                text, "rocars_central_rpcs_total", method="/rocars.v1.LaneSync/PostCrossingEvents", code="OK"
            )
            == 2
        )
        wait_for(
            lambda: value(scrape(server), "rocars_central_sync_streams_open") == 0, 10, "the stream to close"
        )
    finally:
        server.stop()
        central.stop()
