"""Core models of the central service.

Conventions: times are naive UTC (``db.to_db``/``db.from_db`` at the edges); public
identifiers (CCRN, trip reference, registration mark, tag EPC) are stored normalised
(upper case, no spaces) so look-ups are exact index hits. Tables of other areas (risk,
sync) live in their own modules and join the schema through ``register_models``.
"""

from __future__ import annotations

from typing import Any

import peewee

from central.store.db import database_proxy

# Other areas' tables (risk, sync) add themselves here; central.store.schema creates
# them with the core ones, in registration order (so foreign keys resolve).
_EXTRA_MODELS: list[type[peewee.Model]] = []


def register_models(*models: type[peewee.Model]) -> None:
    for model in models:
        if model not in _EXTRA_MODELS:
            _EXTRA_MODELS.append(model)


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()
    applied_at = peewee.DateTimeField()


class ControlPoint(BaseModel):
    """A land boundary control point, with its crossing-slot configuration."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row

    code = peewee.CharField(max_length=8, unique=True)  # e.g. "LMC"
    name = peewee.CharField(max_length=100)
    slot_minutes = peewee.IntegerField(default=15)
    slot_capacity = peewee.IntegerField(default=60)  # trucks per slot per direction


class Officer(BaseModel):
    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row

    badge_number = peewee.CharField(max_length=20, unique=True)
    name = peewee.CharField(max_length=100)
    created_at = peewee.DateTimeField()
    active = peewee.BooleanField(default=True)


class Company(BaseModel):
    """A shipper, freight forwarder or agent (all may file cargo information)."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row

    kind = peewee.SmallIntegerField()  # proto rocars.v1.CompanyKind
    brn = peewee.CharField(max_length=16, unique=True)  # business registration number
    name = peewee.CharField(max_length=200)
    address = peewee.CharField(max_length=300)
    contact_name = peewee.CharField(max_length=100)
    contact_phone = peewee.CharField(max_length=30)
    contact_email = peewee.CharField(max_length=200, default="")
    created_at = peewee.DateTimeField()
    active = peewee.BooleanField(default=True)


class Driver(BaseModel):
    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row

    document_number = peewee.CharField(max_length=20, unique=True)  # identity document
    name = peewee.CharField(max_length=100)
    card_number = peewee.CharField(max_length=32, null=True, unique=True)  # smart identity card
    phone = peewee.CharField(max_length=30, default="")
    # RFC 6238 shared secret (base32). It must be stored recoverable to verify codes;
    # it is never returned after registration and never logged.
    totp_secret = peewee.CharField(max_length=64)
    last_totp_step = peewee.BigIntegerField(default=0)  # replay guard: a code works once
    created_at = peewee.DateTimeField()
    active = peewee.BooleanField(default=True)


class Vehicle(BaseModel):
    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    owner_id: int | None

    registration_mark = peewee.CharField(max_length=10, unique=True)  # HK plate, normalised
    mainland_plate = peewee.CharField(max_length=16, null=True)
    tag_epc = peewee.CharField(max_length=24, null=True, unique=True)  # 96-bit EPC, hex
    owner = peewee.ForeignKeyField(Company, null=True, backref="vehicles", on_delete="SET NULL")
    created_at = peewee.DateTimeField()
    active = peewee.BooleanField(default=True)


class Lane(BaseModel):
    """A kiosk lane; it authenticates by a client certificate whose CN is ``code``."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    control_point_id: int

    code = peewee.CharField(max_length=32, unique=True)
    control_point = peewee.ForeignKeyField(ControlPoint, backref="lanes")
    direction = peewee.SmallIntegerField()  # proto rocars.v1.Direction
    description = peewee.CharField(max_length=200, default="")
    created_at = peewee.DateTimeField()
    active = peewee.BooleanField(default=True)


class ApiToken(BaseModel):
    """Bearer tokens, stored only as SHA-256 of the token (tokens are 256-bit random)."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    officer_id: int | None
    company_id: int | None
    driver_id: int | None

    token_hash = peewee.CharField(max_length=64, unique=True)
    role = peewee.SmallIntegerField()  # proto rocars.v1.Role
    officer = peewee.ForeignKeyField(Officer, null=True, on_delete="CASCADE")
    company = peewee.ForeignKeyField(Company, null=True, on_delete="CASCADE")
    driver = peewee.ForeignKeyField(Driver, null=True, on_delete="CASCADE")
    label = peewee.CharField(max_length=100, default="")
    created_at = peewee.DateTimeField()
    revoked_at = peewee.DateTimeField(null=True)


class Trip(BaseModel):
    """A truck's crossing: driver + vehicle + bundled consignments + a time slot."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    driver_id: int
    vehicle_id: int
    control_point_id: int

    reference = peewee.CharField(max_length=16, unique=True)
    driver = peewee.ForeignKeyField(Driver, backref="trips")
    vehicle = peewee.ForeignKeyField(Vehicle, backref="trips")
    control_point = peewee.ForeignKeyField(ControlPoint, backref="trips")
    direction = peewee.SmallIntegerField()
    expected_arrival = peewee.DateTimeField()
    slot_start = peewee.DateTimeField()
    slot_end = peewee.DateTimeField()
    empty = peewee.BooleanField(default=False)  # declared empty-truck trip
    status = peewee.SmallIntegerField(index=True)  # proto rocars.v1.TripStatus
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()
    crossed_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("control_point", "direction", "slot_start"), False), (("vehicle", "status"), False))


class SlotBooking(BaseModel):
    """Trucks booked into one slot; incremented with a guarded UPDATE so two bundlings
    racing for the last place cannot both get it."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    control_point_id: int

    control_point = peewee.ForeignKeyField(ControlPoint)
    direction = peewee.SmallIntegerField()
    slot_start = peewee.DateTimeField()
    booked = peewee.IntegerField(default=0)

    class Meta:
        indexes = ((("control_point", "direction", "slot_start"), True),)


class Consignment(BaseModel):
    """Advance cargo information (Cap. 60L Schedule 1) as currently in force; every
    version, the first included, is kept in ConsignmentVersion."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    company_id: int
    control_point_id: int
    trip_id: int | None

    ccrn = peewee.CharField(max_length=16, unique=True)
    company = peewee.ForeignKeyField(Company, backref="consignments")
    idempotency_key = peewee.CharField(max_length=64)
    # SHA-256 of the submission as first received: a retry with the same key must carry
    # the same content to get the same CCRN back.
    request_hash = peewee.CharField(max_length=64, default="")
    direction = peewee.SmallIntegerField()
    control_point = peewee.ForeignKeyField(ControlPoint, backref="consignments")
    status = peewee.SmallIntegerField(index=True)  # proto rocars.v1.ConsignmentStatus
    version = peewee.IntegerField(default=1)
    # The eight items
    packages_count = peewee.IntegerField()
    package_description = peewee.CharField(max_length=200)
    article_description = peewee.TextField()
    consignor_name = peewee.CharField(max_length=200)
    consignor_address = peewee.CharField(max_length=300)
    consignee_name = peewee.CharField(max_length=200)
    consignee_address = peewee.CharField(max_length=300)
    expected_at = peewee.DateTimeField()
    # Optional items
    gross_weight_kg = peewee.DecimalField(max_digits=12, decimal_places=3, null=True)
    declared_value = peewee.DecimalField(max_digits=16, decimal_places=2, null=True)
    currency = peewee.CharField(max_length=3, default="")
    hs_code = peewee.CharField(max_length=12, default="")
    container_numbers = peewee.TextField(default="")  # comma-separated ISO 6346 numbers
    seal_numbers = peewee.TextField(default="")
    transshipment = peewee.BooleanField(default=False)
    elock_id = peewee.CharField(max_length=32, default="")
    transshipment_route = peewee.CharField(max_length=32, default="")  # e.g. "LMC-AIRPORT"
    trip = peewee.ForeignKeyField(Trip, null=True, backref="consignments", on_delete="SET NULL")
    created_at = peewee.DateTimeField()
    updated_at = peewee.DateTimeField()

    class Meta:
        indexes = ((("company", "idempotency_key"), True), (("company", "created_at"), False))


class ConsignmentVersion(BaseModel):
    """Every submitted, amended or cancelled state of a consignment, for officers."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    consignment_id: int

    # No index of its own: the unique (consignment, version) index below leads with it
    # and serves every look-up by consignment (ordered by version, as they all are);
    # one index fewer is one page fewer written per submission (schema v5 drops it
    # from older databases).
    consignment = peewee.ForeignKeyField(Consignment, backref="versions", on_delete="CASCADE", index=False)
    version = peewee.IntegerField()
    action = peewee.CharField(max_length=16)  # submitted | amended | cancelled
    data = peewee.TextField()  # JSON of the eight items and the optional ones
    reason = peewee.CharField(max_length=300, default="")
    created_at = peewee.DateTimeField()

    class Meta:
        indexes = ((("consignment", "version"), True),)


class IdempotentReply(BaseModel):
    """Replies to mutating calls keyed by (account, method, client key), so a retried
    call returns the first reply and does nothing twice."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row

    principal = peewee.CharField(max_length=64)
    method = peewee.CharField(max_length=64)
    key = peewee.CharField(max_length=64)
    request_hash = peewee.CharField(max_length=64)
    reply = peewee.BlobField()
    created_at = peewee.DateTimeField()

    class Meta:
        indexes = ((("principal", "method", "key"), True),)


class CacheEpoch(BaseModel):
    """One row (id 1) whose ``value`` moves, in the same transaction, with every change
    that must invalidate the per-process caches of tokens and control points (a token
    revoked, an account deactivated, a control point's slots changed). Every central
    process reads it at most once per poll interval and drops its caches when it moved
    (central.services.epoch), so N processes on one database stay consistent within
    that interval rather than within the caches' TTL."""

    id: Any  # always 1

    value = peewee.BigIntegerField(default=0)


class SecurityCodeGuard(BaseModel):
    """Consecutive wrong security codes of one driver and the end of their lock-out.
    Kept in the database, not per process, so the limit holds however many central
    processes an attacker's calls are spread over (central.services.bundling)."""

    # Attributes peewee adds (typed for mypy; annotations create no columns).
    id: Any  # the AutoField peewee adds: a column on the class, an int on a row
    driver_id: int

    driver = peewee.ForeignKeyField(Driver, unique=True, on_delete="CASCADE")
    failures = peewee.IntegerField(default=0)
    locked_until = peewee.DateTimeField(null=True)


CORE_MODELS: tuple[type[peewee.Model], ...] = (
    SchemaVersion,
    ControlPoint,
    Officer,
    Company,
    Driver,
    Vehicle,
    Lane,
    ApiToken,
    Trip,
    SlotBooking,
    Consignment,
    ConsignmentVersion,
    IdempotentReply,
    CacheEpoch,
    SecurityCodeGuard,
)


def all_models() -> list[type[peewee.Model]]:
    return [*CORE_MODELS, *_EXTRA_MODELS]
