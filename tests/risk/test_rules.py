"""Rule validation: bad rules are rejected naming the field and the constraint broken."""

from __future__ import annotations

from typing import Any

import pytest

from central.risk.errors import RuleValidationError
from central.risk.facts import Verdict
from central.risk.rules import RuleSet, RuleSpec, Thresholds

GOOD: dict[str, Any] = {
    "id": "KW-1",
    "kind": "keyword",
    "owner": "officer-1",
    "points": 40,
    "params": {"keywords": ["ivory"]},
}


def bad(change: dict[str, Any], params: dict[str, Any] | None = None) -> RuleValidationError:
    data = {**GOOD, **change}
    if params is not None:
        data["params"] = params
    with pytest.raises(RuleValidationError) as info:
        RuleSpec.from_dict(data)
    return info.value


def test_good_rule_round_trips_through_dict() -> None:
    spec = RuleSpec.from_dict({**GOOD, "valid_from": "2026-01-01T00:00:00+00:00", "verdict": "inspect"})
    again = RuleSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.verdict is Verdict.INSPECT


@pytest.mark.parametrize(
    ("change", "params", "field", "rule"),
    [
        ({"id": "bad id!"}, None, "id", "format"),
        ({"kind": "magic"}, None, "kind", "choice"),
        ({"colour": "red"}, None, "colour", "unknown_field"),
        ({"owner": ""}, None, "owner", "required"),
        ({"points": 5000}, None, "points", "range"),
        ({"points": "ten"}, None, "points", "type"),
        ({"points": 0}, None, "points", "effect"),
        ({"verdict": "arrest"}, None, "verdict", "choice"),
        ({"valid_from": "yesterday"}, None, "valid_from", "format"),
        ({"valid_from": "2026-01-01T00:00:00"}, None, "valid_from", "timezone"),
        (
            {"valid_from": "2026-02-01T00:00:00+00:00", "valid_to": "2026-01-01T00:00:00+00:00"},
            None,
            "valid_to",
            "order",
        ),
        ({}, {"keywords": []}, "params.keywords", "type"),
        ({}, {"keywords": ["ok", "  "]}, "params.keywords[1]", "required"),
        ({}, {"keywords": ["x"], "fields": ["colour"]}, "params.fields[0]", "choice"),
        ({}, {"keywords": ["x"], "typo": 1}, "params.typo", "unknown_field"),
        ({"kind": "pattern"}, {"pattern": "(unclosed"}, "params.pattern", "regex"),
        ({"kind": "pattern"}, {"pattern": "(a+)+$"}, "params.pattern", "backtracking"),
        ({"kind": "pattern"}, {"pattern": "x*"}, "params.pattern", "matches_empty"),
        ({"kind": "watchlist"}, {"field": "colour", "entries": []}, "params.field", "choice"),
        ({"kind": "table"}, {"field": "hs_code", "entries": {"9x": 10}}, "params.entries.9x", "format"),
        ({"kind": "table"}, {"field": "hs_code", "entries": {}}, "params.entries", "type"),
        ({"kind": "anomaly"}, {"metric": "colour"}, "params.metric", "choice"),
        ({"kind": "anomaly"}, {"metric": "declared_value", "z": 0}, "params.z", "range"),
        ({"kind": "random"}, {"rates": {"LMC": 1.5}}, "params.rates.LMC", "range"),
        ({"kind": "route"}, {}, "params.control_points", "required"),
        ({"kind": "route"}, {"directions": ["sideways"]}, "params.directions[0]", "choice"),
        ({"kind": "history"}, {"subject": "dog"}, "params.subject", "choice"),
        ({"kind": "late_amendment"}, {"within_minutes": 0}, "params.within_minutes", "range"),
    ],
)
def test_bad_rule_names_field_and_rule(
    change: dict[str, Any], params: dict[str, Any] | None, field: str, rule: str
) -> None:
    err = bad(change, params)
    assert (err.field, err.rule) == (field, rule), str(err)
    assert field in str(err)


def test_rule_set_rejects_duplicate_ids() -> None:
    spec = RuleSpec.from_dict(GOOD)
    with pytest.raises(RuleValidationError) as info:
        RuleSet((spec, spec))
    assert info.value.field == "id"


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(RuleValidationError) as info:
        Thresholds(inspect_at=100, hold_at=50)
    assert info.value.field == "hold_at"
    assert Thresholds(50, 150).verdict_for(49) is Verdict.CLEAR
    assert Thresholds(50, 150).verdict_for(50) is Verdict.INSPECT
    assert Thresholds(50, 150).verdict_for(150) is Verdict.HOLD


def test_random_rule_defaults_to_inspect_verdict() -> None:
    spec = RuleSpec.from_dict({"id": "R", "kind": "random", "owner": "o", "params": {"default_rate": 0.1}})
    assert spec.verdict is Verdict.INSPECT
    assert spec.is_trip_rule
