"""Core rows for risk tests, written straight through the core models (the cargo and bundling
services are another helper's; the risk area only reads these tables)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from central.store import models as m
from central.store.db import to_db, write_transaction
from proto.rocars.v1 import common_pb2

_seq = itertools.count(1)


def control_point(code: str = "LMC") -> Any:
    cp = m.ControlPoint.get_or_none(m.ControlPoint.code == code)
    return cp or m.ControlPoint.create(code=code, name=f"{code} control point")


def company(now: datetime, name: str = "") -> Any:
    n = next(_seq)
    return m.Company.create(
        kind=common_pb2.SHIPPER,
        brn=f"BRN{n:08d}",
        name=name or f"Shipper {n} Ltd",
        address="1 Road",
        contact_name="A",
        contact_phone="+852 1234 5678",
        created_at=to_db(now),
    )


def driver(now: datetime, doc: str = "") -> Any:
    n = next(_seq)
    return m.Driver.create(
        document_number=doc or f"A{n:06d}7", name=f"Driver {n}", totp_secret="X" * 32, created_at=to_db(now)
    )


def vehicle(now: datetime, mark: str = "") -> Any:
    n = next(_seq)
    return m.Vehicle.create(registration_mark=mark or f"FU{n}", created_at=to_db(now))


def consignment(now: datetime, co: Any, expected: datetime, **kw: Any) -> Any:
    n = next(_seq)
    data: dict[str, Any] = dict(
        ccrn=f"CC{n:09d}",
        company=co,
        idempotency_key=f"key-{n:08d}",
        direction=common_pb2.IMPORT,
        control_point=control_point(),
        status=common_pb2.SUBMITTED,
        version=1,
        packages_count=10,
        package_description="10 cartons",
        article_description="cotton t-shirts",
        consignor_name="Factory Ltd",
        consignor_address="1 Factory Road, Shenzhen",
        consignee_name="Retail Ltd",
        consignee_address="2 Queen's Road",
        expected_at=to_db(expected),
        hs_code="610910",
        declared_value=5000,
        gross_weight_kg=200,
        currency="HKD",
        created_at=to_db(now),
        updated_at=to_db(now),
    )
    data.update(kw)
    return m.Consignment.create(**data)


def trip(now: datetime, drv: Any, veh: Any, expected: datetime, consignments: list[Any], **kw: Any) -> Any:
    n = next(_seq)
    with write_transaction():
        t = m.Trip.create(
            reference=f"TR{n:08d}",
            driver=drv,
            vehicle=veh,
            control_point=control_point(),
            direction=common_pb2.IMPORT,
            expected_arrival=to_db(expected),
            slot_start=to_db(expected),
            slot_end=to_db(expected + timedelta(minutes=15)),
            status=common_pb2.TRIP_BUNDLED,
            created_at=to_db(now),
            updated_at=to_db(now),
            **kw,
        )
        for c in consignments:
            m.Consignment.update(trip=t, status=common_pb2.BUNDLED).where(
                m.Consignment.ccrn == c.ccrn
            ).execute()
    return t
