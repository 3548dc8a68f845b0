"""The risk engine: a rule set compiled once into look-up structures, then scored per consignment/trip.

Compiling matters for speed (the bench target is 5,000 consignments/s on one core with 200
rules): keywords become a dict of word n-grams per field, watch lists become sets, HS
tables become dicts probed by prefix, so a consignment costs a handful of dict look-ups
and a few regex searches instead of one pass per rule.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from central.risk.facts import (
    Assessment,
    ConsignmentFacts,
    History,
    Reason,
    TripFacts,
    Verdict,
    normalise_name,
    normalise_plate,
)
from central.risk.rules import RuleSet, RuleSpec
from central.risk.selection import selection_draw
from central.risk.stats import AnomalyStats, group_key, metric_value

# The signature of the local ``fire`` closures: (rule, field, value, points, detail).
_Fire = Callable[[RuleSpec, str, str, int, str], None]

MAX_VALUE_IN_REASON = 80
ELOCK_CLEAR_STATES = frozenset({"sealed"})


def _clip(value: str) -> str:
    return value if len(value) <= MAX_VALUE_IN_REASON else value[: MAX_VALUE_IN_REASON - 1] + "…"


class _Reasons:
    """The reasons of one assessment: one per rule in force at ``when``; the first match
    explains it, further matches add nothing."""

    def __init__(self, when: datetime) -> None:
        self.when = when
        self.reasons: list[Reason] = []
        self.fired: set[str] = set()

    def fire(self, rule: RuleSpec, fld: str, value: str, points: int, detail: str) -> None:
        if rule.id in self.fired or not rule.active_at(self.when):
            return
        self.fired.add(rule.id)
        self.reasons.append(Reason(rule.id, fld, _clip(value), points, detail, rule.verdict))


class CompiledRules:
    """Immutable, thread-safe compiled form of one RuleSet version."""

    def __init__(self, rule_set: RuleSet, selection_key: bytes) -> None:
        self.rule_set = rule_set
        self.version = rule_set.version
        self.thresholds = rule_set.thresholds
        self._key = selection_key
        # field -> phrase -> rules
        self._keywords: dict[str, dict[str, list[RuleSpec]]] = defaultdict(dict)
        self._max_words: dict[str, int] = defaultdict(int)
        self._patterns: dict[str, list[tuple[RuleSpec, re.Pattern[str]]]] = defaultdict(list)
        self._watch: dict[str, dict[str, list[RuleSpec]]] = defaultdict(dict)
        # HS prefix -> (rule, points) of every HS table, probed once per prefix length
        self._hs: dict[str, list[tuple[RuleSpec, int]]] = defaultdict(list)
        self._hs_lengths: tuple[int, ...] = ()
        self._commodity: dict[str, list[tuple[RuleSpec, int]]] = defaultdict(list)
        self._anomaly: list[RuleSpec] = []
        self._simple: list[RuleSpec] = []  # new_shipper, route, late_amendment, company history
        self._random: list[RuleSpec] = []
        self._driver_history: list[RuleSpec] = []
        for rule in rule_set.rules:
            if rule.enabled:
                self._add(rule)
        # What the facts must carry for this set, so the store reads no more than that on the
        # submission path: the earlier-consignment count only up to the largest new-shipper
        # threshold (above it no rule reads the exact figure), company history only if a
        # company history rule is in force.
        self.company_seen_cap: int = max(
            (int(r.params["max_seen"]) for r in self._simple if r.kind == "new_shipper"), default=0
        )
        self.needs_company_history: bool = any(r.kind == "history" for r in self._simple)

    def _add(self, rule: RuleSpec) -> None:
        p = rule.params
        if rule.kind == "keyword":
            for fld in p["fields"]:
                for kw in p["keywords"]:
                    self._keywords[fld].setdefault(kw, []).append(rule)
                    self._max_words[fld] = max(self._max_words[fld], kw.count(" ") + 1)
        elif rule.kind == "pattern":
            compiled = re.compile(p["pattern"], re.IGNORECASE)
            for fld in p["fields"]:
                self._patterns[fld].append((rule, compiled))
        elif rule.kind == "watchlist":
            for entry in p["entries"]:
                self._watch[p["field"]].setdefault(entry, []).append(rule)
        elif rule.kind == "table":
            target = self._hs if p["field"] == "hs_code" else self._commodity
            for key, points in p["entries"].items():
                target[key].append((rule, points))
            self._hs_lengths = tuple(sorted({len(k) for k in self._hs}, reverse=True))
        elif rule.kind == "anomaly":
            self._anomaly.append(rule)
        elif rule.kind == "random":
            self._random.append(rule)
        elif rule.kind == "history" and p["subject"] == "driver":
            self._driver_history.append(rule)
        else:
            self._simple.append(rule)

    # ------------------------------------------------------------------ consignments

    def assess_consignment(self, f: ConsignmentFacts, stats: AnomalyStats | None = None) -> Assessment:
        collected = _Reasons(f.expected_at)
        reasons, fired, fire = collected.reasons, collected.fired, collected.fire

        for fld, phrases in self._keywords.items():
            text = getattr(f, fld)
            if not text:
                continue
            words = normalise_name(text).split()
            for n in range(1, self._max_words[fld] + 1):
                for i in range(len(words) - n + 1):
                    gram = words[i] if n == 1 else " ".join(words[i : i + n])
                    hit = phrases.get(gram)
                    if hit:
                        for rule in hit:
                            fire(rule, fld, gram, rule.points, f"keyword {gram!r} in {fld}")
        for fld, pats in self._patterns.items():
            text = getattr(f, fld)
            if not text:
                continue
            for rule, rx in pats:
                if rule.id in fired:
                    continue
                m = rx.search(text)
                if m:
                    fire(rule, fld, m.group(0), rule.points, f"pattern /{rx.pattern}/ matched {fld}")
        self._watchlists(f, fire)
        if self._hs and f.hs_code:
            self._tables(f, fire)
        if self._commodity:
            key = f.commodity_key
            for rule, pts in self._commodity.get(key, ()):
                fire(rule, "commodity", key, pts, f"commodity {key!r} in risk table {rule.id}")
        if stats is not None:
            for rule in self._anomaly:
                self._anomaly_rule(rule, f, stats, fire)
        for rule in self._simple:
            self._simple_rule(rule, f, fire)
        assessment = self._finish(reasons)
        if f.transshipment:
            assessment = self._elock(assessment, f)
        return assessment

    def _watchlists(self, f: ConsignmentFacts, fire: _Fire) -> None:
        if not self._watch:
            return
        probes = (
            ("consignor", "consignor_name", normalise_name(f.consignor_name)),
            ("consignee", "consignee_name", normalise_name(f.consignee_name)),
            ("company", "company_id", str(f.company_id)),
        )
        for kind, fld, value in probes:
            for rule in self._watch.get(kind, {}).get(value, ()):
                fire(rule, fld, value, rule.points, f"{kind} on watch list {rule.id}")

    def _tables(self, f: ConsignmentFacts, fire: _Fire) -> None:
        hs = f.hs_code
        for n in self._hs_lengths:  # longest prefix first: ``fire`` keeps one reason per rule
            if n > len(hs):
                continue
            for rule, pts in self._hs.get(hs[:n], ()):
                fire(rule, "hs_code", hs, pts, f"HS {hs[:n]}* in risk table {rule.id}")

    @staticmethod
    def _anomaly_rule(rule: RuleSpec, f: ConsignmentFacts, stats: AnomalyStats, fire: _Fire) -> None:
        p = rule.params
        value = metric_value(f, p["metric"])
        if value is None:
            return
        key = group_key(f, p["group"])
        st = stats.get(p["metric"], p["group"], key)
        if st is None or st.count < p["min_samples"]:
            return
        sd = st.stdev
        if sd <= 1e-9:
            sd = 1e-9 if abs(math.log(value) - st.mean) > 1e-6 else math.inf
        z = (math.log(value) - st.mean) / sd
        if abs(z) >= p["z"]:
            usual = math.exp(st.mean)
            fire(
                rule,
                p["metric"],
                f"{value:.2f}",
                rule.points,
                f"{p['metric']} {value:.2f} vs usual {usual:.2f} for {p['group']} {key} "
                f"(n={st.count}, z={z:+.1f}, limit {p['z']})",
            )

    @staticmethod
    def _simple_rule(rule: RuleSpec, f: ConsignmentFacts, fire: _Fire) -> None:
        p = rule.params
        if rule.kind == "new_shipper":
            if f.company_seen < p["max_seen"]:
                fire(
                    rule,
                    "company_id",
                    str(f.company_id),
                    rule.points,
                    f"company has {f.company_seen} earlier consignment(s), fewer than {p['max_seen']}",
                )
        elif rule.kind == "route":
            cp = f.control_point.upper()
            if (
                (not p["control_points"] or cp in p["control_points"])
                and (not p["directions"] or f.direction in p["directions"])
                and (p["transshipment"] is None or f.transshipment == p["transshipment"])
            ):
                fire(rule, "control_point", f"{cp}/{f.direction}", rule.points, f"route matches {rule.id}")
        elif rule.kind == "late_amendment":
            if f.amended_at is not None:
                lead = f.expected_at - f.amended_at
                if lead <= timedelta(minutes=p["within_minutes"]):
                    minutes = int(lead.total_seconds() // 60)
                    fire(
                        rule,
                        "amended_at",
                        f.amended_at.isoformat(),
                        rule.points,
                        f"amended {minutes} min before expected crossing (limit {p['within_minutes']} min)",
                    )
        elif rule.kind == "history":
            _history(rule, f.company_history, "company_id", str(f.company_id), fire)

    def _elock(self, a: Assessment, f: ConsignmentFacts) -> Assessment:
        # Risk of a transshipment consignment is judged once, at its air or sea end; at the land
        # boundary only the lock decides, except that a HOLD (officer must act) always stands.
        state = f.elock_state or "no_report"
        if state in ELOCK_CLEAR_STATES:
            verdict = Verdict.HOLD if a.verdict == Verdict.HOLD else Verdict.CLEAR
            detail = "e-lock sealed and on route: rules deferred to the air/sea end"
            floor = None
        else:
            verdict = max(a.verdict, Verdict.INSPECT)
            detail = f"e-lock state {state}: the lock no longer vouches for the load"
            floor = Verdict.INSPECT
        reason = Reason("elock", "elock_state", state, 0, detail, floor)
        return Assessment(verdict, a.score, (*a.reasons, reason), a.rule_set_version)

    # ------------------------------------------------------------------ trips

    def assess_trip(self, t: TripFacts, consignments: Iterable[tuple[str, Assessment]]) -> Assessment:
        """Strictest of the consignments, the driver, the vehicle and the random draw."""
        collected = _Reasons(t.expected_at)
        reasons, fire = collected.reasons, collected.fire

        plate = normalise_plate(t.vehicle_plate)
        for rule in self._watch.get("vehicle", {}).get(plate, ()):
            fire(rule, "vehicle_plate", plate, rule.points, f"vehicle on watch list {rule.id}")
        driver = normalise_name(t.driver_id)
        for rule in self._watch.get("driver", {}).get(driver, ()):
            fire(rule, "driver_id", driver, rule.points, f"driver on watch list {rule.id}")
        for rule in self._driver_history:
            _history(rule, t.driver_history, "driver_id", t.driver_id, fire)
        cp = t.control_point.upper()
        for rule in self._random:
            p = rule.params
            rate = p["rates"].get(cp, p["default_rate"])
            if rate <= 0:
                continue
            draw = selection_draw(self._key, p["salt"] or rule.id, t.trip_id)
            if draw < rate:
                detail = f"random selection: draw {draw:.6f} < rate {rate} at {cp}"
                fire(rule, "trip_id", t.trip_id, rule.points, detail)
        own = self._finish(reasons)
        verdict = own.verdict
        score = own.score
        all_reasons = list(own.reasons)
        for ccrn, a in consignments:
            score = max(score, a.score)
            if a.verdict > Verdict.CLEAR:
                verdict = max(verdict, a.verdict)
                detail = f"consignment verdict {a.verdict.label}"
                all_reasons.append(Reason("consignment", "ccrn", ccrn, a.score, detail, a.verdict))
        return Assessment(verdict, score, tuple(all_reasons), self.version)

    # ------------------------------------------------------------------ common

    def _finish(self, reasons: list[Reason]) -> Assessment:
        score = sum(r.points for r in reasons)
        verdict = self.thresholds.verdict_for(score)
        for r in reasons:
            if r.verdict is not None and r.verdict > verdict:
                verdict = r.verdict
        return Assessment(verdict, score, tuple(reasons), self.version)


def _history(rule: RuleSpec, h: History, fld: str, value: str, fire: _Fire) -> None:
    p = rule.params
    n = h.inspections
    if n < p["min_inspections"]:
        return
    base = p["baseline"]
    rate = (h.hits + base * p["prior"]) / (n + p["prior"])
    points = round(p["weight"] * (rate - base) / (1.0 - base)) if base < 1 else 0
    if points == 0:
        return
    fire(
        rule,
        fld,
        value,
        points,
        f"{h.hits} hit(s) in {n} inspection(s): smoothed rate {rate:.3f} vs baseline {base}",
    )


def override_assessment(a: Assessment, verdict: Verdict, officer: str, reason: str) -> Assessment:
    """An officer's override replaces the verdict and says who and why, keeping the rule reasons."""
    r = Reason("override", "verdict", verdict.label, 0, f"override by {officer}: {reason}", verdict)
    return Assessment(verdict, a.score, (*a.reasons, r), a.rule_set_version)
