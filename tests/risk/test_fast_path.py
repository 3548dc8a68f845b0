"""Profiling on the write path after it was made cheap (pre-built statements, no look-up for a
first version, a capped earlier-consignment count): every submission, amendment and bundling
through the real API is still profiled in its own transaction, with the same verdicts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from central.api.convert import ts
from central.risk import hooks, profiling, rulestore, runtime
from central.risk.models import RiskAssessment
from central.risk.rulestore import RuleChange
from central.store import changes, fast
from central.store import models as m
from central.store.db import write_transaction
from proto.rocars.v1 import bundling_pb2, cargo_pb2, common_pb2
from tests.risk import factory as f
from tests.risk.conftest import AUDIT_KEY, SELECTION_KEY, T0
from tests.support.central import CentralUnderTest, cargo, submit_request

RA: Any = RiskAssessment
IVORY = {"id": "KW-IVORY", "kind": "keyword", "owner": "o", "points": 60, "params": {"keywords": ["ivory"]}}
NEW = {"id": "NEW-SHIPPER", "kind": "new_shipper", "owner": "o", "points": 5, "params": {"max_seen": 3}}


def _assessment(subject: str, ref: str) -> Any:
    return RA.get_or_none((RA.subject == subject) & (RA.reference == ref))


def _verdicts(ref: str) -> list[str]:
    rows = (
        changes.Change.select()
        .where((changes.Change.kind == "verdict_changed") & (changes.Change.entity_id == ref))
        .order_by(changes.Change.id)
    )
    return [json.loads(r.payload)["verdict"] for r in rows]


def _rules(*rules: dict[str, Any]) -> int:
    keys = runtime.runtime().keys
    return rulestore.change(RuleChange(put=list(rules)), "officer-1", T0, keys.selection, keys.audit)


def test_every_submission_amendment_and_bundling_is_profiled(central_both: CentralUnderTest) -> None:
    c = central_both
    world = c.world()
    version = _rules(IVORY, NEW)
    company = c.stubs(world.company_token)
    expected = c.clock.now() + timedelta(hours=3)
    ccrns = []
    for i in range(5):
        words = "ivory combs" if i in (1, 4) else "LED desk lamps"
        request = submit_request(f"fastpath-{i:04d}", expected, article_description=words)
        ccrns.append(company.cargo.SubmitConsignment(request, timeout=10).ccrn)
        c.clock.advance(timedelta(seconds=1))  # "earlier" is by filing time
    for i, ccrn in enumerate(ccrns):
        row = _assessment("consignment", ccrn)
        assert row is not None, f"submission {i} was not profiled"
        assert (row.basis, row.rule_set_version) == ("v1", version)
        reasons = {r["rule_id"]: r for r in json.loads(row.reasons)}
        # The capped count still names the exact number while the new-shipper rule fires.
        if i < 3:
            assert reasons["NEW-SHIPPER"]["detail"].startswith(f"company has {i} earlier")
        else:
            assert "NEW-SHIPPER" not in reasons
        assert ("KW-IVORY" in reasons) == (i in (1, 4))
        assert _verdicts(ccrn) == ["inspect" if i in (1, 4) else "clear"]
        lane = changes.LaneVerdict.get(changes.LaneVerdict.key == ccrn)
        assert lane.verdict == row.effective

    company.cargo.AmendConsignment(
        cargo_pb2.AmendConsignmentRequest(
            ccrn=ccrns[3], cargo=cargo(expected, article_description="carved ivory"), reason="fix"
        ),
        timeout=10,
    )
    amended = _assessment("consignment", ccrns[3])
    assert (amended.basis, amended.effective) == ("v2", 2)
    assert _verdicts(ccrns[3]) == ["clear", "inspect"]

    driver = c.stubs(world.driver_token)
    trip = driver.bundling.BundleTrip(
        bundling_pb2.BundleTripRequest(
            idempotency_key="fastpath-trip",
            security_code=c.next_totp(world.driver_secret),
            vehicle_registration_mark="AB 1234",
            control_point="LMC",
            direction=common_pb2.IMPORT,
            expected_arrival=ts(c.clock.now() + timedelta(hours=2)),
            ccrns=[ccrns[0], ccrns[2]],
        ),
        timeout=10,
    )
    first = _assessment("trip", trip.reference)
    assert first is not None and first.effective == 1
    driver.bundling.RebundleTrip(
        bundling_pb2.RebundleTripRequest(
            trip_reference=trip.reference,
            security_code=c.next_totp(world.driver_secret),
            ccrns=[ccrns[0], ccrns[1]],
        ),
        timeout=10,
    )
    again = _assessment("trip", trip.reference)
    assert again.basis != first.basis and again.effective == 2
    assert _verdicts(trip.reference) == ["clear", "inspect"]


def test_capped_count_and_skipped_history_give_the_verdicts_of_the_full_facts(risk: Any) -> None:
    rulestore.change(
        RuleChange(put=[IVORY, NEW, {**NEW, "id": "NEW-2", "params": {"max_seen": 2}}]),
        "o",
        T0,
        SELECTION_KEY,
        AUDIT_KEY,
    )
    engine = risk.compiled(rulestore.current_version())
    assert (engine.company_seen_cap, engine.needs_company_history) == (3, False)
    now = risk.clock.now()
    co = f.company(now)
    rows = []
    for i in range(6):
        with write_transaction():
            rows.append(f.consignment(now + timedelta(seconds=i), co, T0))
    for i, c in enumerate(rows):
        full = profiling.consignment_facts(c)
        lean = profiling.consignment_facts(c, engine=engine)
        assert full.company_seen == i and lean.company_seen == min(i, 3)
        assert engine.assess_consignment(full) == engine.assess_consignment(lean)


def test_first_version_profiled_twice_is_updated_not_duplicated(risk: Any) -> None:
    co = f.company(risk.clock.now())
    with write_transaction():
        c = f.consignment(risk.clock.now(), co, T0, article_description="ivory")
        hooks.on_consignment_changed(c)
    assert _assessment("consignment", c.ccrn).effective == 1
    rulestore.change(RuleChange(put=[IVORY]), "o", T0, SELECTION_KEY, AUDIT_KEY)
    with write_transaction():  # still version 1: the hook skips the look-up, the insert finds the row
        hooks.on_consignment_changed(c)
    assert RA.select().where(RA.reference == c.ccrn).count() == 1
    assert _assessment("consignment", c.ccrn).effective == 2
    assert _verdicts(c.ccrn) == ["clear", "inspect"]


def test_fast_statements_store_what_the_orm_would(risk: Any) -> None:
    cp = f.control_point("LMC")
    with write_transaction():
        fast.upsert(
            changes.LaneVerdict,
            {"scope": "trip", "key": "T1", "verdict": 1, "reasons": "[]", "elock_state": "", "change_id": 1},
            ("scope", "key"),
            ("verdict", "change_id"),
        )
        fast.upsert(
            changes.LaneVerdict,
            {"scope": "trip", "key": "T1", "verdict": 3, "reasons": "[]", "elock_state": "", "change_id": 2},
            ("scope", "key"),
            ("verdict", "change_id"),
        )
        assert fast.update_by_id(m.ControlPoint, cp.id, {"name": "Lok Ma Chau"}) == 1
    lane = changes.LaneVerdict.get(changes.LaneVerdict.key == "T1")
    assert (lane.verdict, lane.change_id) == (3, 2)
    assert m.ControlPoint.get_by_id(cp.id).name == "Lok Ma Chau"
    co = f.company(risk.clock.now())
    with write_transaction():
        c = f.consignment(risk.clock.now(), co, T0)
    got = fast.select_fields(m.Consignment, ("expected_at", "declared_value"), {"id": c.id})
    orm = m.Consignment.get_by_id(c.id)
    assert got == {"expected_at": orm.expected_at, "declared_value": orm.declared_value}
    assert fast.select_fields(m.Consignment, ("id",), {"id": -1}) is None
