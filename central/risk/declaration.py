"""Trade declaration drafts built from advance cargo information, so traders do not type it twice.

Every field the cargo data (and the company record, and the trip the consignment was
bundled into) already answers is filled and marked ``reused`` with its source; what only the
trader knows (country of origin, statistical quantity, ...) is left empty and marked
required. One declaration may cover several CCRNs of the same direction: the header comes
from the first, and each CCRN becomes an item.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from central.risk.errors import FailedPrecondition, NotFound
from central.services.errors import Violations
from central.services.principal import Principal
from central.store import models as m
from central.store.db import from_db
from proto.rocars.v1 import common_pb2

MAX_CCRNS = 50
C: Any = m.Consignment
T: Any = m.Trip
V: Any = m.Vehicle
DIRECTIONS = {common_pb2.IMPORT: "import", common_pb2.EXPORT: "export"}


@dataclass(frozen=True)
class DraftField:
    path: str
    value: str
    reused: bool
    source: str
    required: bool


@dataclass(frozen=True)
class Draft:
    declaration_type: str
    fields: list[DraftField]

    @property
    def reused(self) -> int:
        return sum(1 for f in self.fields if f.reused)

    @property
    def missing(self) -> int:
        return sum(1 for f in self.fields if f.required and not f.value)

    def as_json(self) -> dict[str, Any]:
        return {
            "declaration_type": self.declaration_type,
            "reused_fields": self.reused,
            "missing_fields": self.missing,
            "total_fields": len(self.fields),
            "fields": [asdict(f) for f in self.fields],
        }

    def dumps(self) -> str:
        return json.dumps(self.as_json(), ensure_ascii=False, sort_keys=True)


class _Builder:
    def __init__(self) -> None:
        self.fields: list[DraftField] = []

    def reuse(self, path: str, value: Any, source: str, *, required: bool = True) -> None:
        text = "" if value is None else str(value).strip()
        self.fields.append(DraftField(path, text, bool(text), source if text else "", required))

    def missing(self, path: str, *, required: bool = True) -> None:
        self.fields.append(DraftField(path, "", False, "", required))


def draft(principal: Principal, ccrns: list[str]) -> Draft:
    v = Violations()
    refs = [c.strip().upper() for c in ccrns]
    if not refs:
        v.add("ccrns", "give at least one CCRN")
    if len(refs) > MAX_CCRNS:
        v.add("ccrns", f"at most {MAX_CCRNS} CCRNs per declaration")
    if len(set(refs)) != len(refs):
        v.add("ccrns", "a CCRN appears twice")
    v.raise_if_any()
    rows = {c.ccrn: c for c in C.select().where(C.ccrn.in_(refs))}
    consignments = []
    for i, ref in enumerate(refs):
        c = rows.get(ref)
        # A company sees only its own consignments; another's is "not found", not "forbidden".
        if c is None or (not principal.is_officer() and int(c.company_id) != principal.account_id):
            raise NotFound(f"ccrns[{i}]: consignment {ref} not found")
        if c.status == common_pb2.CANCELLED:
            raise FailedPrecondition(f"ccrns[{i}]: consignment {ref} is cancelled")
        consignments.append(c)
    first = consignments[0]
    for i, c in enumerate(consignments[1:], start=1):
        if c.direction != first.direction:
            v.add(f"ccrns[{i}]", "all CCRNs of one declaration must have the same direction")
    v.raise_if_any()
    return _build(consignments)


def _decimal(value: Any, places: str) -> str:
    """Decimals as a declaration writes them: money to the cent, weights without trailing zeros."""
    if value is None:
        return ""
    d = Decimal(str(value))
    return str(d.quantize(Decimal(places))) if places else format(d.normalize(), "f")


def _build(consignments: list[Any]) -> Draft:
    first = consignments[0]
    src = f"CCRN {first.ccrn}"
    direction = DIRECTIONS.get(first.direction, "")
    b = _Builder()
    company = m.Company.get_by_id(first.company_id)
    b.reuse("header.declarant.name", company.name, "company registration")
    b.reuse("header.declarant.brn", company.brn, "company registration")
    b.reuse("header.declarant.address", company.address, "company registration")
    b.reuse("header.consignor.name", first.consignor_name, f"{src} consignor_name")
    b.reuse("header.consignor.address", first.consignor_address, f"{src} consignor_address")
    b.reuse("header.consignee.name", first.consignee_name, f"{src} consignee_name")
    b.reuse("header.consignee.address", first.consignee_address, f"{src} consignee_address")
    b.reuse("header.mode_of_transport", "road", "ROCARS (road cargo)")
    cp = m.ControlPoint.get_by_id(first.control_point_id)
    b.reuse("header.control_point", cp.code, f"{src} control_point")
    trip = T.get_or_none(T.id == first.trip_id) if first.trip_id else None
    if trip is not None:
        veh = V.get_by_id(trip.vehicle_id)
        b.reuse("header.vehicle_registration", veh.registration_mark, f"trip {trip.reference}")
        when = from_db(trip.crossed_at) or from_db(first.expected_at)
        b.reuse(
            f"header.date_of_{direction}",
            when.date().isoformat() if when else "",
            f"trip {trip.reference} crossing" if trip.crossed_at else f"{src} expected_at",
        )
    else:
        b.missing("header.vehicle_registration", required=False)
        when = from_db(first.expected_at)
        b.reuse(f"header.date_of_{direction}", when.date().isoformat() if when else "", f"{src} expected_at")
    b.missing("header.country_of_consignment" if direction == "import" else "header.country_of_destination")
    b.reuse("header.ccrns", ",".join(c.ccrn for c in consignments), "ROCARS")
    for i, c in enumerate(consignments):
        s = f"CCRN {c.ccrn}"
        p = f"items[{i}]"
        b.reuse(f"{p}.ccrn", c.ccrn, "ROCARS")
        b.reuse(f"{p}.description_of_goods", c.article_description, f"{s} article_description")
        b.reuse(f"{p}.number_of_packages", c.packages_count, f"{s} packages_count")
        b.reuse(f"{p}.package_description", c.package_description, f"{s} package_description")
        b.reuse(f"{p}.hs_code", c.hs_code, f"{s} hs_code")
        b.reuse(f"{p}.value", _decimal(c.declared_value, "0.01"), f"{s} declared_value")
        b.reuse(f"{p}.currency", c.currency, f"{s} currency")
        b.reuse(
            f"{p}.gross_weight_kg", _decimal(c.gross_weight_kg, ""), f"{s} gross_weight_kg", required=False
        )
        b.reuse(f"{p}.container_numbers", c.container_numbers, f"{s} container_numbers", required=False)
        b.missing(f"{p}.quantity")
        b.missing(f"{p}.quantity_unit")
        b.missing(f"{p}.country_of_origin")
    return Draft(direction, b.fields)
