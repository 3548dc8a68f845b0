"""Profiling against a real SQLite store: verdicts kept, changes recorded, rule versions atomic."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from central.risk import audit, hooks, profiling, rulestore
from central.risk.errors import Conflict, RuleValidationError
from central.risk.models import RiskAssessment, RiskRule, RiskRuleSet
from central.risk.rulestore import RuleChange
from central.store import changes
from central.store.db import write_transaction
from tests.risk import factory as f
from tests.risk.conftest import AUDIT_KEY, SELECTION_KEY, T0

IVORY = {
    "id": "KW-IVORY",
    "kind": "keyword",
    "owner": "officer-1",
    "points": 60,
    "params": {"keywords": ["ivory"]},
}


def put(*rules: dict[str, Any], retire: tuple[str, ...] = (), now: Any = T0) -> int:
    return rulestore.change(
        RuleChange(put=list(rules), retire=list(retire)), "officer-1", now, SELECTION_KEY, AUDIT_KEY
    )


def submit(risk: Any, co: Any, **kw: Any) -> Any:
    with write_transaction():
        c = f.consignment(risk.clock.now(), co, T0, **kw)
        hooks.on_consignment_changed(c)
    return c


def assessment(subject: str, ref: str) -> Any:
    return RiskAssessment.get((RiskAssessment.subject == subject) & (RiskAssessment.reference == ref))


def verdict_changes(ref: str) -> list[dict[str, Any]]:
    rows = (
        changes.Change.select()
        .where((changes.Change.kind == "verdict_changed") & (changes.Change.entity_id == ref))
        .order_by(changes.Change.id)
    )
    return [json.loads(r.payload) for r in rows]


def test_submission_is_profiled_and_reaches_the_change_log(risk: Any) -> None:
    put(IVORY)
    co = f.company(risk.clock.now())
    clean = submit(risk, co)
    risky = submit(risk, co, article_description="carved ivory")
    assert assessment("consignment", clean.ccrn).effective == 1
    row = assessment("consignment", risky.ccrn)
    assert (row.effective, row.score, row.rule_set_version) == (2, 60, 1)
    (payload,) = verdict_changes(risky.ccrn)
    assert payload["verdict"] == "inspect" and payload["reasons"][0].startswith(
        "KW-IVORY articles_description=IVORY"
    )
    lane = changes.LaneVerdict.get(changes.LaneVerdict.key == risky.ccrn)
    assert lane.verdict == 2


def test_rule_change_rescores_open_consignments_and_records_only_real_changes(risk: Any) -> None:
    co = f.company(risk.clock.now())
    a = submit(risk, co, article_description="ivory combs")
    b = submit(risk, co)
    assert assessment("consignment", a.ccrn).effective == 1
    version = put(IVORY)
    result = profiling.rescore_open()
    assert result.version == version and result.consignments == 2
    assert assessment("consignment", a.ccrn).effective == 2
    assert [p["verdict"] for p in verdict_changes(a.ccrn)] == ["clear", "inspect"]
    assert [p["verdict"] for p in verdict_changes(b.ccrn)] == ["clear"]  # unchanged: no second row
    again = profiling.rescore_open()
    assert again.consignments == 0 and again.changed == 0  # idempotent


def test_failed_rule_change_leaves_old_rule_set_in_force(risk: Any) -> None:
    v1 = put(IVORY)
    bad = {**IVORY, "id": "PT-1", "kind": "pattern", "params": {"pattern": "(unclosed"}}
    with pytest.raises(RuleValidationError) as info:
        put({**IVORY, "points": 99}, bad)
    assert info.value.violations[0].field == "rules[1].pattern" or "pattern" in info.value.violations[0].field
    assert rulestore.current_version() == v1
    assert rulestore.load(v1).by_id("KW-IVORY").points == 60  # type: ignore[union-attr]
    assert RiskRule.select().count() == 1 and RiskRuleSet.select().count() == 1
    assert audit.verify(AUDIT_KEY).entries == 1


def test_rule_versions_reproduce_past_sets_and_check_concurrency(risk: Any) -> None:
    v1 = put(IVORY)
    v2 = put({**IVORY, "points": 80})
    v3 = put(retire=("KW-IVORY",))
    assert rulestore.load(v1).by_id("KW-IVORY").points == 60  # type: ignore[union-attr]
    assert rulestore.load(v2).by_id("KW-IVORY").points == 80  # type: ignore[union-attr]
    assert rulestore.load(v3).rules == ()
    assert [i.revision for i in rulestore.rule_history("KW-IVORY")] == [1, 2]
    with pytest.raises(Conflict):
        rulestore.change(RuleChange(put=[IVORY], expected_version=v2), "o", T0, SELECTION_KEY, AUDIT_KEY)
    entries = audit.entries()
    assert [e.action for e in entries] == ["rules.change"] * 3 and entries[2].details["retire"] == [
        "KW-IVORY"
    ]


def test_watchlist_edit_normalises_entries(risk: Any) -> None:
    put(
        {
            "id": "WL-V",
            "kind": "watchlist",
            "owner": "o",
            "verdict": "hold",
            "params": {"field": "vehicle", "entries": ["FU 1"]},
        }
    )
    data = rulestore.watchlist_edit("WL-V", add=["fv 77", "FU1"], remove=["fu 1"])
    assert data["params"]["entries"] == ["FV77"]
    with pytest.raises(Exception, match="not in force"):
        rulestore.watchlist_edit("NOPE", add=["x"], remove=[])


def test_trip_is_strictest_of_consignments_driver_vehicle_and_empty_trip_is_profiled(risk: Any) -> None:
    put(
        IVORY,
        {
            "id": "WL-D",
            "kind": "watchlist",
            "owner": "o",
            "verdict": "hold",
            "params": {"field": "driver", "entries": ["BAD0001"]},
        },
    )
    now = risk.clock.now()
    co = f.company(now)
    clean, risky = submit(risk, co), submit(risk, co, article_description="ivory")
    t = f.trip(now, f.driver(now), f.vehicle(now), T0, [clean, risky])
    with write_transaction():
        hooks.on_trip_changed(t)
    row = assessment("trip", t.reference)
    assert row.effective == 2
    assert [r["value"] for r in json.loads(row.reasons)] == [risky.ccrn]
    assert verdict_changes(t.reference)[-1]["scope"] == "trip"
    empty = f.trip(now, f.driver(now, doc="BAD0001"), f.vehicle(now), T0, [], empty=True)
    with write_transaction():
        hooks.on_trip_changed(empty)
    assert assessment("trip", empty.reference).effective == 3


def test_amendment_reprofiles_consignment_and_its_trip(risk: Any) -> None:
    put(
        IVORY,
        {
            "id": "LATE",
            "kind": "late_amendment",
            "owner": "o",
            "points": 10,
            "params": {"within_minutes": 60},
        },
    )
    now = risk.clock.now()
    c = submit(risk, f.company(now))
    t = f.trip(now, f.driver(now), f.vehicle(now), T0, [c])
    with write_transaction():
        hooks.on_trip_changed(t)
    assert assessment("trip", t.reference).effective == 1
    risk.clock.set(T0 - timedelta(minutes=20))
    c = type(c).get_by_id(c.id)  # re-read: bundling changed the row under this instance
    with write_transaction():
        c.article_description = "ivory carvings"
        c.version = 2
        c.updated_at = risk.clock.now().replace(tzinfo=None)
        c.save()
        hooks.on_consignment_changed(c)
    row = assessment("consignment", c.ccrn)
    assert row.score == 70 and {r["rule_id"] for r in json.loads(row.reasons)} == {"KW-IVORY", "LATE"}
    assert assessment("trip", t.reference).effective == 2


def test_anomaly_uses_store_statistics(risk: Any) -> None:
    put(
        {
            "id": "AN",
            "kind": "anomaly",
            "owner": "o",
            "points": 55,
            "params": {"metric": "declared_value", "group": "commodity", "z": 4, "min_samples": 10},
        }
    )
    now = risk.clock.now()
    for i in range(30):
        with write_transaction():
            f.consignment(now, f.company(now), T0, declared_value=5000 + 10 * i)
    odd = submit(risk, f.company(now), declared_value=20)
    risk.stats(refresh=True)
    profiling.rescore_open(force=True)
    row = assessment("consignment", odd.ccrn)
    assert row.effective == 2 and json.loads(row.reasons)[0]["rule_id"] == "AN"


def test_vehicle_watchlist_entries_reach_lanes_as_watchlist_hits(risk: Any) -> None:
    wl = {
        "id": "WL-V",
        "kind": "watchlist",
        "owner": "o",
        "verdict": "hold",
        "description": "stolen truck",
        "params": {"field": "vehicle", "entries": ["FU 1", "FU 2"]},
    }
    put(wl)
    put({**wl, "params": {"field": "vehicle", "entries": ["FU 2", "FU 3"]}})
    put(retire=("WL-V",))
    rows = changes.Change.select().where(changes.Change.kind == "watchlist_hit").order_by(changes.Change.id)
    seen = [(r.entity_id, json.loads(r.payload).get("removed", False), r.control_point) for r in rows]
    assert seen == [
        ("WL-V:FU1", False, None),
        ("WL-V:FU2", False, None),
        ("WL-V:FU3", False, None),
        ("WL-V:FU1", True, None),
        ("WL-V:FU2", True, None),
        ("WL-V:FU3", True, None),
    ]
    first = json.loads(rows[0].payload)
    assert first == {"subject": "vehicle", "value": "FU1", "reason": "stolen truck", "action": "refer"}
    # consignor lists stay central (lanes cannot act on them)
    put(
        {
            "id": "WL-C",
            "kind": "watchlist",
            "owner": "o",
            "points": 10,
            "params": {"field": "consignor", "entries": ["X"]},
        }
    )
    assert changes.Change.select().where(changes.Change.kind == "watchlist_hit").count() == 6


def test_unbundled_trip_keeps_its_last_verdict(risk: Any) -> None:
    now = risk.clock.now()
    c = submit(risk, f.company(now))
    t = f.trip(now, f.driver(now), f.vehicle(now), T0, [c])
    with write_transaction():
        hooks.on_trip_changed(t)
    before = changes.head()
    t.status = 2  # TRIP_UNBUNDLED
    with write_transaction():
        t.save()
        hooks.on_trip_changed(t)
    assert changes.head() == before


def test_empty_rule_change_is_refused(risk: Any) -> None:
    from central.services.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        rulestore.change(RuleChange(), "o", T0, SELECTION_KEY, AUDIT_KEY)
    assert info.value.violations[0].field == "put_json"
    assert rulestore.current_version() == 0
