"""Random selection is a keyed hash of the trip: reproducible, rate-true and unpredictable without the key."""

from __future__ import annotations

import pytest

from central.risk.facts import Verdict
from central.risk.selection import is_selected, selection_draw
from tests.risk.conftest import KEY, compiled, rule, trip

IDS = [f"T-{i:06d}" for i in range(20_000)]


def test_draw_is_reproducible_and_key_dependent() -> None:
    assert selection_draw(KEY, "s", "T-1") == selection_draw(KEY, "s", "T-1")
    assert selection_draw(KEY, "s", "T-1") != selection_draw(KEY, "s", "T-2")
    assert selection_draw(KEY, "s", "T-1") != selection_draw(KEY + b"x", "s", "T-1")
    assert selection_draw(KEY, "s", "T-1") != selection_draw(KEY, "t", "T-1")
    with pytest.raises(ValueError):
        selection_draw(b"short", "s", "T-1")


def test_selected_fraction_matches_rate_and_raising_rate_only_adds() -> None:
    low = {t for t in IDS if is_selected(KEY, "s", t, 0.02)}
    high = {t for t in IDS if is_selected(KEY, "s", t, 0.05)}
    assert 0.015 < len(low) / len(IDS) < 0.025
    assert 0.043 < len(high) / len(IDS) < 0.057
    assert low <= high


def test_random_rule_rate_per_control_point_with_explanation() -> None:
    engine = compiled(
        rule(id="RND", kind="random", params={"rates": {"LMC": 1.0, "SKW": 0.0}, "default_rate": 0.0}),
    )
    t = engine.assess_trip(trip(control_point="lmc"), [])
    assert t.verdict is Verdict.INSPECT
    (r,) = t.reasons
    assert (r.rule_id, r.field, r.value) == ("RND", "trip_id", "T-0001") and "draw" in r.detail
    assert engine.assess_trip(trip(control_point="SKW"), []).reasons == ()
    assert engine.assess_trip(trip(control_point="MKT"), []).reasons == ()


def test_random_verdict_reproduces_from_data_rules_and_key() -> None:
    spec = rule(id="RND", kind="random", params={"default_rate": 0.1, "salt": "2026Q4"})
    first = compiled(spec)
    again = compiled(spec)  # e.g. rebuilt months later from the stored rule version
    picked = [t for t in IDS[:2000] if first.assess_trip(trip(trip_id=t), []).verdict is Verdict.INSPECT]
    assert 150 < len(picked) < 250
    assert picked == [
        t for t in IDS[:2000] if again.assess_trip(trip(trip_id=t), []).verdict is Verdict.INSPECT
    ]
    assert picked == [t for t in IDS[:2000] if is_selected(KEY, "2026Q4", t, 0.1)]
