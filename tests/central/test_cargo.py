"""Advance cargo information through a real gRPC channel, on SQLite and PostgreSQL:
every validation rule with its edges, the CCRN check digit, idempotent retries, amend
and cancel with versions, ownership."""

from __future__ import annotations

import fcntl
from datetime import timedelta

import grpc
import pytest

from central import ids
from central.api.convert import ts
from central.api.errors import field_violations
from proto.rocars.v1 import cargo_pb2, common_pb2
from tests.support.central import CentralUnderTest, cargo, submit_request


def _fields(err: pytest.ExceptionInfo[grpc.RpcError]) -> dict[str, str]:
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    return dict(field_violations(err.value))


def test_submit_returns_a_valid_ccrn_and_it_reads_back(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    company = c.stubs(world.company_token)
    when = c.clock.now() + timedelta(hours=3)
    reply = company.cargo.SubmitConsignment(
        submit_request(
            "order-0001",
            when,
            gross_weight_kg="1250.5",
            declared_value="98000.00",
            currency="hkd",
            hs_code="9405.10",
            container_numbers=["CSQU 305438-3"],
        ),
        timeout=10,
    )
    assert len(reply.ccrn) == ids.CCRN_LENGTH and ids.damm_valid(reply.ccrn)
    assert reply.status == common_pb2.SUBMITTED and reply.version == 1
    got = company.cargo.GetConsignment(
        cargo_pb2.GetConsignmentRequest(ccrn=ids.format_ccrn(reply.ccrn)), timeout=10
    )
    assert got.ccrn == reply.ccrn
    assert got.cargo.article_description == "LED desk lamps"
    assert got.cargo.gross_weight_kg == "1250.500" and got.cargo.declared_value == "98000.00"
    assert got.cargo.currency == "HKD" and got.cargo.hs_code == "940510"
    assert list(got.cargo.container_numbers) == ["CSQU3054383"]
    assert got.cargo.expected_at.ToDatetime().replace(tzinfo=when.tzinfo) == when
    assert got.company_name == "Pearl River Shippers Ltd" and got.control_point == "LMC"


def test_missing_items_are_all_named(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    request = cargo_pb2.SubmitConsignmentRequest(
        idempotency_key="k",
        direction=common_pb2.DIRECTION_UNSPECIFIED,
        control_point="XX1",
        cargo=cargo_pb2.CargoDetails(),
    )
    with pytest.raises(grpc.RpcError) as err:
        c.stubs(world.company_token).cargo.SubmitConsignment(request, timeout=10)
    fields = _fields(err)
    for name in (
        "idempotency_key",
        "direction",
        "control_point",
        "cargo.packages_count",
        "cargo.package_description",
        "cargo.article_description",
        "cargo.consignor_name",
        "cargo.consignor_address",
        "cargo.consignee_name",
        "cargo.consignee_address",
        "cargo.expected_at",
    ):
        assert name in fields, f"{name} not reported: {fields}"
    # The plain message names them too, for clients without rich-status support.
    assert "cargo.consignee_address" in (err.value.details() or "")


@pytest.mark.parametrize(
    ("lead", "ok"),
    [
        (timedelta(minutes=30), True),
        (timedelta(minutes=29, seconds=59), False),
        (timedelta(days=14), True),
        (timedelta(days=14, seconds=1), False),
        (timedelta(minutes=-5), False),
    ],
)
def test_submission_window_edges(central: CentralUnderTest, lead: timedelta, ok: bool) -> None:
    world = central.world()
    company = central.stubs(world.company_token)
    request = submit_request(f"win-{int(lead.total_seconds())}", central.clock.now() + lead)
    if ok:
        assert company.cargo.SubmitConsignment(request, timeout=10).ccrn
    else:
        with pytest.raises(grpc.RpcError) as err:
            company.cargo.SubmitConsignment(request, timeout=10)
        assert "cargo.expected_at" in _fields(err)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"packages_count": 0}, "cargo.packages_count"),
        ({"packages_count": 1_000_001}, "cargo.packages_count"),
        ({"consignor_name": "x" * 201}, "cargo.consignor_name"),
        ({"consignee_name": "evil\x1b[31m"}, "cargo.consignee_name"),
        ({"gross_weight_kg": "-1"}, "cargo.gross_weight_kg"),
        ({"gross_weight_kg": "1.2345"}, "cargo.gross_weight_kg"),
        ({"gross_weight_kg": "NaN"}, "cargo.gross_weight_kg"),
        ({"declared_value": "12.5"}, "cargo.currency"),
        ({"declared_value": "1e400", "currency": "HKD"}, "cargo.declared_value"),
        ({"currency": "HKD"}, "cargo.declared_value"),
        ({"hs_code": "12ab"}, "cargo.hs_code"),
        ({"container_numbers": ["CSQU3054384"]}, "cargo.container_numbers[0]"),
        ({"transshipment": True}, "cargo.elock_id"),
        ({"elock_id": "EL-1"}, "cargo.transshipment"),
    ],
)
def test_optional_item_rules(central: CentralUnderTest, overrides: dict[str, object], field: str) -> None:
    world = central.world()
    request = submit_request("rules-0001", central.clock.now() + timedelta(hours=2), **overrides)  # type: ignore[arg-type]
    with pytest.raises(grpc.RpcError) as err:
        central.stubs(world.company_token).cargo.SubmitConsignment(request, timeout=10)
    assert field in _fields(err)


def test_nonsense_timestamp_is_refused(central: CentralUnderTest) -> None:
    world = central.world()
    request = submit_request("ts-000001", central.clock.now() + timedelta(hours=2))
    request.cargo.expected_at.seconds = 253402300800 * 10  # far beyond year 9999
    with pytest.raises(grpc.RpcError) as err:
        central.stubs(world.company_token).cargo.SubmitConsignment(request, timeout=10)
    assert "cargo.expected_at" in _fields(err)


def test_retry_with_same_key_returns_same_ccrn(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    company = c.stubs(world.company_token)
    request = submit_request("retry-0001", c.clock.now() + timedelta(hours=1))
    first = company.cargo.SubmitConsignment(request, timeout=10)
    # The retry arrives after the 30-minute cut-off; it must still get its CCRN back.
    c.clock.advance(timedelta(minutes=45))
    again = company.cargo.SubmitConsignment(request, timeout=10)
    assert again.ccrn == first.ccrn
    listed = company.cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10)
    assert [x.ccrn for x in listed.consignments] == [first.ccrn]
    changed = submit_request("retry-0001", c.clock.now() + timedelta(hours=5))
    with pytest.raises(grpc.RpcError) as err:
        company.cargo.SubmitConsignment(changed, timeout=10)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_concurrent_retries_store_one_consignment(central_both: CentralUnderTest) -> None:
    from concurrent.futures import ThreadPoolExecutor

    c = central_both
    world = c.world()
    company = c.stubs(world.company_token)
    request = submit_request("race-0001", c.clock.now() + timedelta(hours=1))
    with ThreadPoolExecutor(6) as pool:
        ccrns = set(pool.map(lambda _: company.cargo.SubmitConsignment(request, timeout=20).ccrn, range(6)))
    assert len(ccrns) == 1
    assert (
        len(company.cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10).consignments) == 1
    )


def test_same_key_for_two_companies_is_two_consignments(central: CentralUnderTest) -> None:
    world = central.world()
    request = submit_request("shared-key", central.clock.now() + timedelta(hours=1))
    a = central.stubs(world.company_token).cargo.SubmitConsignment(request, timeout=10)
    b = central.stubs(world.other_company_token).cargo.SubmitConsignment(request, timeout=10)
    assert a.ccrn != b.ccrn


@pytest.mark.parametrize("bad", ["1234 5678 901", "1234567890AB", "", "12345678901234"])
def test_malformed_ccrn_is_rejected_before_lookup(central: CentralUnderTest, bad: str) -> None:
    world = central.world()
    with pytest.raises(grpc.RpcError) as err:
        central.stubs(world.company_token).cargo.GetConsignment(
            cargo_pb2.GetConsignmentRequest(ccrn=bad), timeout=10
        )
    assert "ccrn" in _fields(err)


def test_mistyped_ccrn_fails_the_check_digit(central: CentralUnderTest) -> None:
    world = central.world()
    company = central.stubs(world.company_token)
    ccrn = company.cargo.SubmitConsignment(
        submit_request("typo-0001", central.clock.now() + timedelta(hours=1)), timeout=10
    ).ccrn
    swapped = ccrn[:3] + ccrn[4] + ccrn[3] + ccrn[5:]
    wrong_digit = ccrn[:5] + str((int(ccrn[5]) + 1) % 10) + ccrn[6:]
    for typo in {swapped, wrong_digit} - {ccrn}:
        with pytest.raises(grpc.RpcError) as err:
            company.cargo.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=typo), timeout=10)
        assert "check digit" in _fields(err)["ccrn"]


def test_amend_keeps_every_version(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    company = c.stubs(world.company_token)
    when = c.clock.now() + timedelta(hours=4)
    first = company.cargo.SubmitConsignment(submit_request("amend-0001", when), timeout=10)
    amended = company.cargo.AmendConsignment(
        cargo_pb2.AmendConsignmentRequest(
            ccrn=first.ccrn,
            cargo=cargo(when, packages_count=20),
            expected_version=1,
            reason="two more pallets",
        ),
        timeout=10,
    )
    assert (amended.version, amended.status, amended.cargo.packages_count) == (2, common_pb2.AMENDED, 20)
    with pytest.raises(grpc.RpcError) as err:  # stale version
        company.cargo.AmendConsignment(
            cargo_pb2.AmendConsignmentRequest(
                ccrn=first.ccrn, cargo=cargo(when, packages_count=21), expected_version=1
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.ABORTED
    cancelled = company.cargo.CancelConsignment(
        cargo_pb2.CancelConsignmentRequest(ccrn=first.ccrn, reason="order lost"), timeout=10
    )
    assert (cancelled.status, cancelled.version) == (common_pb2.CANCELLED, 3)
    history = c.as_officer().cargo.ListConsignmentVersions(
        cargo_pb2.ListConsignmentVersionsRequest(ccrn=first.ccrn), timeout=10
    )
    assert [(v.version, v.action) for v in history.versions] == [
        (1, "submitted"),
        (2, "amended"),
        (3, "cancelled"),
    ]
    assert [v.cargo.packages_count for v in history.versions] == [12, 20, 20]
    assert history.versions[1].reason == "two more pallets"
    with pytest.raises(grpc.RpcError) as err:
        company.cargo.AmendConsignment(
            cargo_pb2.AmendConsignmentRequest(ccrn=first.ccrn, cargo=cargo(when)), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_amendment_inside_cut_off_may_fix_details_but_not_move_time_closer(central: CentralUnderTest) -> None:
    world = central.world()
    company = central.stubs(world.company_token)
    when = central.clock.now() + timedelta(hours=1)
    ccrn = company.cargo.SubmitConsignment(submit_request("late-0001", when), timeout=10).ccrn
    central.clock.advance(timedelta(minutes=50))  # 10 minutes before crossing
    fixed = company.cargo.AmendConsignment(
        cargo_pb2.AmendConsignmentRequest(
            ccrn=ccrn, cargo=cargo(when, consignee_address="1 Harbour Road, Wan Chai, Hong Kong")
        ),
        timeout=10,
    )
    assert fixed.version == 2
    with pytest.raises(grpc.RpcError) as err:
        company.cargo.AmendConsignment(
            cargo_pb2.AmendConsignmentRequest(ccrn=ccrn, cargo=cargo(when + timedelta(minutes=5))), timeout=10
        )
    assert "cargo.expected_at" in _fields(err)


def test_company_sees_only_its_own(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    mine, theirs = c.stubs(world.company_token), c.stubs(world.other_company_token)
    when = c.clock.now() + timedelta(hours=2)
    ccrn = mine.cargo.SubmitConsignment(submit_request("own-00001", when), timeout=10).ccrn
    theirs.cargo.SubmitConsignment(submit_request("own-00002", when), timeout=10)
    calls = [
        lambda: theirs.cargo.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=ccrn), timeout=10),
        lambda: theirs.cargo.AmendConsignment(
            cargo_pb2.AmendConsignmentRequest(ccrn=ccrn, cargo=cargo(when)), timeout=10
        ),
        lambda: theirs.cargo.CancelConsignment(cargo_pb2.CancelConsignmentRequest(ccrn=ccrn), timeout=10),
        lambda: theirs.cargo.ListConsignmentVersions(
            cargo_pb2.ListConsignmentVersionsRequest(ccrn=ccrn), timeout=10
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert [
        x.ccrn
        for x in mine.cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10).consignments
    ] == [ccrn]
    # A company cannot widen its list to another company's by the officer-only filter.
    listed = theirs.cargo.ListConsignments(
        cargo_pb2.ListConsignmentsRequest(company_id=world.company_id), timeout=10
    )
    assert ccrn not in [x.ccrn for x in listed.consignments]
    everything = c.as_officer().cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10)
    assert len(everything.consignments) == 2
    # Still intact after the refused attempts.
    assert mine.cargo.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=ccrn), timeout=10).version == 1


def test_list_pages_and_filters(central: CentralUnderTest) -> None:
    world = central.world()
    company = central.stubs(world.company_token)
    when = central.clock.now() + timedelta(hours=2)
    made = [
        company.cargo.SubmitConsignment(submit_request(f"page-{i:05d}", when), timeout=10).ccrn
        for i in range(5)
    ]
    company.cargo.CancelConsignment(cargo_pb2.CancelConsignmentRequest(ccrn=made[0]), timeout=10)
    seen, token = [], ""
    while True:
        page = company.cargo.ListConsignments(
            cargo_pb2.ListConsignmentsRequest(page=common_pb2.PageRequest(page_size=2, page_token=token)),
            timeout=10,
        )
        seen += [x.ccrn for x in page.consignments]
        token = page.next_page_token
        if not token:
            break
    assert seen == made
    live = company.cargo.ListConsignments(
        cargo_pb2.ListConsignmentsRequest(statuses=[common_pb2.SUBMITTED]), timeout=10
    )
    assert [x.ccrn for x in live.consignments] == made[1:]
    with pytest.raises(grpc.RpcError) as err:
        company.cargo.ListConsignments(
            cargo_pb2.ListConsignmentsRequest(page=common_pb2.PageRequest(page_size=5000)), timeout=10
        )
    assert "page.page_size" in _fields(err)


def test_drivers_and_lanes_cannot_file_cargo(central: CentralUnderTest) -> None:
    world = central.world()
    request = submit_request("driver-001", central.clock.now() + timedelta(hours=2))
    for token in (world.driver_token, central.officer_token):
        with pytest.raises(grpc.RpcError) as err:
            central.stubs(token).cargo.SubmitConsignment(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        central.stubs(world.driver_token).cargo.ListConsignments(
            cargo_pb2.ListConsignmentsRequest(), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


_ = ts


def test_a_busy_database_answers_unavailable_and_writes_nothing(
    central: CentralUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds the SQLite writer lock past the timeout: the caller gets
    UNAVAILABLE (clients retry it; INTERNAL would say "don't"), and the retry, once the
    lock is free, files the consignment exactly once. The lock is a real flock held by
    this test; only the timeout is shortened (10 s by default)."""
    from central.store import db as store_db

    c = central
    world = c.world()
    company = c.stubs(world.company_token)
    request = submit_request("busy-0001", c.clock.now() + timedelta(hours=2))
    monkeypatch.setattr(store_db, "WRITE_LOCK_TIMEOUT_S", 0.3)
    path = c.database_url.removeprefix("sqlite:///")
    with open(f"{path}.writer-lock", "ab") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(grpc.RpcError) as err:
            company.cargo.SubmitConsignment(request, timeout=10)
        fcntl.flock(held.fileno(), fcntl.LOCK_UN)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE, err.value
    assert "retry" in (err.value.details() or "")
    listed = company.cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10)
    assert list(listed.consignments) == []
    again = company.cargo.SubmitConsignment(request, timeout=10)
    listed = company.cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(), timeout=10)
    assert [x.ccrn for x in listed.consignments] == [again.ccrn]
