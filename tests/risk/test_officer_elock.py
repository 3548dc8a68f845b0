"""Overrides, inspection results feeding history, and e-lock state transitions, on a real store."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from central.risk import audit, elock, hooks, officer
from central.risk.elock import LockState, fold
from central.risk.facts import Verdict
from central.risk.models import RiskHistory
from central.services.errors import NotFound, ValidationError
from central.store.db import write_transaction
from tests.risk import factory as f
from tests.risk.conftest import AUDIT_KEY, T0
from tests.risk.test_store_profiling import IVORY, assessment, put, submit, verdict_changes


def bundled_trip(risk: Any, *consignments: Any) -> Any:
    now = risk.clock.now()
    t = f.trip(now, f.driver(now), f.vehicle(now), T0, list(consignments))
    with write_transaction():
        hooks.on_trip_changed(t)
    return t


def test_override_needs_a_reason_reaches_lanes_and_is_audited(risk: Any) -> None:
    put(IVORY)
    c = submit(risk, f.company(risk.clock.now()), article_description="ivory")
    t = bundled_trip(risk, c)
    assert assessment("trip", t.reference).effective == 2
    with pytest.raises(ValidationError) as info:
        officer.override("officer-7", Verdict.CLEAR, "  ", ccrn=c.ccrn)
    assert info.value.violations[0].field == "reason"
    with pytest.raises(NotFound):
        officer.override("officer-7", Verdict.CLEAR, "checked", ccrn="NOPE")
    v = officer.override("officer-7", Verdict.CLEAR, "documents checked by phone", ccrn=c.ccrn)
    assert v.verdict is Verdict.CLEAR and v.rule_verdict is Verdict.INSPECT and v.override_in_force
    assert assessment("trip", t.reference).effective == 1  # the trip follows its consignment
    last = verdict_changes(c.ccrn)[-1]
    assert last["verdict"] == "clear" and "override by officer-7" in last["reasons"][-1]
    (entry,) = [e for e in audit.entries() if e.action == "verdict.override"]
    assert (
        entry.actor == "officer-7" and entry.details["from"] == "inspect" and entry.details["to"] == "clear"
    )
    assert audit.verify(AUDIT_KEY).ok
    held = officer.override("officer-7", Verdict.HOLD, "intelligence report 42", trip_reference=t.reference)
    assert held.verdict is Verdict.HOLD and verdict_changes(t.reference)[-1]["verdict"] == "hold"


def test_override_lapses_when_the_consignment_is_amended(risk: Any) -> None:
    put(IVORY)
    c = submit(risk, f.company(risk.clock.now()), article_description="ivory")
    officer.override("officer-7", Verdict.CLEAR, "checked", ccrn=c.ccrn)
    c = type(c).get_by_id(c.id)
    with write_transaction():
        c.version = 2
        c.article_description = "more ivory"
        c.save()
        hooks.on_consignment_changed(c)
    v = officer.get_assessment(ccrn=c.ccrn)
    assert v.verdict is Verdict.INSPECT and not v.override_in_force


def test_inspection_results_feed_company_and_driver_history(risk: Any) -> None:
    put(
        {
            "id": "HC",
            "kind": "history",
            "owner": "o",
            "params": {"subject": "company", "weight": 200, "baseline": 0.05, "min_inspections": 2},
        }
    )
    now = risk.clock.now()
    bad_co, good_co = f.company(now), f.company(now)
    for _ in range(2):
        b, g = submit(risk, bad_co), submit(risk, good_co)
        t = bundled_trip(risk, b, g)
        with pytest.raises(ValidationError):
            officer.record_inspection("officer-2", "discrepancy", "", trip_reference=t.reference)
        rec = officer.record_inspection(
            "officer-2",
            "discrepancy",
            "undeclared batteries",
            trip_reference=t.reference,
            discrepant_ccrns=[b.ccrn],
        )
        assert rec.companies_hit == [bad_co.id] and rec.companies_clean == [good_co.id] and rec.driver_hit
    hist = {(h.subject, h.subject_id): (h.hits, h.clean) for h in RiskHistory.select()}
    assert hist[("company", bad_co.id)] == (2, 0) and hist[("company", good_co.id)] == (0, 2)
    later_bad, later_good = submit(risk, bad_co), submit(risk, good_co)
    bad_row, good_row = assessment("consignment", later_bad.ccrn), assessment("consignment", later_good.ccrn)
    assert bad_row.score > 50 and bad_row.effective >= 2
    assert good_row.score < 0 and good_row.effective == 1
    assert json.loads(bad_row.reasons)[0]["field"] == "company_id"
    assert [e.action for e in audit.entries()].count("inspection.record") == 2


def test_list_trips_by_control_point_and_time(risk: Any) -> None:
    put(IVORY)
    now = risk.clock.now()
    t1 = bundled_trip(risk, submit(risk, f.company(now), article_description="ivory"))
    t2 = bundled_trip(risk, submit(risk, f.company(now)))
    rows = officer.list_trips("lmc", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert {r[0].reference for r in rows} == {t1.reference, t2.reference}
    only = officer.list_trips(
        "LMC", T0 - timedelta(hours=1), T0 + timedelta(hours=1), min_verdict=Verdict.INSPECT
    )
    assert [r[0].reference for r in only] == [t1.reference]
    assert only[0][1][0].reasons[0].rule_id == "KW-IVORY"
    assert officer.list_trips("LMC", T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == []
    with pytest.raises(ValidationError):
        officer.list_trips("LMC", T0, T0)


def test_fold_latches_breaches_and_ignores_stale_state() -> None:
    s = fold(LockState(), "sealed", T0)
    assert s.effective == "sealed"
    s = fold(s, "off_route", T0 + timedelta(minutes=5))
    assert s.effective == "off_route"
    s = fold(s, "sealed", T0 + timedelta(minutes=9))  # back on route and sealed: still a breach
    assert (s.state, s.effective) == ("sealed", "off_route")
    late = fold(fold(LockState(), "sealed", T0 + timedelta(minutes=10)), "tampered", T0)  # late delivery
    assert (late.state, late.effective) == ("sealed", "tampered")
    with pytest.raises(ValueError):
        fold(LockState(), "exploded", T0)


def test_elock_events_drive_the_land_boundary_verdict(risk: Any) -> None:
    put(IVORY)
    now = risk.clock.now()
    c = submit(
        risk,
        f.company(now),
        transshipment=True,
        elock_id="EL-1",
        transshipment_route="LMC-AIRPORT",
        article_description="ivory",
    )
    t = bundled_trip(risk, c)
    assert assessment("consignment", c.ccrn).effective == 2  # no report from the lock yet
    r = elock.report_event("gw-1", "e1", "el-1", "sealed", now)
    assert (r.ccrn, r.state.effective, r.verdict, r.duplicate) == (c.ccrn, "sealed", 1, False)
    assert assessment("trip", t.reference).effective == 1
    assert verdict_changes(c.ccrn)[-1]["elock_state"] == "sealed"
    dup = elock.report_event("gw-1", "e1", "EL-1", "sealed", now)
    assert dup.duplicate
    r = elock.report_event("gw-1", "e2", "EL-1", "tampered", now + timedelta(minutes=1))
    assert (r.state.effective, r.verdict) == ("tampered", 2)
    assert assessment("trip", t.reference).effective == 2
    r = elock.report_event("gw-1", "e3", "EL-1", "sealed", now + timedelta(minutes=2))
    assert r.verdict == 2  # latched
    row, events = elock.lock_status("el-1")
    assert row.breach == "tampered" and [e.event_id for e in events] == ["e1", "e2", "e3"]
    with pytest.raises(NotFound):
        elock.report_event("gw-1", "e9", "EL-404", "sealed", now)
    with pytest.raises(ValidationError) as info:
        elock.report_event("gw-1", "", "EL-1", "melted", now + timedelta(hours=1))
    assert {v.field for v in info.value.violations} == {"event_id", "kind", "occurred_at"}
