"""Officer controls over the store: overrides, inspection results, trip lists, explanations.

Every action here writes its audit entry in the same transaction as the action itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from central.risk import audit, profiling
from central.risk.errors import NotFound
from central.risk.facts import Reason, Verdict
from central.risk.models import RiskAssessment, RiskHistory, RiskInspection
from central.risk.runtime import runtime
from central.services.errors import Violations
from central.store import models as m
from central.store.db import from_db, to_db, write_transaction

RA: Any = RiskAssessment
RH: Any = RiskHistory
C: Any = m.Consignment
T: Any = m.Trip
MAX_REASON = 500


@dataclass(frozen=True)
class AssessmentView:
    subject: str
    reference: str
    control_point: str
    direction: int
    expected_at: datetime
    verdict: Verdict  # effective: what lanes act on
    rule_verdict: Verdict
    score: int
    reasons: list[Reason]
    rule_set_version: int
    assessed_at: datetime
    override_verdict: Verdict | None
    override_reason: str
    override_by: str
    override_in_force: bool


def view(row: RiskAssessment) -> AssessmentView:
    expected, assessed = from_db(row.expected_at), from_db(row.assessed_at)
    assert expected is not None and assessed is not None
    ov = Verdict(int(row.override_verdict)) if row.override_verdict is not None else None
    return AssessmentView(
        subject=row.subject,
        reference=row.reference,
        control_point=row.control_point,
        direction=int(row.direction),
        expected_at=expected,
        verdict=Verdict(int(row.effective)),
        rule_verdict=Verdict(int(row.verdict)),
        score=int(row.score),
        reasons=profiling.assessment_reasons(row),
        rule_set_version=int(row.rule_set_version),
        assessed_at=assessed,
        override_verdict=ov,
        override_reason=row.override_reason,
        override_by=row.override_by,
        override_in_force=ov is not None and row.override_basis == row.basis,
    )


def _subject(ccrn: str, trip_reference: str) -> tuple[str, str]:
    v = Violations()
    if bool(ccrn) == bool(trip_reference):
        v.add("subject", "give exactly one of ccrn or trip_reference")
    v.raise_if_any()
    return ("consignment", ccrn.strip().upper()) if ccrn else ("trip", trip_reference.strip().upper())


def get_assessment(ccrn: str = "", trip_reference: str = "") -> AssessmentView:
    subject, ref = _subject(ccrn, trip_reference)
    row = RA.get_or_none((RA.subject == subject) & (RA.reference == ref))
    if row is None:
        raise NotFound(f"no {subject} {ref!r} has been profiled")
    return view(row)


def override(
    officer: str, verdict: Verdict, reason: str, ccrn: str = "", trip_reference: str = ""
) -> AssessmentView:
    """Set the verdict lanes act on, with a mandatory reason; holds until the subject changes."""
    subject, ref = _subject(ccrn, trip_reference)
    v = Violations()
    if not reason.strip():
        v.add("reason", "is required: say why the verdict is overridden")
    elif len(reason) > MAX_REASON:
        v.add("reason", f"must be at most {MAX_REASON} characters")
    v.raise_if_any()
    rt = runtime()
    now = rt.clock.now()
    with write_transaction():
        row = RA.get_or_none((RA.subject == subject) & (RA.reference == ref))
        if row is None:
            raise NotFound(f"no {subject} {ref!r} has been profiled")
        before = Verdict(int(row.effective))
        RA.update(
            override_verdict=int(verdict),
            override_reason=reason.strip(),
            override_by=officer,
            override_at=to_db(now),
            override_basis=row.basis,
        ).where(RA.id == row.id).execute()
        audit.append(
            rt.keys.audit,
            officer,
            "verdict.override",
            f"{subject}:{ref}",
            {
                "from": before.label,
                "to": verdict.label,
                "reason": reason.strip(),
                "rule_verdict": Verdict(int(row.verdict)).label,
                "score": row.score,
            },
            now,
        )
        # Re-profile so the new effective verdict reaches lanes (and the trip, for a consignment).
        if subject == "consignment":
            c = C.get(C.ccrn == ref)
            profiling.profile_consignment(c)
            if c.trip_id:
                profiling.profile_trip(T.get_by_id(c.trip_id))
        else:
            profiling.profile_trip(T.get(T.reference == ref))
        row = RA.get_by_id(row.id)
    return view(row)


RESULTS = ("clean", "discrepancy")


@dataclass(frozen=True)
class InspectionRecorded:
    id: int
    companies_hit: list[int]
    companies_clean: list[int]
    driver_hit: bool | None


def record_inspection(
    officer: str,
    result: str,
    notes: str,
    trip_reference: str = "",
    ccrn: str = "",
    discrepant_ccrns: list[str] | None = None,
) -> InspectionRecorded:
    """An inspection result feeds the history of every company inspected and of the driver.

    On a trip: consignments listed in ``discrepant_ccrns`` (all of them when the list is empty
    and the result is a discrepancy) count as hits for their companies, the others as clean;
    the driver gets one hit or one clean inspection.
    """
    subject, ref = _subject(ccrn, trip_reference)
    v = Violations()
    if result not in RESULTS:
        v.add("result", "must be clean or discrepancy")
    if result == "discrepancy" and not notes.strip():
        v.add("notes", "are required for a discrepancy: say what was found")
    if len(notes) > 4000:
        v.add("notes", "must be at most 4000 characters")
    v.raise_if_any()
    listed = {x.strip().upper() for x in discrepant_ccrns or []}
    rt = runtime()
    now = rt.clock.now()
    with write_transaction():
        if subject == "trip":
            trip = T.get_or_none(T.reference == ref)
            if trip is None:
                raise NotFound(f"trip {ref!r} does not exist")
            consignments = list(C.select().where(C.trip == trip.id))
            driver_id: int | None = int(trip.driver_id)
        else:
            c = C.get_or_none(C.ccrn == ref)
            if c is None:
                raise NotFound(f"consignment {ref!r} does not exist")
            consignments, driver_id = [c], None
            trip = T.get_by_id(c.trip_id) if c.trip_id else None
        unknown = listed - {c.ccrn for c in consignments}
        if unknown:
            v.add("discrepant_ccrns", f"not part of this inspection: {', '.join(sorted(unknown))}")
        if listed and result == "clean":
            v.add("discrepant_ccrns", "must be empty when the result is clean")
        v.raise_if_any()
        hit_ccrns = (listed or {c.ccrn for c in consignments}) if result == "discrepancy" else set()
        hits = [int(c.company_id) for c in consignments if c.ccrn in hit_ccrns]
        cleans = [int(c.company_id) for c in consignments if c.ccrn not in hit_ccrns]
        for cid in hits:
            _bump("company", cid, hit=True)
        for cid in cleans:
            _bump("company", cid, hit=False)
        if driver_id is not None:
            _bump("driver", driver_id, hit=result == "discrepancy")
        row = RiskInspection.create(
            trip_reference=trip.reference if trip is not None else "",
            ccrn=ref if subject == "consignment" else "",
            result=result,
            notes=notes.strip(),
            officer=officer,
            recorded_at=to_db(now),
        )
        audit.append(
            rt.keys.audit,
            officer,
            "inspection.record",
            f"{subject}:{ref}",
            {"result": result, "notes": notes.strip(), "discrepant_ccrns": sorted(hit_ccrns)},
            now,
        )
    return InspectionRecorded(
        int(row.id),  # type: ignore[attr-defined]
        hits,
        cleans,
        None if driver_id is None else result == "discrepancy",
    )


def _bump(subject: str, subject_id: int, *, hit: bool) -> None:
    RH.insert(subject=subject, subject_id=subject_id, hits=0, clean=0).on_conflict_ignore().execute()
    field = RH.hits if hit else RH.clean
    RH.update({field: field + 1}).where((RH.subject == subject) & (RH.subject_id == subject_id)).execute()


def list_trips(
    control_point: str,
    start: datetime,
    end: datetime,
    min_verdict: Verdict = Verdict.CLEAR,
    limit: int = 100,
    after_reference: str = "",
) -> list[tuple[AssessmentView, list[AssessmentView]]]:
    """Trips expected at ``control_point`` in [start, end) with their verdicts and their
    consignments, in trip-reference order (keyset pages: pass the last reference seen)."""
    v = Violations()
    if not control_point.strip():
        v.add("control_point", "is required")
    if end <= start:
        v.add("end", "must be later than start")
    if not 1 <= limit <= 1000:
        v.add("page_size", "must be between 1 and 1000")
    v.raise_if_any()
    q = RA.select().where(
        (RA.subject == "trip")
        & (RA.control_point == control_point.strip().upper())
        & (RA.expected_at >= to_db(start))
        & (RA.expected_at < to_db(end))
        & (RA.effective >= int(min_verdict))
    )
    if after_reference:
        q = q.where(RA.reference > after_reference)
    rows = list(q.order_by(RA.reference).limit(limit))
    out = []
    for row in rows:
        trip = T.get_or_none(T.reference == row.reference)
        ccrns = [c for (c,) in C.select(C.ccrn).where(C.trip == trip.id).tuples()] if trip else []
        cons = (
            [view(r) for r in RA.select().where((RA.subject == "consignment") & RA.reference.in_(ccrns))]
            if ccrns
            else []
        )
        out.append((view(row), cons))
    return out


def explain_json(a: AssessmentView) -> dict[str, Any]:
    return {
        "subject": a.subject,
        "reference": a.reference,
        "verdict": a.verdict.label,
        "rule_verdict": a.rule_verdict.label,
        "score": a.score,
        "reasons": [r.as_dict() for r in a.reasons],
        "rule_set_version": a.rule_set_version,
        "override": None
        if a.override_verdict is None
        else {
            "verdict": a.override_verdict.label,
            "reason": a.override_reason,
            "by": a.override_by,
            "in_force": a.override_in_force,
        },
    }


def replay(version: int, ccrn: str = "", trip_reference: str = "") -> AssessmentView:
    """Recompute a verdict from the current data, rule-set ``version`` and the selection key,
    storing nothing: what the rules of that version say (overrides are not applied). With the
    version a verdict was given under, it reproduces that verdict (random draws included) as
    long as the data are unchanged; anomaly statistics are today's."""
    from central.risk import rulestore
    from central.risk.engine import CompiledRules
    from central.risk.facts import Assessment, TripFacts

    subject, ref = _subject(ccrn, trip_reference)
    rt = runtime()
    engine = CompiledRules(rulestore.load(version), rt.keys.selection)
    stats = rt.stats()
    if subject == "consignment":
        c = C.get_or_none(C.ccrn == ref)
        if c is None:
            raise NotFound(f"consignment {ref!r} does not exist")
        f = profiling.consignment_facts(c)
        a = engine.assess_consignment(f, stats)
        cp, direction, expected = f.control_point, int(c.direction), f.expected_at
    else:
        t = T.get_or_none(T.reference == ref)
        if t is None:
            raise NotFound(f"trip {ref!r} does not exist")
        cons = list(C.select().where(C.trip == t.id))
        pairs: list[tuple[str, Assessment]] = [
            (c.ccrn, engine.assess_consignment(profiling.consignment_facts(c), stats)) for c in cons
        ]
        expected = profiling._aware(t.expected_arrival)
        cp = str(m.ControlPoint.get_by_id(t.control_point_id).code)
        facts = TripFacts(
            trip_id=t.reference,
            control_point=cp,
            direction=profiling.DIRECTION_NAMES.get(t.direction, ""),
            expected_at=expected,
            vehicle_plate=str(m.Vehicle.get_by_id(t.vehicle_id).registration_mark),
            driver_id=str(m.Driver.get_by_id(t.driver_id).document_number),
            driver_history=profiling.history_of("driver", int(t.driver_id)),
        )
        a = engine.assess_trip(facts, pairs)
        direction = int(t.direction)
    return AssessmentView(
        subject=subject,
        reference=ref,
        control_point=cp,
        direction=direction,
        expected_at=expected,
        verdict=a.verdict,
        rule_verdict=a.verdict,
        score=a.score,
        reasons=list(a.reasons),
        rule_set_version=version,
        assessed_at=rt.clock.now(),
        override_verdict=None,
        override_reason="",
        override_by="",
        override_in_force=False,
    )
