"""Bundling through a real gRPC channel, on SQLite and PostgreSQL: security codes,
every CCRN rule, the arrival cut-off, empty trucks, slots and their overflow (also
under a race), unbundle and re-bundle, ownership."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import grpc
import pytest

from central.api.convert import ts
from central.api.errors import field_violations
from central.store import models
from central.store.db import database_proxy
from proto.rocars.v1 import bundling_pb2, cargo_pb2, common_pb2, registration_pb2
from tests.support.central import CentralUnderTest, World, submit_request


def _file(
    c: CentralUnderTest,
    token: str,
    n: int = 1,
    *,
    control_point: str = "LMC",
    direction: int = common_pb2.IMPORT,
    hours: int = 3,
) -> list[str]:
    company = c.stubs(token)
    return [
        company.cargo.SubmitConsignment(
            submit_request(
                f"f-{c.unique():06d}", c.clock.now() + timedelta(hours=hours), control_point, direction
            ),
            timeout=10,
        ).ccrn
        for _ in range(n)
    ]


def _bundle(
    c: CentralUnderTest,
    world: World,
    ccrns: list[str],
    *,
    arrival: datetime | None = None,
    key: str | None = None,
    code: str | None = None,
    empty: bool = False,
    mark: str = "AB 1234",
    token: str | None = None,
    secret: str | None = None,
) -> bundling_pb2.Trip:
    arrival = arrival or c.clock.now() + timedelta(hours=2)
    return c.stubs(token or world.driver_token).bundling.BundleTrip(
        bundling_pb2.BundleTripRequest(
            idempotency_key=key or f"b-{c.unique():06d}",
            security_code=code or c.next_totp(secret or world.driver_secret),
            vehicle_registration_mark=mark,
            control_point="LMC",
            direction=common_pb2.IMPORT,
            expected_arrival=ts(arrival),
            ccrns=ccrns,
            empty_truck=empty,
        ),
        timeout=10,
    )


def _fields(err: pytest.ExceptionInfo[grpc.RpcError]) -> dict[str, str]:
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.value.code(), err.value.details())
    return dict(field_violations(err.value))


def test_bundle_gives_trip_and_slot_and_marks_consignments(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    ccrns = _file(c, world.company_token, 2)
    arrival = c.clock.now() + timedelta(hours=2, minutes=7)
    trip = _bundle(c, world, [ccrns[0][:4] + " " + ccrns[0][4:], ccrns[1]], arrival=arrival)
    assert trip.reference.startswith("T") and trip.status == common_pb2.TRIP_BUNDLED
    assert sorted(trip.ccrns) == sorted(ccrns)
    assert trip.vehicle_registration_mark == "AB1234" and not trip.slot_moved
    start = trip.slot_start.ToDatetime(tzinfo=arrival.tzinfo)
    assert start <= arrival < trip.slot_end.ToDatetime(tzinfo=arrival.tzinfo)
    assert (trip.slot_end.seconds - trip.slot_start.seconds) == 15 * 60
    company = c.stubs(world.company_token)
    got = company.cargo.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=ccrns[0]), timeout=10)
    assert got.status == common_pb2.BUNDLED and got.trip_reference == trip.reference
    # The lanes learn of it through the change log, written in the same transaction.
    from central.store.changes import Change

    kinds = [(ch.kind, ch.entity_id) for ch in Change.select().order_by(Change.id)]
    assert ("trip_bundled", trip.reference) in kinds


def test_security_code_is_required_and_works_once(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    ccrns = _file(c, world.company_token, 2)
    for bad in ("", "12345", "abcdef", "000000"):
        with pytest.raises(grpc.RpcError) as err:
            _bundle(c, world, ccrns[:1], code=bad or " ")
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "security_code" in (err.value.details() or "")
    code = c.next_totp(world.driver_secret)
    _bundle(c, world, ccrns[:1], code=code)
    with pytest.raises(grpc.RpcError) as err:
        _bundle(c, world, ccrns[1:], code=code)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "already used" in (err.value.details() or "")
    # Another driver's code is not this driver's code.
    with pytest.raises(grpc.RpcError) as err:
        _bundle(c, world, ccrns[1:], code=c.next_totp(world.other_driver_secret))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_refused_bundling_does_not_spend_the_code(central: CentralUnderTest) -> None:
    world = central.world()
    ccrns = _file(central, world.company_token, 1)
    code = central.next_totp(world.driver_secret)
    with pytest.raises(grpc.RpcError):
        _bundle(central, world, ccrns, code=code, mark="ZZ 9999")
    assert _bundle(central, world, ccrns, code=code).ccrns == ccrns


def test_every_ccrn_rule(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    taken = _file(c, world.company_token, 1)
    _bundle(c, world, taken, token=world.other_driver_token, secret=world.other_driver_secret)
    cancelled = _file(c, world.company_token, 1)
    c.stubs(world.company_token).cargo.CancelConsignment(
        cargo_pb2.CancelConsignmentRequest(ccrn=cancelled[0]), timeout=10
    )
    other_cp = _file(c, world.company_token, 1, control_point="MKT")
    export = _file(c, world.company_token, 1, direction=common_pb2.EXPORT)
    good = _file(c, world.company_token, 1)
    unknown = "0" * 11
    from central.ids import damm_digit

    unknown += damm_digit(unknown)
    mistyped = good[0][:-1] + str((int(good[0][-1]) + 1) % 10)
    request = [taken[0], cancelled[0], other_cp[0], export[0], unknown, mistyped, good[0], good[0]]
    with pytest.raises(grpc.RpcError) as err:
        _bundle(c, world, request)
    fields = _fields(err)
    assert "another trip" in fields["ccrns[0]"]
    assert "cancelled" in fields["ccrns[1]"]
    assert "control point" in fields["ccrns[2]"]
    assert "direction" in fields["ccrns[3]"]
    assert "no consignment" in fields["ccrns[4]"]
    assert "check digit" in fields["ccrns[5]"]
    assert "ccrns[6]" not in fields
    assert "twice" in fields["ccrns[7]"]
    # Nothing was half-done: the good CCRN is still free.
    got = c.stubs(world.company_token).cargo.GetConsignment(
        cargo_pb2.GetConsignmentRequest(ccrn=good[0]), timeout=10
    )
    assert got.status == common_pb2.SUBMITTED and not got.trip_reference


@pytest.mark.parametrize(
    ("lead", "ok"), [(timedelta(minutes=30), True), (timedelta(minutes=29, seconds=59), False)]
)
def test_arrival_cut_off(central: CentralUnderTest, lead: timedelta, ok: bool) -> None:
    world = central.world()
    ccrns = _file(central, world.company_token, 1)
    code = central.next_totp(world.driver_secret)
    arrival = central.clock.now() + lead
    if ok:
        assert _bundle(central, world, ccrns, arrival=arrival, code=code).reference
    else:
        with pytest.raises(grpc.RpcError) as err:
            _bundle(central, world, ccrns, arrival=arrival, code=code)
        assert "expected_arrival" in _fields(err)


def test_vehicle_must_be_registered(central: CentralUnderTest) -> None:
    world = central.world()
    ccrns = _file(central, world.company_token, 1)
    with pytest.raises(grpc.RpcError) as err:
        _bundle(central, world, ccrns, mark="ZZ 9999")
    assert "not registered" in _fields(err)["vehicle_registration_mark"]
    with pytest.raises(grpc.RpcError) as err:
        _bundle(central, world, ccrns, mark="IO 12")  # I and O are not used on HK plates
    assert "vehicle_registration_mark" in _fields(err)


def test_empty_truck_trip(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    trip = _bundle(c, world, [], empty=True, mark="FU 88")
    assert trip.empty_truck and list(trip.ccrns) == []
    with pytest.raises(grpc.RpcError) as err:
        _bundle(c, world, [])
    assert "ccrns" in _fields(err)
    with pytest.raises(grpc.RpcError) as err:
        _bundle(c, world, _file(c, world.company_token, 1), empty=True)
    assert "empty_truck" in _fields(err)


def _set_capacity(c: CentralUnderTest, capacity: int) -> None:
    c.as_officer().registration.UpsertControlPoint(
        registration_pb2.UpsertControlPointRequest(
            control_point=registration_pb2.ControlPoint(
                code="LMC", name="Lok Ma Chau", slot_minutes=15, slot_capacity=capacity
            )
        ),
        timeout=10,
    )


def test_full_slot_moves_to_next_free_one(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    _set_capacity(c, 2)
    arrival = c.clock.now() + timedelta(hours=2)
    trips = [_bundle(c, world, [], empty=True, arrival=arrival) for _ in range(5)]
    starts = [t.slot_start.seconds for t in trips]
    base = starts[0]
    assert starts == [base, base, base + 900, base + 900, base + 1800]
    assert [t.slot_moved for t in trips] == [False, False, True, True, True]
    avail = c.stubs(world.driver_token).bundling.GetSlotAvailability(
        bundling_pb2.GetSlotAvailabilityRequest(
            control_point="LMC", direction=common_pb2.IMPORT, slots=4, **{"from": ts(arrival)}
        ),
        timeout=10,
    )
    assert [(s.capacity, s.booked) for s in avail.slots] == [(2, 2), (2, 2), (2, 1), (2, 0)]
    # Unbundling gives the place back; the next bundling takes the first slot again.
    c.stubs(world.driver_token).bundling.UnbundleTrip(
        bundling_pb2.UnbundleTripRequest(
            trip_reference=trips[0].reference, security_code=c.next_totp(world.driver_secret)
        ),
        timeout=10,
    )
    assert _bundle(c, world, [], empty=True, arrival=arrival).slot_start.seconds == base


def test_racing_bundlings_never_overfill_a_slot(central_both: CentralUnderTest) -> None:
    c = central_both
    c.world()
    _set_capacity(c, 3)
    officer = c.as_officer().registration
    drivers = []
    for i in range(8):
        reply = officer.RegisterDriver(
            registration_pb2.RegisterDriverRequest(
                driver=registration_pb2.Driver(document_number=f"H{10000000 + i}", name=f"Driver {i}")
            ),
            timeout=10,
        )
        drivers.append((reply.api_token, reply.totp_secret))
    arrival = c.clock.now() + timedelta(hours=2)

    def go(args: tuple[int, tuple[str, str]]) -> int:
        i, (token, secret) = args
        trip = c.stubs(token).bundling.BundleTrip(
            bundling_pb2.BundleTripRequest(
                idempotency_key=f"race-{i:04d}",
                security_code=c.totp(secret),
                vehicle_registration_mark="AB1234",
                control_point="LMC",
                direction=common_pb2.IMPORT,
                expected_arrival=ts(arrival),
                empty_truck=True,
            ),
            timeout=30,
        )
        return trip.slot_start.seconds

    with ThreadPoolExecutor(8) as pool:
        starts = list(pool.map(go, enumerate(drivers)))
    counts = {s: starts.count(s) for s in set(starts)}
    assert sorted(counts.values(), reverse=True) == [3, 3, 2]
    assert all(n <= 3 for n in counts.values())


def test_unbundle_frees_ccrns_and_rebundle_replaces_them(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    a, b, d = _file(c, world.company_token, 3)
    driver = c.stubs(world.driver_token).bundling
    trip = _bundle(c, world, [a, b])
    changed = driver.RebundleTrip(
        bundling_pb2.RebundleTripRequest(
            trip_reference=trip.reference,
            security_code=c.next_totp(world.driver_secret),
            ccrns=[b, d],
            vehicle_registration_mark="FU 88",
        ),
        timeout=10,
    )
    assert sorted(changed.ccrns) == sorted([b, d]) and changed.vehicle_registration_mark == "FU88"
    company = c.stubs(world.company_token).cargo
    assert (
        company.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=a), timeout=10).status
        == common_pb2.SUBMITTED
    )
    gone = driver.UnbundleTrip(
        bundling_pb2.UnbundleTripRequest(
            trip_reference=trip.reference, security_code=c.next_totp(world.driver_secret)
        ),
        timeout=10,
    )
    assert gone.status == common_pb2.TRIP_UNBUNDLED and list(gone.ccrns) == []
    again = driver.UnbundleTrip(bundling_pb2.UnbundleTripRequest(trip_reference=trip.reference), timeout=10)
    assert again.status == common_pb2.TRIP_UNBUNDLED  # a retried unbundle is harmless
    for ccrn in (b, d):
        assert (
            company.GetConsignment(cargo_pb2.GetConsignmentRequest(ccrn=ccrn), timeout=10).status
            == common_pb2.SUBMITTED
        )
    other = _bundle(c, world, [a, b, d], token=world.other_driver_token, secret=world.other_driver_secret)
    assert len(other.ccrns) == 3
    with pytest.raises(grpc.RpcError) as err:
        driver.RebundleTrip(
            bundling_pb2.RebundleTripRequest(
                trip_reference=trip.reference, security_code=c.next_totp(world.driver_secret), ccrns=[a]
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_bundle_retry_returns_same_trip(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    ccrns = _file(c, world.company_token, 1)
    code = c.next_totp(world.driver_secret)
    arrival = c.clock.now() + timedelta(hours=2)
    first = _bundle(c, world, ccrns, key="trip-key-1", code=code, arrival=arrival)
    again = _bundle(c, world, ccrns, key="trip-key-1", code=code, arrival=arrival)
    assert again.reference == first.reference
    trips = c.stubs(world.driver_token).bundling.ListTrips(bundling_pb2.ListTripsRequest(), timeout=10)
    assert [t.reference for t in trips.trips] == [first.reference]


def test_crossed_trip_and_its_cargo_are_frozen(central: CentralUnderTest) -> None:
    world = central.world()
    ccrns = _file(central, world.company_token, 1)
    trip = _bundle(central, world, ccrns)
    # Crossing is recorded by the lane sync area; here straight on the database.
    with database_proxy.obj.atomic():
        models.Trip.update(status=common_pb2.TRIP_CROSSED).where(
            models.Trip.reference == trip.reference
        ).execute()
        models.Consignment.update(status=common_pb2.CROSSED).where(
            models.Consignment.ccrn == ccrns[0]
        ).execute()
    driver = central.stubs(world.driver_token).bundling
    with pytest.raises(grpc.RpcError) as err:
        driver.UnbundleTrip(
            bundling_pb2.UnbundleTripRequest(
                trip_reference=trip.reference, security_code=central.next_totp(world.driver_secret)
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    company = central.stubs(world.company_token).cargo
    for call in (
        lambda: company.CancelConsignment(cargo_pb2.CancelConsignmentRequest(ccrn=ccrns[0]), timeout=10),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_cancelling_the_last_bundled_consignment_unbundles_the_trip(central: CentralUnderTest) -> None:
    world = central.world()
    a, b = _file(central, world.company_token, 2)
    trip = _bundle(central, world, [a, b])
    company = central.stubs(world.company_token).cargo
    company.CancelConsignment(cargo_pb2.CancelConsignmentRequest(ccrn=a), timeout=10)
    driver = central.stubs(world.driver_token).bundling
    got = driver.GetTrip(bundling_pb2.GetTripRequest(trip_reference=trip.reference), timeout=10)
    assert list(got.ccrns) == [b] and got.status == common_pb2.TRIP_BUNDLED
    company.CancelConsignment(cargo_pb2.CancelConsignmentRequest(ccrn=b), timeout=10)
    got = driver.GetTrip(bundling_pb2.GetTripRequest(trip_reference=trip.reference), timeout=10)
    assert got.status == common_pb2.TRIP_UNBUNDLED


def test_authorisation_matrix_for_trips(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    ccrns = _file(c, world.company_token, 1)
    trip = _bundle(c, world, ccrns)
    other = c.stubs(world.other_driver_token).bundling
    for call in (
        lambda: other.GetTrip(bundling_pb2.GetTripRequest(trip_reference=trip.reference), timeout=10),
        lambda: other.UnbundleTrip(
            bundling_pb2.UnbundleTripRequest(
                trip_reference=trip.reference, security_code=c.next_totp(world.other_driver_secret)
            ),
            timeout=10,
        ),
        lambda: other.RebundleTrip(
            bundling_pb2.RebundleTripRequest(
                trip_reference=trip.reference,
                security_code=c.next_totp(world.other_driver_secret),
                ccrns=ccrns,
            ),
            timeout=10,
        ),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert list(other.ListTrips(bundling_pb2.ListTripsRequest(), timeout=10).trips) == []
    # Companies cannot bundle, even their own cargo; officers read but do not bundle.
    for token in (world.company_token, c.officer_token):
        with pytest.raises(grpc.RpcError) as err:
            _bundle(c, world, ccrns, token=token)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as err:
        c.stubs(world.company_token).bundling.GetTrip(
            bundling_pb2.GetTripRequest(trip_reference=trip.reference), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    officer = c.as_officer().bundling
    assert (
        officer.GetTrip(bundling_pb2.GetTripRequest(trip_reference=trip.reference), timeout=10).ccrns == ccrns
    )
    # The trip is untouched by all of the above.
    mine = c.stubs(world.driver_token).bundling.GetTrip(
        bundling_pb2.GetTripRequest(trip_reference=trip.reference), timeout=10
    )
    assert mine.status == common_pb2.TRIP_BUNDLED and list(mine.ccrns) == ccrns


def test_malformed_trip_reference(central: CentralUnderTest) -> None:
    world = central.world()
    with pytest.raises(grpc.RpcError) as err:
        central.stubs(world.driver_token).bundling.GetTrip(
            bundling_pb2.GetTripRequest(trip_reference="T123"), timeout=10
        )
    assert "trip_reference" in _fields(err)


def test_wrong_codes_lock_the_driver_out_for_a_while(central: CentralUnderTest) -> None:
    world = central.world()
    ccrns = _file(central, world.company_token, 1)
    for _ in range(5):
        with pytest.raises(grpc.RpcError) as err:
            _bundle(
                central,
                world,
                ccrns,
                code="000000" if central.totp(world.driver_secret) != "000000" else "111111",
            )
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # Now even the right code is refused until the lockout ends.
    with pytest.raises(grpc.RpcError) as err:
        _bundle(central, world, ccrns)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "security_code" in (err.value.details() or "")
    # Another driver is not affected.
    _bundle(central, world, [], empty=True, token=world.other_driver_token, secret=world.other_driver_secret)
    central.clock.advance(timedelta(minutes=15))
    assert _bundle(central, world, ccrns).ccrns == ccrns


def _booked(c: CentralUnderTest, token: str, cp: str) -> int:
    reply = c.stubs(token).bundling.GetSlotAvailability(
        bundling_pb2.GetSlotAvailabilityRequest(control_point=cp, direction=common_pb2.IMPORT, slots=96),
        timeout=10,
    )
    return sum(s.booked for s in reply.slots)


def test_rebundle_to_another_control_point_moves_slot_and_tells_both(central_both: CentralUnderTest) -> None:
    from central.store import changes

    c = central_both
    world = c.world()
    (at_lmc,) = _file(c, world.company_token)
    (at_sbc,) = _file(c, world.company_token, control_point="SBC")
    trip = _bundle(c, world, [at_lmc])
    driver = c.stubs(world.driver_token).bundling
    # Every CCRN must be filed for the new control point; the trip stays where it was.
    with pytest.raises(grpc.RpcError) as err:
        driver.RebundleTrip(
            bundling_pb2.RebundleTripRequest(
                trip_reference=trip.reference,
                security_code=c.next_totp(world.driver_secret),
                ccrns=[at_lmc],
                control_point="SBC",
            ),
            timeout=10,
        )
    assert "another control point" in _fields(err)["ccrns[0]"]
    with pytest.raises(grpc.RpcError) as err:
        driver.RebundleTrip(
            bundling_pb2.RebundleTripRequest(
                trip_reference=trip.reference,
                security_code=c.next_totp(world.driver_secret),
                ccrns=[at_sbc],
                control_point="XXX",
            ),
            timeout=10,
        )
    assert "control_point" in _fields(err)
    before = changes.head()
    moved = driver.RebundleTrip(
        bundling_pb2.RebundleTripRequest(
            trip_reference=trip.reference,
            security_code=c.next_totp(world.driver_secret),
            ccrns=[at_sbc],
            control_point="sbc",
        ),
        timeout=10,
    )
    assert (moved.control_point, list(moved.ccrns)) == ("SBC", [at_sbc])
    assert moved.expected_arrival == trip.expected_arrival  # kept
    assert _booked(c, world.driver_token, "LMC") == 0 and _booked(c, world.driver_token, "SBC") == 1
    seen = {
        (r.kind, r.control_point)
        for cp in ("LMC", "SBC")
        for r in changes.changes_after(before, cp, common_pb2.IMPORT, 100)
        if r.entity_id == trip.reference
    }
    database_proxy.close()
    # Without the LMC row, LMC's lanes would keep the trip and clear the truck there.
    assert {("trip_changed", "SBC"), ("trip_changed", "LMC")} <= seen
