"""Shared builders for the risk tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from central.risk.engine import CompiledRules
from central.risk.facts import ConsignmentFacts, TripFacts
from central.risk.rules import RuleSet, RuleSpec, Thresholds

KEY = b"test-selection-key-0123456789abcdef"
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def rule(**kw: Any) -> RuleSpec:
    data: dict[str, Any] = {"owner": "officer-1", **kw}
    return RuleSpec.from_dict(data)


def compiled(*rules: RuleSpec, inspect_at: int = 50, hold_at: int = 150) -> CompiledRules:
    return CompiledRules(RuleSet(tuple(rules), Thresholds(inspect_at, hold_at), version=1), KEY)


BASE = ConsignmentFacts(
    ccrn="C1",
    company_id=7,
    control_point="LMC",
    direction="import",
    expected_at=T0,
    packages=10,
    packages_description="10 cartons",
    articles_description="cotton t-shirts",
    consignor_name="Shenzhen Garment Co., Ltd.",
    consignor_address="1 Factory Road, Shenzhen",
    consignee_name="HK Retail Ltd",
    consignee_address="2 Queen's Road, Hong Kong",
    hs_code="610910",
    declared_value=5000.0,
    gross_weight_kg=200.0,
    company_seen=50,
)

TRIP = TripFacts(
    trip_id="T-0001",
    control_point="LMC",
    direction="import",
    expected_at=T0,
    vehicle_plate="FU 1234",
    driver_id="D-42",
)


def facts(**kw: Any) -> ConsignmentFacts:
    return replace(BASE, **kw)


def trip(**kw: Any) -> TripFacts:
    return replace(TRIP, **kw)


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def db(tmp_path: Any) -> Any:
    """A fresh SQLite database with the whole schema (core + risk + change log)."""
    from central.store.schema import init_database

    database = init_database(f"sqlite:///{tmp_path}/central.db")
    yield database
    database.close()


SELECTION_KEY = b"selection-key-for-tests-012345678"
AUDIT_KEY = b"audit-key-for-tests-0123456789abcd"


@pytest.fixture
def clock() -> Any:
    from central.clock import SettableClock

    return SettableClock(T0 - timedelta(hours=6))


@pytest.fixture
def risk(db: Any, clock: Any) -> Any:
    """The risk runtime configured with a settable clock and fixed keys, on a fresh database."""
    from central.risk import runtime

    return runtime.configure(clock, runtime.RiskKeys(SELECTION_KEY, AUDIT_KEY))
