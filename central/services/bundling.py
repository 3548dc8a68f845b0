"""Bundling: a driver links CCRNs to a vehicle and an arrival time, and gets a trip with
a crossing slot.

Rules: the driver's current security code (RFC 6238, each code usable once); every
CCRN well formed, known, live, not on another open trip, of the trip's control point
and direction; the vehicle registered and active; arrival at least 30 minutes ahead
(and at most 14 days); no CCRNs only for an explicit empty-truck trip.

Slots: per control point and direction, ``slot_minutes`` long and ``slot_capacity``
trucks each. A booking is a guarded ``UPDATE ... SET booked = booked + 1 WHERE booked <
capacity`` on the slot's row, so two bundlings racing for the last place cannot both
win on either database; a full slot moves the trip to the next one with room.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee
import pyotp

from central import ids, metrics
from central.services import errors, hooks, validate
from central.services.cargo import parse_ccrn
from central.services.errors import Violations
from central.services.principal import DRIVER, Principal
from central.store import fast, models
from central.store.changes import record_change
from central.store.db import from_db, is_postgres, retrying, to_db, write_transaction
from proto.rocars.v1 import common_pb2

log = logging.getLogger(__name__)

OPEN = common_pb2.TRIP_BUNDLED
UNBUNDLED = common_pb2.TRIP_UNBUNDLED
MAX_SLOT_SEARCH = 7 * 24 * 4  # give up after this many full slots (a week of 15-minute slots)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BundlingRules:
    min_lead: timedelta = timedelta(minutes=30)
    max_lead: timedelta = timedelta(days=14)
    max_ccrns: int = 50


@dataclass
class TripRequest:
    vehicle_registration_mark: str
    control_point: str
    direction: int
    expected_arrival: datetime | None
    ccrns: Sequence[str]
    empty_truck: bool


def _require_driver(principal: Principal) -> models.Driver:
    if principal.role != DRIVER:
        raise errors.PermissionDenied("only a driver bundles trips")
    return models.Driver.get_by_id(principal.account_id)


class CodeGuard:
    """Wrong security codes per driver, in the database (SecurityCodeGuard). After
    ``limit`` wrong codes in a row the driver's codes are refused for ``lockout`` (a
    stolen API token must not let anyone guess the 6 digits: 3 codes in 10^6 are valid
    at any moment). The count is read and written inside the call's own transaction,
    which holds the driver's write lock (SQLite: the database's; PostgreSQL: the driver
    row, locked first), so the limit is exact however many processes and concurrent calls
    the guesses are spread over; :func:`code_transaction` commits it when the call fails."""

    def __init__(self, limit: int = 5, lockout: timedelta = timedelta(minutes=15)) -> None:
        self.limit = limit
        self.lockout = lockout

    def load(self, driver_id: int) -> tuple[int, datetime | None] | None:
        """(failures, locked until) of this driver, None if clean; inside the caller's
        write transaction, and on PostgreSQL after locking the driver's row."""
        if is_postgres():
            models.Driver.select(models.Driver.id).where(models.Driver.id == driver_id).for_update().execute()
        G = models.SecurityCodeGuard
        row = G.select(G.failures, G.locked_until).where(G.driver == driver_id).first()
        return None if row is None else (int(row.failures), from_db(row.locked_until))

    def check(self, state: tuple[int, datetime | None] | None, now: datetime) -> None:
        until = state[1] if state is not None else None
        if until is not None and now < until:
            raise errors.ResourceExhausted(
                f"security_code: too many wrong codes; try again after {until.isoformat(timespec='minutes')}"
            )

    def failed(self, driver_id: int, state: tuple[int, datetime | None] | None, now: datetime) -> bool:
        """Count one wrong code; True if it starts a lock-out."""
        failures, until = state if state is not None else (0, None)
        if until is not None and now >= until:
            failures = 0  # the last lock-out is over: a fresh count
        failures += 1
        locked_until = now + self.lockout if failures >= self.limit else None
        fast.upsert(
            models.SecurityCodeGuard,
            {
                "driver": driver_id,
                "failures": failures,
                "locked_until": to_db(locked_until) if locked_until else None,
            },
            conflict=("driver",),
            update=("failures", "locked_until"),
        )
        if locked_until is not None:
            log.warning("security codes of driver %d locked out after %d wrong codes", driver_id, failures)
        return locked_until is not None

    def reset(self, driver_id: int) -> None:
        models.SecurityCodeGuard.delete().where(models.SecurityCodeGuard.driver == driver_id).execute()


code_guard = CodeGuard()


@contextlib.contextmanager
def code_transaction() -> Iterator[None]:
    """A write transaction that *commits* when the block raises WrongSecurityCode, then
    re-raises it: the wrong code's count must outlive the failed call. Sound because
    :func:`verify_code` runs before the block writes anything else."""
    wrong: errors.WrongSecurityCode | None = None
    with write_transaction():
        try:
            yield
        except errors.WrongSecurityCode as exc:
            wrong = exc
    if wrong is not None:
        metrics.WRONG_CODES.inc()
        raise wrong


def verify_code(driver: models.Driver, code: str, now: datetime) -> None:
    """Check the security code and spend it, inside the caller's :func:`code_transaction`
    and before it writes anything. One step of clock drift is accepted either way; a
    code already used is refused, so a code seen over someone's shoulder cannot bundle a
    second time; too many wrong codes lock the driver's codes out for a while."""
    state = code_guard.load(driver.id)
    code_guard.check(state, now)
    try:
        _verify_code(driver, code.strip(), now)
    except errors.WrongSecurityCode:
        if code_guard.failed(driver.id, state, now):
            metrics.LOCKOUTS.inc()
        raise
    if state is not None:
        code_guard.reset(driver.id)


def _verify_code(driver: models.Driver, code: str, now: datetime) -> None:
    if len(code) != 6 or not code.isdigit():
        raise errors.WrongSecurityCode(
            "security_code: must be the 6-digit code your security token shows now"
        )
    totp = pyotp.TOTP(driver.totp_secret)
    step = totp.timecode(now)
    for candidate in (step, step - 1, step + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(candidate), code):
            if candidate <= driver.last_totp_step:
                raise errors.WrongSecurityCode(
                    "security_code: this code was already used; wait for the next one"
                )
            updated = (
                models.Driver.update(last_totp_step=candidate)
                .where((models.Driver.id == driver.id) & (models.Driver.last_totp_step < candidate))
                .execute()
            )
            if updated != 1:  # a concurrent call spent it first
                raise errors.WrongSecurityCode(
                    "security_code: this code was already used; wait for the next one"
                )
            return
    raise errors.WrongSecurityCode("security_code: wrong or expired code")


def slot_start_for(when: datetime, slot_minutes: int) -> datetime:
    seconds = slot_minutes * 60
    offset = int((when - _EPOCH).total_seconds()) // seconds * seconds
    return _EPOCH + timedelta(seconds=offset)


def book_slot(cp: models.ControlPoint, direction: int, wanted: datetime) -> datetime:
    """Book one place in the first slot from ``wanted`` on with room; returns its start."""
    start = slot_start_for(wanted, cp.slot_minutes)
    step = timedelta(minutes=cp.slot_minutes)
    S = models.SlotBooking
    for _ in range(MAX_SLOT_SEARCH):
        key = to_db(start)
        S.insert(
            control_point=cp.id, direction=direction, slot_start=key, booked=0
        ).on_conflict_ignore().execute()
        got = (
            S.update(booked=S.booked + 1)
            .where(
                (S.control_point == cp.id)
                & (S.direction == direction)
                & (S.slot_start == key)
                & (S.booked < cp.slot_capacity)
            )
            .execute()
        )
        if got == 1:
            return start
        start += step
    raise errors.ResourceExhausted(
        f"control_point: no free crossing slot at {cp.code} within {MAX_SLOT_SEARCH} slots of the wanted time"
    )


def release_slot(trip: models.Trip) -> None:
    S = models.SlotBooking
    (
        S.update(booked=S.booked - 1)
        .where(
            (S.control_point == trip.control_point_id)
            & (S.direction == trip.direction)
            & (S.slot_start == trip.slot_start)
            & (S.booked > 0)
        )
        .execute()
    )


def _check_request(
    v: Violations, req: TripRequest, now: datetime, rules: BundlingRules
) -> tuple[models.Vehicle | None, models.ControlPoint | None, list[str]]:
    from central.services.registration import control_point_by_code

    mark = validate.registration_mark(v, "vehicle_registration_mark", req.vehicle_registration_mark)
    vehicle = None
    if mark and not any(x.field == "vehicle_registration_mark" for x in v.items):
        vehicle = models.Vehicle.get_or_none(models.Vehicle.registration_mark == mark)
        if vehicle is None or not vehicle.active:
            v.add("vehicle_registration_mark", f"vehicle {mark} is not registered (or not active)")
    cp = control_point_by_code(v, "control_point", req.control_point)
    if req.direction not in (common_pb2.IMPORT, common_pb2.EXPORT):
        v.add("direction", "must be IMPORT or EXPORT")
    if req.expected_arrival is None:
        v.add("expected_arrival", "is required, between 2000 and 2100")
    elif req.expected_arrival < now + rules.min_lead:
        v.add(
            "expected_arrival",
            f"must be at least {int(rules.min_lead.total_seconds() // 60)} minutes after "
            f"now ({now.isoformat()}); got {req.expected_arrival.isoformat()}",
        )
    elif req.expected_arrival > now + rules.max_lead:
        v.add("expected_arrival", f"must be at most {rules.max_lead.days} days after now")
    ccrns: list[str] = []
    if len(req.ccrns) > rules.max_ccrns:
        v.add("ccrns", f"at most {rules.max_ccrns} CCRNs per trip (got {len(req.ccrns)})")
    else:
        for i, text in enumerate(req.ccrns):
            ccrn = parse_ccrn(v, f"ccrns[{i}]", text)
            if ccrn and ccrn in ccrns:
                v.add(f"ccrns[{i}]", "is listed twice")
                ccrn = ""
            ccrns.append(ccrn)  # "" keeps the positions of the others for their messages
    if req.empty_truck and req.ccrns:
        v.add("empty_truck", "an empty-truck trip carries no CCRNs")
    elif not req.empty_truck and not req.ccrns:
        v.add("ccrns", "at least one CCRN is required (or set empty_truck for a trip without cargo)")
    return vehicle, cp, ccrns


def _check_consignments(
    v: Violations, ccrns: list[str], cp: models.ControlPoint, direction: int, trip_id: int | None
) -> list[models.Consignment]:
    """Load and check the CCRNs inside the transaction (locked on PostgreSQL). Empty
    entries (already reported as malformed) are skipped."""
    wanted = [c for c in ccrns if c]
    if not wanted:
        return []
    C = models.Consignment
    query = C.select().where(C.ccrn.in_(wanted))
    if is_postgres():
        query = query.order_by(C.id).for_update()
    rows = {c.ccrn: c for c in query}
    out = []
    for i, ccrn in enumerate(ccrns):
        if not ccrn:
            continue
        field = f"ccrns[{i}]"
        row = rows.get(ccrn)
        if row is None:
            v.add(field, f"no consignment {ids.format_ccrn(ccrn)} has been filed")
            continue
        if row.status == common_pb2.CANCELLED:
            v.add(field, f"consignment {ids.format_ccrn(ccrn)} was cancelled")
        elif row.status == common_pb2.BUNDLED and row.trip_id != trip_id:
            v.add(field, f"consignment {ids.format_ccrn(ccrn)} is already bundled to another trip")
        elif row.status not in (common_pb2.SUBMITTED, common_pb2.AMENDED, common_pb2.BUNDLED):
            v.add(field, f"consignment {ids.format_ccrn(ccrn)} has already crossed")
        elif row.control_point_id != cp.id:
            v.add(field, f"consignment {ids.format_ccrn(ccrn)} is filed for another control point")
        elif row.direction != direction:
            v.add(field, f"consignment {ids.format_ccrn(ccrn)} is filed for the other direction")
        out.append(row)
    return out


def _attach(trip: models.Trip, rows: list[models.Consignment], now: datetime) -> None:
    ids_ = [r.id for r in rows]
    if ids_:
        (
            models.Consignment.update(trip=trip.id, status=common_pb2.BUNDLED, updated_at=to_db(now))
            .where(models.Consignment.id.in_(ids_))
            .execute()
        )


def _detach(trip_id: int, keep: set[int], now: datetime) -> None:
    C = models.Consignment
    query = C.select(C.id, C.version).where((C.trip == trip_id) & (C.status == common_pb2.BUNDLED))
    for row in query:
        if row.id in keep:
            continue
        C.update(
            trip=None,
            status=common_pb2.AMENDED if row.version > 1 else common_pb2.SUBMITTED,
            updated_at=to_db(now),
        ).where(C.id == row.id).execute()


def _request_hash(req: TripRequest) -> str:
    body = {
        "v": req.vehicle_registration_mark,
        "cp": req.control_point.strip().upper(),
        "d": req.direction,
        "t": req.expected_arrival.isoformat() if req.expected_arrival else "",
        "c": list(req.ccrns),
        "e": req.empty_truck,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _replayed(principal: Principal, key: str, digest: str) -> models.Trip | None:
    R = models.IdempotentReply
    row = R.get_or_none((R.principal == principal.key) & (R.method == "BundleTrip") & (R.key == key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise errors.AlreadyExists("idempotency_key: already used for another bundling; use a new key")
    return models.Trip.get(models.Trip.reference == bytes(row.reply).decode())


@retrying()
def bundle(
    principal: Principal,
    idempotency_key: str,
    security_code: str,
    req: TripRequest,
    now: datetime,
    rules: BundlingRules,
) -> models.Trip:
    driver = _require_driver(principal)
    v = Violations()
    key = validate.idempotency_key(v, "idempotency_key", idempotency_key)
    v.raise_if_any()
    digest = _request_hash(req)
    replay = _replayed(principal, key, digest)
    if replay is not None:
        return replay
    vehicle, cp, ccrns = _check_request(v, req, now, rules)
    if vehicle is None or cp is None or req.expected_arrival is None:
        v.raise_if_any()
    assert vehicle is not None and cp is not None and req.expected_arrival is not None
    for _attempt in range(3):
        try:
            with code_transaction():
                # Check every CCRN first so one reply lists every problem.
                rows = _check_consignments(v, ccrns, cp, req.direction, None)
                v.raise_if_any()
                verify_code(driver, security_code, now)
                slot = book_slot(cp, req.direction, req.expected_arrival)
                trip = models.Trip.create(
                    reference=ids.new_trip_reference(),
                    driver=driver,
                    vehicle=vehicle,
                    control_point=cp,
                    direction=req.direction,
                    expected_arrival=to_db(req.expected_arrival),
                    slot_start=to_db(slot),
                    slot_end=to_db(slot + timedelta(minutes=cp.slot_minutes)),
                    empty=req.empty_truck,
                    status=OPEN,
                    created_at=to_db(now),
                    updated_at=to_db(now),
                )
                _attach(trip, rows, now)
                models.IdempotentReply.create(
                    principal=principal.key,
                    method="BundleTrip",
                    key=key,
                    request_hash=digest,
                    reply=trip.reference.encode(),
                    created_at=to_db(now),
                )
                hooks.trip_changed("trip_bundled", trip, cp.code, now)
            metrics.BUNDLES.labels("bundle").inc()
            return trip
        except peewee.IntegrityError:
            replay = _replayed(principal, key, digest)  # a concurrent retry won
            if replay is not None:
                return replay
            # else the random trip reference collided: draw again
    raise errors.ResourceExhausted("could not allocate a unique trip reference; retry")


def own_trip(principal: Principal, reference_text: str, *, for_update: bool = False) -> models.Trip:
    try:
        reference = ids.normalise_trip_reference(reference_text)
    except ids.IdentifierError as exc:
        raise errors.ValidationError([errors.FieldViolation("trip_reference", str(exc))]) from exc
    query = models.Trip.select().where(models.Trip.reference == reference)
    if not principal.is_officer():
        query = query.where(models.Trip.driver == principal.account_id)
    if for_update and is_postgres():
        query = query.for_update()
    trip = query.first()
    if trip is None:
        raise errors.NotFound(f"trip_reference: no trip {reference} of yours")
    return trip


def _require_open(trip: models.Trip) -> None:
    if trip.status != OPEN:
        raise errors.FailedPrecondition(
            f"trip_reference: trip {trip.reference} is {common_pb2.TripStatus.Name(trip.status)}; "
            "only a bundled trip that has not crossed can change"
        )


@retrying()
def rebundle(
    principal: Principal,
    reference: str,
    security_code: str,
    vehicle_mark: str,
    expected_arrival: datetime | None,
    ccrns: Sequence[str],
    empty_truck: bool,
    now: datetime,
    rules: BundlingRules,
    control_point: str = "",
) -> models.Trip:
    """Change a bundled trip. ``control_point`` (empty keeps) moves it to another
    control point: the lanes there learn of it, and the old control point gets a change
    of its own so its lanes drop the trip (the feed only tells a lane about changes
    recorded for its control point)."""
    driver = _require_driver(principal)
    with code_transaction():
        trip = own_trip(principal, reference, for_update=True)
        _require_open(trip)
        old_cp = models.ControlPoint.get_by_id(trip.control_point_id)
        current_mark = models.Vehicle.get_by_id(trip.vehicle_id).registration_mark
        req = TripRequest(
            vehicle_mark or current_mark,
            control_point.strip().upper() or old_cp.code,
            trip.direction,
            expected_arrival or from_db(trip.expected_arrival),
            ccrns,
            empty_truck,
        )
        v = Violations()
        vehicle, new_cp, clean = _check_request(v, req, now, rules)
        if expected_arrival is None:
            # Keeping the old arrival time is allowed even inside the cut-off.
            v.items = [x for x in v.items if x.field != "expected_arrival"]
        if vehicle is None or new_cp is None:
            v.raise_if_any()
        assert new_cp is not None
        rows = _check_consignments(v, clean, new_cp, trip.direction, trip.id)
        v.raise_if_any()
        verify_code(driver, security_code, now)
        assert vehicle is not None and req.expected_arrival is not None
        moved = new_cp.id != old_cp.id
        if moved or (expected_arrival is not None and expected_arrival != from_db(trip.expected_arrival)):
            release_slot(trip)
            slot = book_slot(new_cp, trip.direction, req.expected_arrival)
            trip.control_point = new_cp
            trip.expected_arrival = to_db(req.expected_arrival)
            trip.slot_start = to_db(slot)
            trip.slot_end = to_db(slot + timedelta(minutes=new_cp.slot_minutes))
        trip.vehicle = vehicle
        trip.empty = empty_truck
        trip.updated_at = to_db(now)
        trip.save()
        _detach(trip.id, {r.id for r in rows}, now)
        _attach(trip, rows, now)
        hooks.trip_changed("trip_changed", trip, new_cp.code, now)
        if moved:
            # Without this row the old control point's lanes would keep the trip in their
            # caches (and clear the truck there) until their next snapshot.
            record_change(
                "trip_changed",
                old_cp.code,
                trip.direction,
                trip.reference,
                {"moved_to": new_cp.code},
                now=now,
            )
    metrics.BUNDLES.labels("rebundle").inc()
    return trip


@retrying()
def unbundle(principal: Principal, reference: str, security_code: str, now: datetime) -> models.Trip:
    driver = _require_driver(principal)
    with code_transaction():
        trip = own_trip(principal, reference, for_update=True)
        if trip.status == UNBUNDLED:
            return trip  # already done: a retried call
        _require_open(trip)
        verify_code(driver, security_code, now)
        _close(trip, now)
    metrics.BUNDLES.labels("unbundle").inc()
    return trip


def _close(trip: models.Trip, now: datetime) -> None:
    release_slot(trip)
    _detach(trip.id, set(), now)
    trip.status = UNBUNDLED
    trip.updated_at = to_db(now)
    trip.save()
    hooks.trip_changed("trip_unbundled", trip, models.ControlPoint.get_by_id(trip.control_point_id).code, now)


def consignment_left_trip(trip_id: int, now: datetime) -> None:
    """A bundled consignment was cancelled by its filer: the trip changes, and a trip
    left with no cargo (and not declared empty) is unbundled."""
    trip = models.Trip.get_by_id(trip_id)
    if trip.status != OPEN:
        return
    left = models.Consignment.select().where(models.Consignment.trip == trip_id).count()
    if left == 0 and not trip.empty:
        _close(trip, now)
        return
    trip.updated_at = to_db(now)
    trip.save()
    hooks.trip_changed("trip_changed", trip, models.ControlPoint.get_by_id(trip.control_point_id).code, now)


def availability(
    cp_code: str, direction: int, start: datetime, count: int
) -> list[tuple[datetime, int, int]]:
    from central.services.registration import control_point_by_code

    v = Violations()
    cp = control_point_by_code(v, "control_point", cp_code)
    if direction not in (common_pb2.IMPORT, common_pb2.EXPORT):
        v.add("direction", "must be IMPORT or EXPORT")
    if not 1 <= count <= 96:
        v.add("slots", "must be between 1 and 96")
    v.raise_if_any()
    assert cp is not None
    first = slot_start_for(start, cp.slot_minutes)
    step = timedelta(minutes=cp.slot_minutes)
    starts = [first + i * step for i in range(count)]
    S = models.SlotBooking
    booked = {
        from_db(row.slot_start): row.booked
        for row in S.select().where(
            (S.control_point == cp.id)
            & (S.direction == direction)
            & (S.slot_start.between(to_db(starts[0]), to_db(starts[-1])))
        )
    }
    return [(s, cp.slot_capacity, booked.get(s, 0)) for s in starts]


def list_query(principal: Principal, statuses: list[int], control_point: str) -> Any:
    T = models.Trip
    query = (
        T.select(T, models.Driver, models.Vehicle, models.ControlPoint)
        .join(models.Driver)
        .switch(T)
        .join(models.Vehicle)
        .switch(T)
        .join(models.ControlPoint)
    )
    if not principal.is_officer():
        query = query.where(T.driver == principal.account_id)
    if statuses:
        query = query.where(T.status.in_(statuses))
    if control_point.strip():
        query = query.where(models.ControlPoint.code == control_point.strip().upper())
    return query
