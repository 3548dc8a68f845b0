"""Each rule type fires with an explanation (rule id, field, value, points), and only when it should."""

from __future__ import annotations

import math
from datetime import timedelta

from central.risk.facts import History, Reason, Verdict
from central.risk.stats import AnomalyStats
from tests.risk.conftest import T0, compiled, facts, rule, trip


def only_reason(reasons: tuple[Reason, ...]) -> Reason:
    assert len(reasons) == 1, reasons
    return reasons[0]


def test_clean_consignment_is_clear_with_no_reasons() -> None:
    engine = compiled(rule(id="KW", kind="keyword", points=60, params={"keywords": ["ivory"]}))
    a = engine.assess_consignment(facts())
    assert (a.verdict, a.score, a.reasons) == (Verdict.CLEAR, 0, ())


def test_keyword_matches_whole_words_and_phrases_case_insensitively() -> None:
    engine = compiled(
        rule(id="KW", kind="keyword", points=60, params={"keywords": ["ivory", "shark fin"]}),
    )
    a = engine.assess_consignment(facts(articles_description="Carved IVORY figurines"))
    r = only_reason(a.reasons)
    assert (r.rule_id, r.field, r.value, r.points) == ("KW", "articles_description", "IVORY", 60)
    assert a.verdict is Verdict.INSPECT and a.score == 60
    phrase = engine.assess_consignment(facts(packages_description="dried shark-fin, 3 bags"))
    assert only_reason(phrase.reasons).value == "SHARK FIN"
    # a word containing the keyword is not the keyword
    assert engine.assess_consignment(facts(articles_description="ivorybrand soap")).reasons == ()


def test_keyword_only_looks_at_its_fields() -> None:
    engine = compiled(
        rule(id="KW", kind="keyword", points=60, params={"keywords": ["ivory"], "fields": ["consignee_name"]})
    )
    assert engine.assess_consignment(facts(articles_description="ivory")).reasons == ()
    assert only_reason(engine.assess_consignment(facts(consignee_name="Ivory Trading")).reasons).field == (
        "consignee_name"
    )


def test_pattern_rule_reports_the_matched_text() -> None:
    engine = compiled(rule(id="PT", kind="pattern", points=30, params={"pattern": r"\bcig(ar)?ettes?\b"}))
    r = only_reason(engine.assess_consignment(facts(articles_description="500 cartons Cigarettes")).reasons)
    assert (r.rule_id, r.value, r.points) == ("PT", "Cigarettes", 30)


def test_watchlists_normalise_names_and_plates() -> None:
    engine = compiled(
        rule(
            id="WL-C",
            kind="watchlist",
            verdict="hold",
            params={"field": "consignor", "entries": ["Bad Co Ltd"]},
        ),
        rule(id="WL-V", kind="watchlist", points=70, params={"field": "vehicle", "entries": ["fu1234"]}),
        rule(id="WL-D", kind="watchlist", points=10, params={"field": "driver", "entries": ["D-42"]}),
    )
    a = engine.assess_consignment(facts(consignor_name="BAD CO. LTD."))
    r = only_reason(a.reasons)
    assert (r.rule_id, r.field, r.value) == ("WL-C", "consignor_name", "BAD CO LTD")
    assert a.verdict is Verdict.HOLD and a.score == 0  # the verdict floor, not points, makes it a hold
    t = engine.assess_trip(trip(vehicle_plate="FU 1234"), [])
    assert {r.rule_id for r in t.reasons} == {"WL-V", "WL-D"}
    assert t.score == 80 and t.verdict is Verdict.INSPECT


def test_hs_table_uses_longest_prefix_and_commodity_table_exact() -> None:
    engine = compiled(
        rule(
            id="HS", kind="table", params={"field": "hs_code", "entries": {"61": 5, "6109": 55, "9301": 200}}
        ),
        rule(id="CM", kind="table", params={"field": "commodity", "entries": {"Tobacco": 40}}),
    )
    a = engine.assess_consignment(facts(hs_code="610910"))
    r = only_reason(a.reasons)
    assert (r.rule_id, r.field, r.value, r.points) == ("HS", "hs_code", "610910", 55)
    assert engine.assess_consignment(facts(hs_code="930100")).verdict is Verdict.HOLD
    c = engine.assess_consignment(facts(hs_code="240220", commodity="tobacco"))
    assert [x.rule_id for x in c.reasons] == ["CM"]


def test_anomaly_flags_value_far_from_what_commodity_usually_declares() -> None:
    stats = AnomalyStats()
    for i in range(50):
        stats.add(facts(ccrn=f"H{i}", declared_value=5000.0 * (1 + 0.05 * math.sin(i)), company_id=100 + i))
    engine = compiled(
        rule(
            id="AN",
            kind="anomaly",
            points=45,
            params={"metric": "declared_value", "group": "commodity", "z": 4},
        )
    )
    assert engine.assess_consignment(facts(declared_value=5100.0), stats).reasons == ()
    r = only_reason(engine.assess_consignment(facts(declared_value=50.0), stats).reasons)
    assert (r.rule_id, r.field, r.value, r.points) == ("AN", "declared_value", "50.00", 45)
    assert "z=-" in r.detail and "6109" in r.detail
    # too few samples for the group: no judgement
    few = AnomalyStats()
    for i in range(3):
        few.add(facts(declared_value=5000.0 + i))
    assert engine.assess_consignment(facts(declared_value=50.0), few).reasons == ()


def test_anomaly_per_shipper_on_value_per_kg() -> None:
    stats = AnomalyStats()
    for i in range(20):
        stats.add(facts(ccrn=f"H{i}", declared_value=1000.0 + i, gross_weight_kg=100.0))
    engine = compiled(
        rule(
            id="AS", kind="anomaly", points=30, params={"metric": "value_per_kg", "group": "shipper", "z": 5}
        )
    )
    r = only_reason(
        engine.assess_consignment(facts(declared_value=1000.0, gross_weight_kg=5000.0), stats).reasons
    )
    assert r.field == "value_per_kg" and "shipper 7" in r.detail


def test_first_time_shipper() -> None:
    engine = compiled(rule(id="NEW", kind="new_shipper", points=25, params={"max_seen": 3}))
    assert only_reason(engine.assess_consignment(facts(company_seen=0)).reasons).rule_id == "NEW"
    assert only_reason(engine.assess_consignment(facts(company_seen=2)).reasons).field == "company_id"
    assert engine.assess_consignment(facts(company_seen=3)).reasons == ()


def test_route_rule_on_control_point_and_direction() -> None:
    engine = compiled(
        rule(id="RT", kind="route", points=20, params={"control_points": ["SKW"], "directions": ["export"]})
    )
    assert engine.assess_consignment(facts(control_point="SKW", direction="export")).score == 20
    assert engine.assess_consignment(facts(control_point="SKW", direction="import")).score == 0
    assert engine.assess_consignment(facts(control_point="LMC", direction="export")).score == 0


def test_late_amendment_just_before_crossing() -> None:
    engine = compiled(rule(id="LATE", kind="late_amendment", points=35, params={"within_minutes": 60}))
    r = only_reason(engine.assess_consignment(facts(amended_at=T0 - timedelta(minutes=40))).reasons)
    assert (r.rule_id, r.field, r.points) == ("LATE", "amended_at", 35) and "40 min" in r.detail
    assert engine.assess_consignment(facts(amended_at=T0 - timedelta(hours=3))).reasons == ()
    assert engine.assess_consignment(facts(amended_at=None)).reasons == ()


def test_history_raises_and_lowers_scores() -> None:
    engine = compiled(
        rule(id="HC", kind="history", params={"subject": "company", "weight": 100, "baseline": 0.05}),
        rule(id="HD", kind="history", params={"subject": "driver", "weight": 100, "baseline": 0.05}),
    )
    bad = engine.assess_consignment(facts(company_history=History(hits=5, clean=5)))
    good = engine.assess_consignment(facts(company_history=History(hits=0, clean=40)))
    none = engine.assess_consignment(facts(company_history=History(hits=1, clean=0)))  # below min_inspections
    assert only_reason(bad.reasons).points > 20
    assert only_reason(good.reasons).points < 0
    assert none.reasons == ()
    t = engine.assess_trip(trip(driver_history=History(hits=4, clean=1)), [])
    assert only_reason(t.reasons).rule_id == "HD" and t.score > 0


def test_validity_period_uses_the_expected_crossing_time() -> None:
    engine = compiled(
        rule(
            id="KW",
            kind="keyword",
            points=60,
            params={"keywords": ["ivory"]},
            valid_from=(T0 + timedelta(days=1)).isoformat(),
        )
    )
    assert engine.assess_consignment(facts(articles_description="ivory")).reasons == ()
    later = facts(articles_description="ivory", expected_at=T0 + timedelta(days=2))
    assert engine.assess_consignment(later).score == 60


def test_disabled_rule_never_fires() -> None:
    engine = compiled(rule(id="KW", kind="keyword", points=60, enabled=False, params={"keywords": ["ivory"]}))
    assert engine.assess_consignment(facts(articles_description="ivory")).reasons == ()


def test_points_add_up_to_thresholds() -> None:
    engine = compiled(
        rule(id="A", kind="keyword", points=30, params={"keywords": ["batteries"]}),
        rule(id="B", kind="new_shipper", points=30, params={"max_seen": 1}),
        inspect_at=50,
        hold_at=100,
    )
    one = engine.assess_consignment(facts(articles_description="batteries"))
    both = engine.assess_consignment(facts(articles_description="batteries", company_seen=0))
    assert (one.verdict, one.score) == (Verdict.CLEAR, 30)
    assert (both.verdict, both.score) == (Verdict.INSPECT, 60)
    assert {r.rule_id for r in both.reasons} == {"A", "B"}


def test_trip_is_strictest_of_consignments_driver_and_vehicle() -> None:
    engine = compiled(
        rule(id="KW", kind="keyword", points=60, params={"keywords": ["ivory"]}),
        rule(id="WL-D", kind="watchlist", verdict="hold", params={"field": "driver", "entries": ["D-99"]}),
    )
    clear = engine.assess_consignment(facts(ccrn="C1"))
    inspect = engine.assess_consignment(facts(ccrn="C2", articles_description="ivory"))
    t = engine.assess_trip(trip(), [("C1", clear), ("C2", inspect)])
    assert t.verdict is Verdict.INSPECT
    assert [(r.rule_id, r.value) for r in t.reasons] == [("consignment", "C2")]
    held = engine.assess_trip(trip(driver_id="D-99"), [("C1", clear), ("C2", inspect)])
    assert held.verdict is Verdict.HOLD
    assert {r.rule_id for r in held.reasons} == {"WL-D", "consignment"}
    assert engine.assess_trip(trip(), [("C1", clear)]).verdict is Verdict.CLEAR


def test_empty_truck_trip_is_still_profiled() -> None:
    engine = compiled(
        rule(id="WL-V", kind="watchlist", points=80, params={"field": "vehicle", "entries": ["FV 77"]}),
    )
    t = engine.assess_trip(trip(vehicle_plate="FV77"), [])
    assert t.verdict is Verdict.INSPECT and only_reason(t.reasons).field == "vehicle_plate"


def test_transshipment_is_clear_while_sealed_and_inspect_otherwise() -> None:
    engine = compiled(
        rule(id="KW", kind="keyword", points=60, params={"keywords": ["ivory"]}),
        rule(id="WL", kind="watchlist", verdict="hold", params={"field": "consignee", "entries": ["Bad"]}),
    )
    risky = facts(transshipment=True, articles_description="ivory")
    sealed = engine.assess_consignment(
        facts(transshipment=True, elock_state="sealed", articles_description="ivory")
    )
    assert sealed.verdict is Verdict.CLEAR and sealed.score == 60  # rules still explained for the air/sea end
    assert sealed.reasons[-1].rule_id == "elock"
    for state in ("", "opened", "tampered", "off_route", "arrived"):
        a = engine.assess_consignment(facts(transshipment=True, elock_state=state))
        assert a.verdict is Verdict.INSPECT, state
        assert a.reasons[-1].value == (state or "no_report")
    assert engine.assess_consignment(risky).verdict is Verdict.INSPECT
    held = engine.assess_consignment(facts(transshipment=True, elock_state="sealed", consignee_name="bad"))
    assert held.verdict is Verdict.HOLD
