"""Rules as data: the validated, JSON-round-trippable definition of every rule kind.

A rule is a JSON object an officer writes (``rocars officer rules put FILE``, or
``ChangeRules.put_json``); ``RuleSpec.from_dict`` validates it completely before anything is
stored, naming the field and the constraint broken, so a bad rule never reaches the engine
and never replaces a good one. Common fields: ``id``, ``kind``, ``owner`` (required),
``points`` (-1000..1000), ``verdict`` (a floor: inspect | hold), ``valid_from``/``valid_to``
(ISO 8601 with offset, judged against the expected crossing time), ``enabled``,
``description``, ``params`` by kind:

==============  ==============================================================================
keyword         keywords: [words or phrases up to 5 words], fields: [text fields] (whole words)
pattern         pattern: regex (no nested quantifiers, must not match ""), fields
watchlist       field: consignor | consignee | company | vehicle | driver, entries: [...]
table           field: hs_code (longest prefix, 2-10 digits) | commodity, entries: {key: points}
anomaly         metric: declared_value | gross_weight_kg | value_per_kg, group: commodity |
                shipper, z (log-scale deviations), min_samples
new_shipper     max_seen: fires while the company has filed fewer consignments than this
route           control_points, directions, transshipment (any combination)
late_amendment  within_minutes: amended this close to the expected crossing
random          rates: {control point: 0..1}, default_rate, salt (keyed-hash draw per trip)
history         subject: company | driver, weight, baseline, min_inspections, prior
==============  ==============================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from central.risk.errors import RuleValidationError
from central.risk.facts import TEXT_FIELDS, Verdict, normalise_name, normalise_plate

RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
MAX_POINTS = 1000
MAX_PATTERN_LEN = 300
MAX_ENTRIES = 100_000

# A quantified group that itself ends in a quantifier, e.g. (a+)+ or (\w*)*: the classic
# catastrophic-backtracking shape. Python's re has no timeout, so refuse it up front.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}]\)[+*{]")

WATCH_FIELDS = ("consignor", "consignee", "company", "vehicle", "driver")
TRIP_WATCH_FIELDS = ("vehicle", "driver")
ANOMALY_METRICS = ("declared_value", "gross_weight_kg", "value_per_kg")
ANOMALY_GROUPS = ("commodity", "shipper")
DIRECTIONS = ("import", "export")

KINDS = (
    "keyword",
    "pattern",
    "watchlist",
    "table",
    "anomaly",
    "new_shipper",
    "route",
    "late_amendment",
    "random",
    "history",
)
# Kinds whose effect is the rule's own points/verdict (tables, history and random carry their own).
_NEEDS_EFFECT = ("keyword", "pattern", "watchlist", "anomaly", "new_shipper", "route", "late_amendment")
# Rules judged once per trip (vehicle, driver, random draw) rather than per consignment.
TRIP_KINDS = ("random",)

_TOP_FIELDS = {
    "id",
    "kind",
    "owner",
    "points",
    "verdict",
    "valid_from",
    "valid_to",
    "enabled",
    "description",
    "params",
}


@dataclass(frozen=True)
class RuleSpec:
    id: str
    kind: str
    owner: str
    params: Mapping[str, Any]
    points: int = 0
    verdict: Verdict | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    enabled: bool = True
    description: str = ""

    def active_at(self, when: datetime) -> bool:
        if not self.enabled:
            return False
        if self.valid_from is not None and when < self.valid_from:
            return False
        return not (self.valid_to is not None and when >= self.valid_to)

    @property
    def is_trip_rule(self) -> bool:
        if self.kind in TRIP_KINDS:
            return True
        if self.kind == "watchlist":
            return self.params["field"] in TRIP_WATCH_FIELDS
        return self.kind == "history" and self.params["subject"] == "driver"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "owner": self.owner,
            "points": self.points,
            "verdict": self.verdict.label if self.verdict else None,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "enabled": self.enabled,
            "description": self.description,
            "params": _plain(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSpec:
        return _validate(data)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = [_plain(v) for v in value]
        return sorted(items) if isinstance(value, (frozenset, set)) else items
    return value


class _Checker:
    """Small helpers that raise RuleValidationError naming the rule, the field and the rule broken."""

    def __init__(self, rule_id: str) -> None:
        self.rule_id = rule_id

    def fail(self, field_name: str, rule: str, message: str) -> RuleValidationError:
        return RuleValidationError(self.rule_id, field_name, rule, message)

    def integer(self, name: str, value: Any, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, "type", f"must be an integer, got {value!r}")
        if not lo <= value <= hi:
            raise self.fail(name, "range", f"must be between {lo} and {hi}, got {value}")
        return value

    def number(self, name: str, value: Any, lo: float, hi: float, *, open_low: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(name, "type", f"must be a number, got {value!r}")
        v = float(value)
        if v != v or v > hi or v < lo or (open_low and v == lo):
            low = f"above {lo}" if open_low else f"at least {lo}"
            raise self.fail(name, "range", f"must be {low} and at most {hi}, got {value}")
        return v

    def text(self, name: str, value: Any, *, max_len: int = 200, allow_empty: bool = False) -> str:
        if not isinstance(value, str):
            raise self.fail(name, "type", f"must be a string, got {value!r}")
        if not allow_empty and not value.strip():
            raise self.fail(name, "required", "must not be empty")
        if len(value) > max_len:
            raise self.fail(name, "length", f"must be at most {max_len} characters")
        return value

    def choice(self, name: str, value: Any, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self.fail(name, "choice", f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def str_list(self, name: str, value: Any, *, min_len: int = 1) -> list[str]:
        if not isinstance(value, (list, tuple)) or len(value) < min_len:
            raise self.fail(name, "type", f"must be a list of at least {min_len} string(s)")
        if len(value) > MAX_ENTRIES:
            raise self.fail(name, "length", f"must have at most {MAX_ENTRIES} entries")
        return [self.text(f"{name}[{i}]", v) for i, v in enumerate(value)]

    def when(self, name: str, value: Any) -> datetime | None:
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise self.fail(name, "format", f"must be an ISO 8601 date-time, got {value!r}") from None
        else:
            raise self.fail(name, "type", f"must be an ISO 8601 date-time string, got {value!r}")
        if parsed.tzinfo is None:
            raise self.fail(name, "timezone", "must carry a UTC offset (e.g. 2026-01-01T00:00:00+00:00)")
        return parsed

    def known(self, prefix: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            expected = ", ".join(sorted(allowed))
            raise self.fail(
                f"{prefix}{unknown[0]}", "unknown_field", f"unknown field; expected one of {expected}"
            )


def _validate(data: Mapping[str, Any]) -> RuleSpec:
    if not isinstance(data, Mapping):
        raise RuleValidationError("", "rule", "type", "a rule must be a JSON object")
    raw_id = data.get("id")
    if not isinstance(raw_id, str) or not RULE_ID.match(raw_id):
        msg = "must be 1-40 letters, digits, '.', '_' or '-', starting alphanumeric"
        raise RuleValidationError(str(raw_id or ""), "id", "format", msg)
    c = _Checker(raw_id)
    c.known("", data, _TOP_FIELDS)
    kind = c.choice("kind", data.get("kind"), KINDS)
    owner = c.text("owner", data.get("owner"), max_len=100)
    points = c.integer("points", data.get("points", 0), -MAX_POINTS, MAX_POINTS)
    verdict_raw = data.get("verdict")
    verdict = None
    if verdict_raw not in (None, ""):
        try:
            verdict = Verdict.parse(str(verdict_raw))
        except ValueError as exc:
            raise c.fail("verdict", "choice", str(exc)) from None
    valid_from = c.when("valid_from", data.get("valid_from"))
    valid_to = c.when("valid_to", data.get("valid_to"))
    if valid_from and valid_to and valid_to <= valid_from:
        raise c.fail("valid_to", "order", "must be later than valid_from")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise c.fail("enabled", "type", "must be true or false")
    description = c.text("description", data.get("description", ""), max_len=1000, allow_empty=True)
    params_raw = data.get("params", {})
    if not isinstance(params_raw, Mapping):
        raise c.fail("params", "type", "must be a JSON object")
    params = _PARAMS[kind](c, params_raw)
    if kind in _NEEDS_EFFECT and points == 0 and verdict is None:
        raise c.fail("points", "effect", "a rule must add points or set a verdict (or both)")
    if kind == "random" and verdict is None:
        verdict = Verdict.INSPECT  # being drawn means going to the bay unless the officer says hold
    return RuleSpec(
        id=raw_id,
        kind=kind,
        owner=owner,
        params=params,
        points=points,
        verdict=verdict,
        valid_from=valid_from,
        valid_to=valid_to,
        enabled=enabled,
        description=description,
    )


def _text_fields(c: _Checker, p: Mapping[str, Any]) -> tuple[str, ...]:
    raw = p.get("fields", ["packages_description", "articles_description"])
    names = c.str_list("params.fields", raw)
    for i, name in enumerate(names):
        c.choice(f"params.fields[{i}]", name, TEXT_FIELDS)
    return tuple(dict.fromkeys(names))


def _keyword(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"fields", "keywords"})
    words = []
    for i, kw in enumerate(c.str_list("params.keywords", p.get("keywords"))):
        norm = normalise_name(kw)
        if not norm:
            raise c.fail(f"params.keywords[{i}]", "format", "must contain at least one letter or digit")
        if norm.count(" ") >= 5:
            raise c.fail(f"params.keywords[{i}]", "length", "a keyword phrase has at most 5 words")
        words.append(norm)
    return {"fields": _text_fields(c, p), "keywords": tuple(dict.fromkeys(words))}


def _pattern(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"fields", "pattern"})
    pattern = c.text("params.pattern", p.get("pattern"), max_len=MAX_PATTERN_LEN)
    if _NESTED_QUANTIFIER.search(pattern):
        raise c.fail("params.pattern", "backtracking", "nested quantifiers such as (a+)+ are not allowed")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise c.fail("params.pattern", "regex", f"invalid regular expression: {exc}") from None
    if compiled.search(""):
        msg = "must not match the empty string (it would fire on everything)"
        raise c.fail("params.pattern", "matches_empty", msg)
    return {"fields": _text_fields(c, p), "pattern": pattern}


def _watchlist(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"field", "entries"})
    fld = c.choice("params.field", p.get("field"), WATCH_FIELDS)
    norm = normalise_plate if fld == "vehicle" else normalise_name
    entries = []
    for i, e in enumerate(c.str_list("params.entries", p.get("entries"), min_len=0)):
        n = norm(e)
        if not n:
            raise c.fail(f"params.entries[{i}]", "format", "must contain at least one letter or digit")
        entries.append(n)
    return {"field": fld, "entries": frozenset(entries)}


def _table(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"field", "entries"})
    fld = c.choice("params.field", p.get("field"), ("hs_code", "commodity"))
    raw = p.get("entries")
    if not isinstance(raw, Mapping) or not raw:
        raise c.fail("params.entries", "type", "must be a non-empty object of key -> points")
    entries: dict[str, int] = {}
    for key, pts in raw.items():
        name = f"params.entries.{key}"
        if fld == "hs_code":
            if not (isinstance(key, str) and key.isdigit() and 2 <= len(key) <= 10):
                raise c.fail(name, "format", "an HS code prefix is 2 to 10 digits")
            nkey = key
        else:
            nkey = normalise_name(str(key))
            if not nkey:
                raise c.fail(name, "format", "a commodity must contain at least one letter or digit")
        entries[nkey] = c.integer(name, pts, -MAX_POINTS, MAX_POINTS)
    return {"field": fld, "entries": entries}


def _anomaly(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"metric", "group", "z", "min_samples"})
    return {
        "metric": c.choice("params.metric", p.get("metric"), ANOMALY_METRICS),
        "group": c.choice("params.group", p.get("group", "commodity"), ANOMALY_GROUPS),
        "z": c.number("params.z", p.get("z", 3.0), 0.0, 50.0, open_low=True),
        "min_samples": c.integer("params.min_samples", p.get("min_samples", 10), 3, 1_000_000),
    }


def _new_shipper(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"max_seen"})
    return {"max_seen": c.integer("params.max_seen", p.get("max_seen", 1), 1, 1_000_000)}


def _route(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"control_points", "directions", "transshipment"})
    cps = c.str_list("params.control_points", p.get("control_points", []), min_len=0)
    dirs = c.str_list("params.directions", p.get("directions", []), min_len=0)
    for i, d in enumerate(dirs):
        c.choice(f"params.directions[{i}]", d, DIRECTIONS)
    tship = p.get("transshipment")
    if tship is not None and not isinstance(tship, bool):
        raise c.fail("params.transshipment", "type", "must be true, false or absent")
    if not cps and not dirs and tship is None:
        msg = "a route rule needs control_points, directions or transshipment"
        raise c.fail("params.control_points", "required", msg)
    return {
        "control_points": frozenset(cp.strip().upper() for cp in cps),
        "directions": frozenset(dirs),
        "transshipment": tship,
    }


def _late_amendment(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"within_minutes"})
    minutes = c.integer("params.within_minutes", p.get("within_minutes", 60), 1, 14 * 24 * 60)
    return {"within_minutes": minutes}


def _random(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"rates", "default_rate", "salt"})
    raw = p.get("rates", {})
    if not isinstance(raw, Mapping):
        raise c.fail("params.rates", "type", "must be an object of control point -> rate (0..1)")
    rates = {str(k).strip().upper(): c.number(f"params.rates.{k}", v, 0.0, 1.0) for k, v in raw.items()}
    return {
        "rates": rates,
        "default_rate": c.number("params.default_rate", p.get("default_rate", 0.0), 0.0, 1.0),
        "salt": c.text("params.salt", p.get("salt", ""), max_len=64, allow_empty=True),
    }


def _history(c: _Checker, p: Mapping[str, Any]) -> dict[str, Any]:
    c.known("params.", p, {"subject", "weight", "baseline", "min_inspections", "prior"})
    return {
        "subject": c.choice("params.subject", p.get("subject"), ("company", "driver")),
        "weight": c.integer("params.weight", p.get("weight", 100), 1, MAX_POINTS),
        "baseline": c.number("params.baseline", p.get("baseline", 0.05), 0.0, 1.0, open_low=True),
        "min_inspections": c.integer("params.min_inspections", p.get("min_inspections", 3), 1, 1_000_000),
        "prior": c.number("params.prior", p.get("prior", 5.0), 0.0, 1000.0),
    }


_PARAMS = {
    "keyword": _keyword,
    "pattern": _pattern,
    "watchlist": _watchlist,
    "table": _table,
    "anomaly": _anomaly,
    "new_shipper": _new_shipper,
    "route": _route,
    "late_amendment": _late_amendment,
    "random": _random,
    "history": _history,
}


@dataclass(frozen=True)
class Thresholds:
    """Score to verdict: score >= inspect_at means inspect, >= hold_at means hold."""

    inspect_at: int = 50
    hold_at: int = 150

    def __post_init__(self) -> None:
        c = _Checker("settings")
        c.integer("inspect_at", self.inspect_at, 1, 100 * MAX_POINTS)
        c.integer("hold_at", self.hold_at, 1, 100 * MAX_POINTS)
        if self.hold_at <= self.inspect_at:
            raise c.fail("hold_at", "order", "must be greater than inspect_at")

    def verdict_for(self, score: int) -> Verdict:
        if score >= self.hold_at:
            return Verdict.HOLD
        if score >= self.inspect_at:
            return Verdict.INSPECT
        return Verdict.CLEAR


@dataclass(frozen=True)
class RuleSet:
    """One immutable version of all rules; a change produces a new version or nothing."""

    rules: tuple[RuleSpec, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    version: int = 0

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for r in self.rules:
            if r.id in seen:
                raise RuleValidationError(r.id, "id", "unique", "a rule with this id already exists")
            seen.add(r.id)

    def by_id(self, rule_id: str) -> RuleSpec | None:
        return next((r for r in self.rules if r.id == rule_id), None)
