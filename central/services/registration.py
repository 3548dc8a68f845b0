"""Registration of control points, officers, companies, drivers, vehicles and lanes.
Officer-only (the interceptor enforces the role); every account gets its first API
token here, and drivers their RFC 6238 security-code secret."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee
import pyotp

from central.services import errors, hooks, tokens, validate
from central.services.epoch import Generation, bump, shared_epoch
from central.services.errors import Violations
from central.services.principal import COMPANY, DRIVER, OFFICER
from central.store import fast, models
from central.store.db import to_db, write_transaction

TOTP_ISSUER = "ROCARS"
CONTROL_POINT_RULE = "must be 2 to 8 letters, e.g. LMC"
LANE_RULE = "must be 2 to 32 of A-Z 0-9 and -, starting with a letter or digit"
BADGE_RULE = "must be 1 to 20 of A-Z 0-9 and -"


@dataclass(frozen=True)
class ControlPointInput:
    code: str
    name: str
    slot_minutes: int
    slot_capacity: int


def upsert_control_point(
    data: ControlPointInput, default_minutes: int, default_capacity: int
) -> models.ControlPoint:
    v = Violations()
    code = validate.code(v, "control_point.code", data.code, r"^[A-Z]{2,8}$", CONTROL_POINT_RULE)
    name = validate.text(v, "control_point.name", data.name, 100)
    minutes = validate.int_range(
        v, "control_point.slot_minutes", data.slot_minutes or default_minutes, 5, 240
    )
    capacity = validate.int_range(
        v, "control_point.slot_capacity", data.slot_capacity or default_capacity, 1, 10_000
    )
    if minutes and 1440 % minutes:
        v.add("control_point.slot_minutes", "must divide a day evenly (e.g. 10, 15, 20, 30, 60)")
    v.raise_if_any()
    with write_transaction():
        cp = models.ControlPoint.get_or_none(models.ControlPoint.code == code)
        if cp is None:
            cp = models.ControlPoint.create(
                code=code, name=name, slot_minutes=minutes, slot_capacity=capacity
            )
        else:
            cp.name, cp.slot_minutes, cp.slot_capacity = name, minutes, capacity
            cp.save()
        bump()  # other processes drop their cached copy when this commits
    _control_points.clear()
    return cp


class _TtlCache:
    """Control points change a few times a year and are read on every submission and
    bundling; keep them for a few seconds. A change through any process moves the shared
    epoch, which clears this cache in every process within the epoch's poll interval;
    ``ttl_s`` is only the backstop."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._items: dict[str, tuple[float, tuple[Any, ...]]] = {}
        self.generation = Generation()

    def get(self, key: str) -> tuple[Any, ...] | None:
        hit = self._items.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, key: str, value: tuple[Any, ...], generation: int) -> None:
        """Store a look-up begun at ``generation``; dropped if a clear came since."""
        if generation == self.generation.value:
            self._items[key] = (time.monotonic() + self.ttl_s, value)

    def clear(self) -> None:
        self.generation.advance()
        self._items.clear()


_control_points = _TtlCache()
shared_epoch.register(_control_points.clear)


def reset_caches() -> None:
    """Forget cached state (a server starting on a database, tests switching databases).
    Wrong-code counts live in the database and are not cached."""
    shared_epoch.forget()


def control_point_by_code(v: Violations, field: str, value: str) -> models.ControlPoint | None:
    code = validate.code(v, field, value, r"^[A-Z]{2,8}$", CONTROL_POINT_RULE)
    if v and any(x.field == field for x in v.items):
        return None
    shared_epoch.check()
    row = _control_points.get(code)
    if row is None:
        generation = _control_points.generation.value
        row = fast.select_one(
            models.ControlPoint, ("id", "code", "name", "slot_minutes", "slot_capacity"), {"code": code}
        )
        if row is not None:
            _control_points.put(code, row, generation)
    if row is None:
        v.add(field, f"no control point {code!r} is registered")
        return None
    return models.ControlPoint(id=row[0], code=row[1], name=row[2], slot_minutes=row[3], slot_capacity=row[4])


def register_officer(
    badge: str, name: str, now: datetime, token_label: str = ""
) -> tuple[models.Officer, str]:
    v = Violations()
    badge = validate.code(v, "officer.badge_number", badge, r"^[A-Z0-9\-]{1,20}$", BADGE_RULE)
    name = validate.text(v, "officer.name", name, 100)
    v.raise_if_any()
    try:
        with write_transaction():
            officer = models.Officer.create(badge_number=badge, name=name, created_at=to_db(now))
            token = tokens.issue(OFFICER, now, officer=officer, label=token_label)
    except peewee.IntegrityError as exc:
        raise errors.AlreadyExists(f"officer.badge_number: {badge} is already registered") from exc
    return officer, token


@dataclass(frozen=True)
class CompanyInput:
    kind: int
    brn: str
    name: str
    address: str
    contact_name: str
    contact_phone: str
    contact_email: str = ""


def register_company(data: CompanyInput, now: datetime, token_label: str = "") -> tuple[models.Company, str]:
    v = Violations()
    if data.kind not in (1, 2, 3):
        v.add("company.kind", "must be SHIPPER, FREIGHT_FORWARDER or AGENT")
    brn = validate.code(
        v,
        "company.brn",
        data.brn,
        r"^\d{8}(-\d{3})?$",
        "must be an 8-digit business registration number, optionally with -NNN branch",
    )
    name = validate.text(v, "company.name", data.name, 200)
    address = validate.text(v, "company.address", data.address, 300)
    contact = validate.text(v, "company.contact_name", data.contact_name, 100)
    phone = validate.phone(v, "company.contact_phone", data.contact_phone, required=True)
    email = validate.email(v, "company.contact_email", data.contact_email)
    v.raise_if_any()
    try:
        with write_transaction():
            company = models.Company.create(
                kind=data.kind,
                brn=brn,
                name=name,
                address=address,
                contact_name=contact,
                contact_phone=phone,
                contact_email=email,
                created_at=to_db(now),
            )
            token = tokens.issue(COMPANY, now, company=company, label=token_label)
    except peewee.IntegrityError as exc:
        raise errors.AlreadyExists(f"company.brn: {brn} is already registered") from exc
    return company, token


@dataclass(frozen=True)
class DriverInput:
    document_number: str
    name: str
    card_number: str = ""
    phone: str = ""


def totp_uri(driver: models.Driver) -> str:
    return pyotp.TOTP(driver.totp_secret).provisioning_uri(
        name=driver.document_number, issuer_name=TOTP_ISSUER
    )


def register_driver(data: DriverInput, now: datetime, token_label: str = "") -> tuple[models.Driver, str]:
    v = Violations()
    doc = validate.document_number(v, "driver.document_number", data.document_number)
    name = validate.text(v, "driver.name", data.name, 100)
    card = data.card_number.strip().upper()
    if card and not validate.re.match(r"^[A-Z0-9\-]{1,32}$", card):
        v.add("driver.card_number", "must be 1 to 32 of A-Z 0-9 and -")
    phone = validate.phone(v, "driver.phone", data.phone, required=False)
    v.raise_if_any()
    try:
        with write_transaction():
            driver = models.Driver.create(
                document_number=doc,
                name=name,
                card_number=card or None,
                phone=phone,
                totp_secret=pyotp.random_base32(),
                created_at=to_db(now),
            )
            token = tokens.issue(DRIVER, now, driver=driver, label=token_label)
            hooks.driver_changed(driver, now)
    except peewee.IntegrityError as exc:
        raise errors.AlreadyExists(
            "driver.document_number or driver.card_number: already registered to another driver"
        ) from exc
    return driver, token


def reset_driver_secret(driver_id: int) -> models.Driver:
    with write_transaction():
        driver = models.Driver.get_or_none(models.Driver.id == driver_id)
        if driver is None:
            raise errors.NotFound(f"driver_id: no driver {driver_id}")
        driver.totp_secret = pyotp.random_base32()
        driver.last_totp_step = 0
        driver.save()
        from central.services.bundling import code_guard

        code_guard.reset(driver_id)  # a new secret starts with a clean slate
    return driver


@dataclass(frozen=True)
class VehicleInput:
    registration_mark: str
    mainland_plate: str = ""
    tag_epc: str = ""
    owner_company_id: int = 0


def _mainland_plate(v: Violations, value: str) -> str:
    plate = validate.text(v, "vehicle.mainland_plate", value, 16, required=False)
    return validate.normalise_plate(plate)


def register_vehicle(data: VehicleInput, now: datetime) -> models.Vehicle:
    v = Violations()
    mark = validate.registration_mark(v, "vehicle.registration_mark", data.registration_mark)
    mainland = _mainland_plate(v, data.mainland_plate)
    epc = validate.tag_epc(v, "vehicle.tag_epc", data.tag_epc)
    owner = None
    if data.owner_company_id:
        owner = models.Company.get_or_none(models.Company.id == data.owner_company_id)
        if owner is None:
            v.add("vehicle.owner_company_id", f"no company {data.owner_company_id}")
    v.raise_if_any()
    try:
        with write_transaction():
            vehicle = models.Vehicle.create(
                registration_mark=mark,
                mainland_plate=mainland or None,
                tag_epc=epc or None,
                owner=owner,
                created_at=to_db(now),
            )
            hooks.vehicle_changed(vehicle, now)
    except peewee.IntegrityError as exc:
        raise errors.AlreadyExists(
            "vehicle.registration_mark or vehicle.tag_epc: already registered to another vehicle"
        ) from exc
    return vehicle


def update_vehicle(mark_text: str, mainland_plate: str, tag_epc: str, now: datetime) -> models.Vehicle:
    v = Violations()
    mark = validate.registration_mark(v, "registration_mark", mark_text)
    mainland = _mainland_plate(v, mainland_plate)
    epc = validate.tag_epc(v, "tag_epc", tag_epc)
    v.raise_if_any()
    try:
        with write_transaction():
            vehicle = models.Vehicle.get_or_none(models.Vehicle.registration_mark == mark)
            if vehicle is None:
                raise errors.NotFound(f"registration_mark: no vehicle {mark}")
            vehicle.mainland_plate, vehicle.tag_epc = mainland or None, epc or None
            vehicle.save()
            hooks.vehicle_changed(vehicle, now)
    except peewee.IntegrityError as exc:
        raise errors.AlreadyExists("tag_epc: already registered to another vehicle") from exc
    return vehicle


@dataclass(frozen=True)
class LaneInput:
    code: str
    control_point: str
    direction: int
    description: str = ""


def register_lane(data: LaneInput, now: datetime) -> models.Lane:
    v = Violations()
    code = validate.code(v, "lane.code", data.code, r"^[A-Z0-9][A-Z0-9\-]{1,31}$", LANE_RULE)
    cp = control_point_by_code(v, "lane.control_point", data.control_point)
    if data.direction not in (1, 2):
        v.add("lane.direction", "must be IMPORT or EXPORT")
    description = validate.text(v, "lane.description", data.description, 200, required=False)
    v.raise_if_any()
    try:
        with write_transaction():
            lane = models.Lane.create(
                code=code,
                control_point=cp,
                direction=data.direction,
                description=description,
                created_at=to_db(now),
            )
            hooks.lane_changed(lane, now)
    except peewee.IntegrityError as exc:
        raise errors.AlreadyExists(f"lane.code: {code} is already registered") from exc
    return lane


_ACCOUNT_MODELS: dict[int, type[models.BaseModel]] = {
    1: models.Officer,
    2: models.Company,
    3: models.Driver,
    4: models.Lane,
}
_ACCOUNT_ROLES = {1: OFFICER, 2: COMPANY, 3: DRIVER}


def account(kind: int, account_id: int) -> models.BaseModel:
    model = _ACCOUNT_MODELS.get(kind)
    if model is None:
        raise errors.ValidationError(
            [errors.FieldViolation("account_kind", "must be OFFICER, COMPANY, DRIVER or LANE")]
        )
    row = model.get_or_none(model.id == account_id)  # type: ignore[attr-defined]
    if row is None:
        raise errors.NotFound(f"account_id: no {model.__name__.lower()} {account_id}")
    return row


def issue_token(kind: int, account_id: int, label: str, now: datetime) -> str:
    if kind not in _ACCOUNT_ROLES:
        raise errors.ValidationError(
            [
                errors.FieldViolation(
                    "account_kind", "must be OFFICER, COMPANY or DRIVER (lanes use certificates)"
                )
            ]
        )
    row = account(kind, account_id)
    with write_transaction():
        return tokens.issue(
            _ACCOUNT_ROLES[kind],
            now,
            label=label,
            officer=row if isinstance(row, models.Officer) else None,
            company=row if isinstance(row, models.Company) else None,
            driver=row if isinstance(row, models.Driver) else None,
        )


def revoke_tokens(kind: int, account_id: int, now: datetime) -> int:
    if kind not in _ACCOUNT_ROLES:
        raise errors.ValidationError(
            [errors.FieldViolation("account_kind", "must be OFFICER, COMPANY or DRIVER")]
        )
    account(kind, account_id)
    with write_transaction():
        return tokens.revoke_all(_ACCOUNT_ROLES[kind], account_id, now)


def set_active(kind: int, account_id: int, active: bool, now: datetime) -> None:
    row = account(kind, account_id)
    with write_transaction():
        row.active = active  # type: ignore[attr-defined]
        row.save()
        bump()  # other processes drop cached principals of this account when this commits
        if isinstance(row, models.Driver):
            hooks.driver_changed(row, now)
        elif isinstance(row, models.Lane):
            hooks.lane_changed(row, now)
    tokens.token_cache.clear()
