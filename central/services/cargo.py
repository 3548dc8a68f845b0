"""Advance cargo information: submit (-> CCRN), amend, cancel, read.

Rules (Cap. 60L and domain.md): the eight items are required; the expected crossing
must be at least 30 minutes and at most 14 days ahead of the server clock when filed;
only the submitting company amends or cancels, and only until the consignment has
crossed; every version is kept. A retried submission with the same idempotency key and
the same content returns the same CCRN; with other content it is refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import peewee

from central import ids, metrics
from central.services import errors, hooks, validate
from central.services.errors import Violations
from central.services.principal import COMPANY, Principal
from central.store import fast, models
from central.store.db import from_db, retrying, to_db, write_transaction
from proto.rocars.v1 import common_pb2

SUBMITTED = common_pb2.SUBMITTED
AMENDED = common_pb2.AMENDED
BUNDLED = common_pb2.BUNDLED
CANCELLED = common_pb2.CANCELLED
# States in which the filer may still change the consignment (it has not crossed).
LIVE = frozenset({SUBMITTED, AMENDED, BUNDLED})


@dataclass
class CargoInput:
    """The eight items and the optional ones, as received (not yet validated)."""

    packages_count: int
    package_description: str
    article_description: str
    consignor_name: str
    consignor_address: str
    consignee_name: str
    consignee_address: str
    expected_at: datetime | None
    gross_weight_kg: str = ""
    declared_value: str = ""
    currency: str = ""
    hs_code: str = ""
    container_numbers: list[str] = field(default_factory=list)
    seal_numbers: list[str] = field(default_factory=list)
    transshipment: bool = False
    elock_id: str = ""
    transshipment_route: str = ""


@dataclass
class CleanCargo:
    packages_count: int
    package_description: str
    article_description: str
    consignor_name: str
    consignor_address: str
    consignee_name: str
    consignee_address: str
    expected_at: datetime
    gross_weight_kg: Decimal | None
    declared_value: Decimal | None
    currency: str
    hs_code: str
    container_numbers: list[str]
    seal_numbers: list[str]
    transshipment: bool
    elock_id: str
    transshipment_route: str

    def _shallow(self) -> dict[str, Any]:
        # dataclasses.asdict deep-copies every value; on the submission path that was
        # a third of the service's time.
        return {name: getattr(self, name) for name in _CLEAN_FIELDS}

    def columns(self) -> dict[str, Any]:
        out = self._shallow()
        out["expected_at"] = to_db(self.expected_at)
        out["container_numbers"] = ",".join(self.container_numbers)
        out["seal_numbers"] = ",".join(self.seal_numbers)
        return out

    def as_json(self) -> dict[str, Any]:
        # Built once per cleaned input (the request hash and the version row both need
        # it); callers get their own top-level copy to add keys to.
        cached = self.__dict__.get("_json")
        if cached is None:
            cached = self.__dict__["_json"] = self._build_json()
        return dict(cached)

    def json_text(self) -> str:
        """``as_json()`` encoded with sorted keys, once per cleaned input (the request hash
        and the version row both embed it)."""
        cached = self.__dict__.get("_json_text")
        if cached is None:
            cached = self.__dict__["_json_text"] = json.dumps(self.as_json(), sort_keys=True)
        return str(cached)

    def _build_json(self) -> dict[str, Any]:
        out = self._shallow()
        out["container_numbers"] = list(self.container_numbers)
        out["seal_numbers"] = list(self.seal_numbers)
        out["expected_at"] = self.expected_at.isoformat()
        for key in ("gross_weight_kg", "declared_value"):
            # Normalised, so "1250.5" and "1250.500" are the same content.
            out[key] = None if out[key] is None else format(out[key].normalize(), "f")
        return out


_CLEAN_FIELDS = tuple(f.name for f in fields(CleanCargo))


@dataclass(frozen=True)
class Window:
    min_lead: timedelta
    max_lead: timedelta


def clean_cargo(v: Violations, data: CargoInput, prefix: str = "cargo.") -> CleanCargo:
    p = prefix
    count = data.packages_count
    if not 1 <= count <= 1_000_000:
        v.add(f"{p}packages_count", f"must be between 1 and 1000000 (got {count})")
    expected = data.expected_at
    if expected is None:
        v.add(f"{p}expected_at", "is required (expected arrival or departure time), between 2000 and 2100")
    weight = validate.decimal(
        v, f"{p}gross_weight_kg", data.gross_weight_kg, places=3, max_digits=12, positive=True
    )
    value = validate.decimal(
        v, f"{p}declared_value", data.declared_value, places=2, max_digits=16, positive=False
    )
    currency = validate.currency(v, f"{p}currency", data.currency)
    if value is not None and not currency:
        v.add(f"{p}currency", "is required with declared_value")
    if currency and value is None:
        v.add(f"{p}declared_value", "is required with currency")
    elock = validate.text(v, f"{p}elock_id", data.elock_id, 32, required=False).upper()
    route = validate.text(v, f"{p}transshipment_route", data.transshipment_route, 32, required=False).upper()
    if data.transshipment:
        if not elock:
            v.add(f"{p}elock_id", "is required for a transshipment consignment")
        if not route:
            v.add(f"{p}transshipment_route", "is required for a transshipment consignment (e.g. LMC-AIRPORT)")
    elif elock or route:
        v.add(f"{p}transshipment", "must be true when elock_id or transshipment_route is given")
    return CleanCargo(
        packages_count=count,
        package_description=validate.text(v, f"{p}package_description", data.package_description, 200),
        article_description=validate.text(
            v, f"{p}article_description", data.article_description, 2000, multiline=True
        ),
        consignor_name=validate.text(v, f"{p}consignor_name", data.consignor_name, 200),
        consignor_address=validate.text(v, f"{p}consignor_address", data.consignor_address, 300),
        consignee_name=validate.text(v, f"{p}consignee_name", data.consignee_name, 200),
        consignee_address=validate.text(v, f"{p}consignee_address", data.consignee_address, 300),
        expected_at=expected or datetime.min,
        gross_weight_kg=weight,
        declared_value=value,
        currency=currency,
        hs_code=validate.hs_code(v, f"{p}hs_code", data.hs_code),
        container_numbers=validate.container_numbers(v, f"{p}container_numbers", data.container_numbers),
        seal_numbers=validate.short_codes(v, f"{p}seal_numbers", data.seal_numbers),
        transshipment=data.transshipment,
        elock_id=elock,
        transshipment_route=route,
    )


def check_window(v: Violations, field_name: str, when: datetime, now: datetime, window: Window) -> None:
    if when < now + window.min_lead:
        minutes = int(window.min_lead.total_seconds() // 60)
        v.add(
            field_name,
            f"must be at least {minutes} minutes after now ({now.isoformat()}); got {when.isoformat()}",
        )
    elif when > now + window.max_lead:
        v.add(
            field_name,
            f"must be at most {window.max_lead.days} days after now ({now.isoformat()}); "
            f"got {when.isoformat()}",
        )


def _direction(v: Violations, field_name: str, value: int) -> int:
    if value not in (common_pb2.IMPORT, common_pb2.EXPORT):
        v.add(field_name, "must be IMPORT or EXPORT")
    return value


def _request_hash(direction: int, control_point: str, cargo: CleanCargo) -> str:
    # Byte for byte json.dumps({"d": direction, "cp": control_point, "c": cargo.as_json()},
    # sort_keys=True), the form every stored hash was made from, but with the cargo's
    # text encoded once for this and the version row.
    body = f'{{"c": {cargo.json_text()}, "cp": {json.dumps(control_point)}, "d": {json.dumps(direction)}}}'
    return hashlib.sha256(body.encode()).hexdigest()


def _require_company(principal: Principal) -> None:
    if principal.role != COMPANY:
        raise errors.PermissionDenied("only a company files cargo information")


@retrying()
def submit(
    principal: Principal,
    idempotency_key: str,
    direction: int,
    control_point: str,
    data: CargoInput,
    now: datetime,
    window: Window,
) -> models.Consignment:
    _require_company(principal)
    from central.services.registration import control_point_by_code

    v = Violations()
    key = validate.idempotency_key(v, "idempotency_key", idempotency_key)
    direction = _direction(v, "direction", direction)
    cp = control_point_by_code(v, "control_point", control_point)
    cargo = clean_cargo(v, data)
    v.raise_if_any()
    assert cp is not None
    digest = _request_hash(direction, cp.code, cargo)
    check_window(v, "cargo.expected_at", cargo.expected_at, now, window)
    if v:
        # Only a fresh submission is held to the window: a retry of an accepted one
        # must get its CCRN back even when it comes in after the 30-minute cut-off.
        existing = _by_key(principal.account_id, key)
        if existing is not None:
            return _replay(existing, digest)
        v.raise_if_any()
    # Insert first: the unique (company, idempotency key) index answers "is this a
    # retry?" inside the insert, so the common case costs no extra look-up.
    stamp = to_db(now)
    for _attempt in range(5):
        values = dict(
            ccrn=ids.new_ccrn(),
            company=principal.account_id,
            idempotency_key=key,
            request_hash=digest,
            direction=direction,
            control_point=cp.id,
            status=SUBMITTED,
            version=1,
            created_at=stamp,
            updated_at=stamp,
            **cargo.columns(),
        )
        try:
            with write_transaction():
                new_id = fast.insert_returning_id(models.Consignment, values)
                consignment = fast.instance(models.Consignment, {"id": new_id, **values})
                consignment.control_point = cp  # the row we have: no look-up when read
                _add_version(consignment, 1, "submitted", cargo, cp.code, direction, "", now)
                hooks.consignment_changed(consignment)
            metrics.SUBMISSIONS.inc()
            return consignment
        except peewee.IntegrityError:
            # Either a concurrent retry with the same key won (return its CCRN) or the
            # random CCRN collided (draw another).
            existing = _by_key(principal.account_id, key)
            if existing is not None:
                return _replay(existing, digest)
    raise errors.ResourceExhausted("could not allocate a unique CCRN; retry")


def _by_key(company_id: int, key: str) -> models.Consignment | None:
    hit = fast.select_one(models.Consignment, ("id",), {"company": company_id, "idempotency_key": key})
    return None if hit is None else models.Consignment.get_by_id(hit[0])


def _replay(existing: models.Consignment, digest: str) -> models.Consignment:
    if existing.request_hash != digest:
        raise errors.AlreadyExists(
            f"idempotency_key: already used for consignment {existing.ccrn} with different content; "
            "use a new key for a new consignment"
        )
    return existing


def _add_version(
    consignment: models.Consignment,
    version: int,
    action: str,
    cargo: CleanCargo | None,
    cp_code: str,
    direction: int,
    reason: str,
    now: datetime,
) -> None:
    if cargo is not None:
        # The cargo's text as already encoded, with the two keys put in front (readers
        # parse it, so key order carries no meaning).
        head = json.dumps({"control_point": cp_code, "direction": direction})
        text = f"{head[:-1]}, {cargo.json_text()[1:]}"
    else:
        data = snapshot(consignment)
        data["control_point"] = cp_code
        data["direction"] = direction
        text = json.dumps(data, sort_keys=True)
    fast.insert_returning_id(
        models.ConsignmentVersion,
        {
            "consignment": consignment.id,
            "version": version,
            "action": action,
            "data": text,
            "reason": reason[:300],
            "created_at": to_db(now),
        },
    )


def snapshot(c: models.Consignment) -> dict[str, Any]:
    """The cargo items of a row, in the JSON form versions keep."""
    return {
        "packages_count": c.packages_count,
        "package_description": c.package_description,
        "article_description": c.article_description,
        "consignor_name": c.consignor_name,
        "consignor_address": c.consignor_address,
        "consignee_name": c.consignee_name,
        "consignee_address": c.consignee_address,
        "expected_at": from_db(c.expected_at).isoformat(),  # type: ignore[union-attr]
        "gross_weight_kg": None if c.gross_weight_kg is None else str(c.gross_weight_kg),
        "declared_value": None if c.declared_value is None else str(c.declared_value),
        "currency": c.currency,
        "hs_code": c.hs_code,
        "container_numbers": [x for x in c.container_numbers.split(",") if x],
        "seal_numbers": [x for x in c.seal_numbers.split(",") if x],
        "transshipment": bool(c.transshipment),
        "elock_id": c.elock_id,
        "transshipment_route": c.transshipment_route,
    }


def parse_ccrn(v: Violations, field_name: str, text: str) -> str:
    try:
        return ids.normalise_ccrn(text)
    except ids.IdentifierError as exc:
        v.add(field_name, str(exc))
        return ""


def _own(principal: Principal, ccrn: str, *, for_update: bool = False) -> models.Consignment:
    query = models.Consignment.select().where(models.Consignment.ccrn == ccrn)
    if not principal.is_officer():
        # Another company's CCRN answers exactly like an unknown one.
        query = query.where(models.Consignment.company == principal.account_id)
    if for_update:
        query = query.for_update()
    row = query.first()
    if row is None:
        raise errors.NotFound(f"ccrn: no consignment {ids.format_ccrn(ccrn)} of yours")
    return row


def _lock_clause() -> bool:
    from central.store.db import is_postgres

    return is_postgres()


@retrying()
def amend(
    principal: Principal,
    ccrn_text: str,
    data: CargoInput,
    expected_version: int,
    reason: str,
    control_point: str,
    direction: int,
    now: datetime,
    window: Window,
) -> models.Consignment:
    _require_company(principal)
    from central.services.registration import control_point_by_code

    v = Violations()
    ccrn = parse_ccrn(v, "ccrn", ccrn_text)
    cargo = clean_cargo(v, data)
    reason = validate.text(v, "reason", reason, 300, required=False)
    new_cp = control_point_by_code(v, "control_point", control_point) if control_point.strip() else None
    if direction:
        _direction(v, "direction", direction)
    v.raise_if_any()
    with write_transaction():
        row = _own(principal, ccrn, for_update=_lock_clause())
        if row.status not in LIVE:
            raise errors.FailedPrecondition(
                f"ccrn: consignment {ids.format_ccrn(ccrn)} is {status_name(row.status)}"
                " and can no longer be amended"
            )
        if expected_version and expected_version != row.version:
            raise errors.Conflict(
                f"expected_version: consignment is at version {row.version}, not "
                f"{expected_version}; re-read it and amend again"
            )
        cp = new_cp or models.ControlPoint.get_by_id(row.control_point_id)
        new_direction = direction or row.direction
        if (
            row.trip_id is not None
            and row.status == BUNDLED
            and (cp.id != row.control_point_id or new_direction != row.direction)
        ):
            v.add(
                "control_point" if cp.id != row.control_point_id else "direction",
                "cannot change while the consignment is bundled to a trip; the driver must unbundle it first",
            )
        if cargo.expected_at != from_db(row.expected_at):
            check_window(v, "cargo.expected_at", cargo.expected_at, now, window)
        v.raise_if_any()
        version = row.version + 1
        for name, value in cargo.columns().items():
            setattr(row, name, value)
        row.control_point = cp
        row.direction = new_direction
        row.version = version
        row.status = BUNDLED if row.status == BUNDLED else AMENDED
        row.updated_at = to_db(now)
        row.save()
        _add_version(row, version, "amended", cargo, cp.code, new_direction, reason, now)
        hooks.consignment_changed(row)
        _touch_trip(row, now)
    metrics.AMENDMENTS.inc()
    return row


@retrying()
def cancel(principal: Principal, ccrn_text: str, reason: str, now: datetime) -> models.Consignment:
    _require_company(principal)
    v = Violations()
    ccrn = parse_ccrn(v, "ccrn", ccrn_text)
    reason = validate.text(v, "reason", reason, 300, required=False)
    v.raise_if_any()
    with write_transaction():
        row = _own(principal, ccrn, for_update=_lock_clause())
        if row.status == CANCELLED:
            return row  # cancelling twice is the same as once (a retried call)
        if row.status not in LIVE:
            raise errors.FailedPrecondition(
                f"ccrn: consignment {ids.format_ccrn(ccrn)} is {status_name(row.status)}"
                " and can no longer be cancelled"
            )
        trip_id = row.trip_id if row.status == BUNDLED else None
        row.version += 1
        row.status = CANCELLED
        row.updated_at = to_db(now)
        row.trip = None
        row.save()
        cp_code = models.ControlPoint.get_by_id(row.control_point_id).code
        _add_version(row, row.version, "cancelled", None, cp_code, row.direction, reason, now)
        hooks.consignment_changed(row)
        if trip_id is not None:
            from central.services import bundling

            bundling.consignment_left_trip(trip_id, now)
    metrics.CANCELLATIONS.inc()
    return row


def status_name(status: int) -> str:
    return common_pb2.ConsignmentStatus.Name(status).lower().replace("_", " ")


def _touch_trip(row: models.Consignment, now: datetime) -> None:
    if row.status == BUNDLED and row.trip_id is not None:
        trip = models.Trip.get_by_id(row.trip_id)
        trip.updated_at = to_db(now)
        trip.save()
        hooks.trip_changed(
            "trip_changed", trip, models.ControlPoint.get_by_id(trip.control_point_id).code, now
        )


def get(principal: Principal, ccrn_text: str) -> models.Consignment:
    v = Violations()
    ccrn = parse_ccrn(v, "ccrn", ccrn_text)
    v.raise_if_any()
    return _own(principal, ccrn)


def versions(
    principal: Principal, ccrn_text: str
) -> tuple[models.Consignment, list[models.ConsignmentVersion]]:
    row = get(principal, ccrn_text)
    rows = list(
        models.ConsignmentVersion.select()
        .where(models.ConsignmentVersion.consignment == row)
        .order_by(models.ConsignmentVersion.version)
    )
    return row, rows


def list_query(principal: Principal, statuses: list[int], company_id: int, control_point: str) -> Any:
    C = models.Consignment
    query = (
        C.select(C, models.Company, models.ControlPoint, models.Trip)
        .join(models.Company)
        .switch(C)
        .join(models.ControlPoint)
        .switch(C)
        .join(models.Trip, peewee.JOIN.LEFT_OUTER)
    )
    if principal.is_officer():
        if company_id:
            query = query.where(C.company == company_id)
    else:
        query = query.where(C.company == principal.account_id)
    if statuses:
        query = query.where(C.status.in_(statuses))
    if control_point.strip():
        query = query.where(models.ControlPoint.code == control_point.strip().upper())
    return query
