"""Profiling against the store: facts from the core models, assessments kept, changes recorded.

Runs inside the writer's transaction (submission, amendment, bundling: via ``hooks``; rule
changes, overrides, inspections and e-lock events: via the officer and e-lock services),
never at the kiosk. Whenever the verdict a lane acts on changes, a ``verdict_changed`` row
goes to the change log in the same transaction, so lanes learn of it through the sync feed.

Cost on the submission path, and why profiling stays inside the transaction
---------------------------------------------------------------------------
Profiling a submission used to cost ~2.2 ms of CPU against ~0.3 ms for the core's own
work (bench/central_submit.py, in-process figures), almost all of it peewee building SQL
for seven statements. The hot path now reads and writes through pre-built statements
(central.store.fast): no assessment look-up for a first version (``lookup=False``; should
the row exist after all, ``INSERT ... ON CONFLICT DO NOTHING`` sees it and the update path
runs instead), the control point taken from the row the core hands over, the count of a
company's earlier consignments capped at the largest new-shipper threshold in force (the
only rule that reads it; uncapped it grew with every submission of a big shipper), company
history read only under a company history rule, and the rule-set version read with one
pre-built ``MAX``. That leaves ~0.6 ms, of which ~0.45 ms is ``changes.record_change``
(sync area: two ORM-built statements, the change row and the LaneVerdict upsert); with
those pre-built too the whole profile costs ~0.2 ms.

Profiling after commit in a batching worker (with a durable "needs profiling" marker) was
weighed and not taken: the server is CPU-bound under the GIL, not bound by the SQLite
write lock (at ~450 submissions/s, ~0.75 ms of work in the lock per submission holds it
about a third of the time; estimated from the in-process figures), so moving
the same work to another thread of the same process moves the cost rather than removing
it, while the verdict would no longer exist when the submission returns and every reader
(bundling, officer views, the lane snapshot) would have to allow for a consignment not
yet profiled. In-line, a consignment is never stored without its profile.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from central import metrics
from central.risk import rulestore
from central.risk.engine import CompiledRules
from central.risk.facts import Assessment, ConsignmentFacts, History, Reason, TripFacts, Verdict
from central.risk.models import ElockState, RiskAssessment, RiskHistory
from central.risk.runtime import runtime
from central.risk.stats import AnomalyStats
from central.store import changes, fast
from central.store import models as m
from central.store.db import database_proxy, from_db, is_postgres, on_commit, to_db, write_transaction
from proto.rocars.v1 import common_pb2

log = logging.getLogger(__name__)

DIRECTION_NAMES: dict[int, str] = {common_pb2.IMPORT: "import", common_pb2.EXPORT: "export"}
# Consignments and trips still ahead of the boundary: the ones a rule change must re-score.
OPEN_CONSIGNMENT = (common_pb2.SUBMITTED, common_pb2.AMENDED, common_pb2.BUNDLED)
OPEN_TRIP = (common_pb2.TRIP_BUNDLED,)
# Typed Any: peewee's stubs know neither implicit ids nor .tuples() rows.
C: Any = m.Consignment
T: Any = m.Trip
CPM: Any = m.ControlPoint
RA: Any = RiskAssessment
RH: Any = RiskHistory
ES: Any = ElockState


def _aware(value: Any) -> datetime:
    out = from_db(value)
    assert out is not None
    return out


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class Preloaded:
    """Everything per-company/driver/lock a batch re-score needs, read once."""

    company_created: dict[int, list[datetime]] = field(default_factory=dict)
    history: dict[tuple[str, int], History] = field(default_factory=dict)
    elock: dict[str, str] = field(default_factory=dict)
    cp_codes: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Preloaded:
        p = cls()
        created: dict[int, list[datetime]] = defaultdict(list)
        for company_id, created_at in C.select(C.company, C.created_at).tuples().iterator():
            created[company_id].append(created_at)
        for values in created.values():
            values.sort()
        p.company_created = dict(created)
        for subject, sid, hits, clean in RH.select(RH.subject, RH.subject_id, RH.hits, RH.clean).tuples():
            p.history[(subject, sid)] = History(hits, clean)
        p.elock = {
            lock: effective_elock(state, breach)
            for lock, state, breach in ES.select(ES.elock_id, ES.state, ES.breach).tuples()
        }
        p.cp_codes = dict(CPM.select(CPM.id, CPM.code).tuples())
        return p


def effective_elock(state: str, breach: str) -> str:
    return breach or state


def history_of(subject: str, subject_id: int, pre: Preloaded | None = None) -> History:
    if pre is not None:
        return pre.history.get((subject, subject_id), History())
    row = fast.select_one(RiskHistory, ("hits", "clean"), {"subject": subject, "subject_id": subject_id})
    return History(int(row[0]), int(row[1])) if row else History()


def _cp_code(cp_id: int, pre: Preloaded | None) -> str:
    if pre is not None and cp_id in pre.cp_codes:
        return pre.cp_codes[cp_id]
    row = fast.select_one(m.ControlPoint, ("code",), {"id": cp_id})
    if row is None:
        raise LookupError(f"control point {cp_id} does not exist")
    return str(row[0])


def _consignment_cp_code(c: m.Consignment, pre: Preloaded | None) -> str:
    # The core hands over the row with its control point attached (submission, amendment):
    # use it rather than read it again.
    cp_id = int(c.control_point_id)  # type: ignore[attr-defined]
    loaded = c.__rel__.get("control_point")  # type: ignore[attr-defined]
    if loaded is not None and loaded.id == cp_id:
        return str(loaded.code)
    return _cp_code(cp_id, pre)


def _company_seen(company_id: int, created_at: Any, cap: int | None) -> int:
    """Consignments the company filed before ``created_at``; with ``cap``, counted only up
    to it (an exact count of a big shipper's history would grow with every submission)."""
    if cap == 0:
        return 0

    def build(db: Any) -> str:
        inner = (
            f'SELECT 1 FROM "{C._meta.table_name}" '
            f'WHERE "company_id" = {db.param} AND "created_at" < {db.param}'
        )
        return f"SELECT COUNT(*) FROM ({inner} LIMIT {db.param}) AS earlier"

    sql = fast.statement("risk.company_seen", build)
    limit = cap if cap is not None else 2**62
    params = (company_id, C.created_at.db_value(created_at), limit)
    row = database_proxy.obj.execute_sql(sql, params).fetchone()
    return int(row[0]) if row else 0


def consignment_facts(
    c: m.Consignment, pre: Preloaded | None = None, engine: CompiledRules | None = None
) -> ConsignmentFacts:
    """Facts of one consignment. With ``engine``, only what its rules read is fetched (the
    earlier-consignment count capped at its largest new-shipper threshold, company
    history only under a company history rule): the verdict is the same, for less reading."""
    company_id = int(c.company_id)  # type: ignore[attr-defined]
    if pre is not None:
        seen = bisect.bisect_left(pre.company_created.get(company_id, []), c.created_at)
    else:
        seen = _company_seen(company_id, c.created_at, engine.company_seen_cap if engine else None)
    if pre is None and engine is not None and not engine.needs_company_history:
        company_history = History()
    else:
        company_history = history_of("company", company_id, pre)
    elock = ""
    if c.transshipment and c.elock_id:
        if pre is not None:
            elock = pre.elock.get(c.elock_id, "")
        else:
            found = fast.select_one(ElockState, ("state", "breach"), {"elock_id": c.elock_id})
            elock = effective_elock(str(found[0]), str(found[1])) if found else ""
    return ConsignmentFacts(
        ccrn=c.ccrn,
        company_id=company_id,
        control_point=_consignment_cp_code(c, pre),
        direction=DIRECTION_NAMES.get(c.direction, ""),
        expected_at=_aware(c.expected_at),
        packages=int(c.packages_count),
        packages_description=c.package_description,
        articles_description=c.article_description,
        consignor_name=c.consignor_name,
        consignor_address=c.consignor_address,
        consignee_name=c.consignee_name,
        consignee_address=c.consignee_address,
        hs_code=c.hs_code or "",
        declared_value=_num(c.declared_value),
        gross_weight_kg=_num(c.gross_weight_kg),
        amended_at=_aware(c.updated_at) if c.version > 1 else None,
        company_seen=seen,
        company_history=company_history,
        transshipment=bool(c.transshipment),
        elock_state=elock,
    )


def build_stats() -> AnomalyStats:
    """Anomaly statistics over every consignment that declared a value or a weight."""
    stats = AnomalyStats()
    rows = C.select(C.company, C.hs_code, C.declared_value, C.gross_weight_kg).where(
        C.declared_value.is_null(False) | C.gross_weight_kg.is_null(False)
    )
    for company_id, hs, value, weight in rows.tuples().iterator():
        stats.add(
            ConsignmentFacts(
                ccrn="",
                company_id=company_id,
                control_point="",
                direction="",
                expected_at=datetime.min,
                hs_code=hs or "",
                declared_value=_num(value),
                gross_weight_kg=_num(weight),
            )
        )
    return stats


def reason_text(r: dict[str, Any]) -> str:
    sign = "+" if int(r["points"]) >= 0 else ""
    head = f"{r['rule_id']} {r['field']}={r['value']} {sign}{r['points']}"
    return f"{head}: {r['detail']}" if r.get("detail") else head


def _store(
    subject: str,
    reference: str,
    cp: str,
    direction: int,
    expected_at: datetime,
    a: Assessment,
    basis: str,
    now: datetime,
    extra: dict[str, Any],
    row: RiskAssessment | None = None,
    *,
    lookup: bool = True,
    sink: Sink | None = None,
) -> RiskAssessment:
    if row is None and lookup:
        row = _stored(subject, reference)
    reasons = a.reasons_as_dicts()
    reasons_json = json.dumps(reasons, sort_keys=True, ensure_ascii=False)
    if row is None:
        fields: dict[str, Any] = dict(
            subject=subject,
            reference=reference,
            control_point=cp,
            direction=direction,
            expected_at=to_db(expected_at),
            verdict=int(a.verdict),
            effective=int(a.verdict),
            score=a.score,
            reasons=reasons_json,
            rule_set_version=a.rule_set_version,
            basis=basis,
            assessed_at=to_db(now),
        )
        if sink is not None:
            row = RiskAssessment(**fields)
            sink.new.append(fields)
            sink.emits.append((row, reasons, extra))
            return row
        fields.update(_NO_OVERRIDE)
        new_id = fast.insert_or_ignore_returning_id(RiskAssessment, fields)
        if new_id is None:
            # Profiled already after all (a caller that skipped the look-up was wrong):
            # fall through to the update path rather than lose this profile.
            row = _stored(subject, reference)
            assert row is not None
            return _store(subject, reference, cp, direction, expected_at, a, basis, now, extra, row)
        row = fast.instance(RiskAssessment, {"id": new_id, **fields})
        _emit(row, reasons, extra, now)
        return row
    applies = row.override_verdict is not None and row.override_basis == basis
    effective = int(row.override_verdict or 0) if applies else int(a.verdict)
    old_rules = [r["rule_id"] for r in json.loads(row.reasons)]
    emit = effective != row.effective or old_rules != [r["rule_id"] for r in reasons]
    updates = {
        "control_point": cp,
        "direction": direction,
        "expected_at": to_db(expected_at),
        "verdict": int(a.verdict),
        "effective": effective,
        "score": a.score,
        "reasons": reasons_json,
        "rule_set_version": a.rule_set_version,
        "basis": basis,
    }
    dirty = {k: v for k, v in updates.items() if getattr(row, k) != v}
    if sink is not None and set(dirty) == {"rule_set_version"}:
        sink.version_only.append(int(row.id))  # type: ignore[attr-defined]
        row.rule_set_version = a.rule_set_version
        dirty = {}
    if dirty:
        dirty["assessed_at"] = to_db(now)
        for k, v in dirty.items():
            setattr(row, k, v)
        fast.update_by_id(RiskAssessment, int(row.id), dirty)  # type: ignore[attr-defined]
    if emit:
        if sink is not None:
            sink.emits.append((row, reasons, extra))
        else:
            _emit(row, reasons, extra, now)
    return row


_NO_OVERRIDE: dict[str, Any] = {
    "override_verdict": None,
    "override_reason": "",
    "override_by": "",
    "override_at": None,
    "override_basis": "",
}
# Every column: the row handed back may be saved by a caller, which writes all fields.
_RA_COLUMNS: tuple[str, ...] = tuple(RiskAssessment._meta.sorted_field_names)  # type: ignore[attr-defined]


def _stored(subject: str, reference: str) -> RiskAssessment | None:
    values = fast.select_fields(RiskAssessment, _RA_COLUMNS, {"subject": subject, "reference": reference})
    if values is None:
        return None
    # Built from a full row, so it is "saved": a later save() updates rather than inserts.
    row = RiskAssessment(**values)
    row._dirty.clear()  # type: ignore[attr-defined]
    return row


@dataclass
class Sink:
    """Writes of one re-score batch, made in bulk: most rows only move to the new rule-set
    version, and a first profile inserts many rows at once."""

    new: list[dict[str, Any]] = field(default_factory=list)
    version_only: list[int] = field(default_factory=list)
    emits: list[tuple[RiskAssessment, list[dict[str, Any]], dict[str, Any]]] = field(default_factory=list)

    def flush(self, version: int, now: datetime) -> None:
        for start in range(0, len(self.new), 100):
            RA.insert_many(self.new[start : start + 100]).execute()
        for start in range(0, len(self.version_only), 500):
            RA.update(rule_set_version=version).where(
                RA.id.in_(self.version_only[start : start + 500])
            ).execute()
        for row, reasons, extra in self.emits:
            _emit(row, reasons, extra, now)
        self.new.clear()
        self.version_only.clear()
        self.emits.clear()


def _emit(row: RiskAssessment, reasons: list[dict[str, Any]], extra: dict[str, Any], now: datetime) -> None:
    texts = [reason_text(r) for r in reasons]
    if row.override_verdict is not None and row.effective == row.override_verdict and row.override_reason:
        texts.append(f"override by {row.override_by}: {row.override_reason}")
    label = Verdict(row.effective).label
    payload: dict[str, Any] = {"verdict": label, "reasons": texts, **extra}
    on_commit(metrics.RISK_VERDICTS.labels(str(row.subject), label).inc)
    if row.subject == "trip":
        payload["scope"] = "trip"
    changes.record_change(
        changes.ChangeKind.VERDICT_CHANGED, row.control_point, row.direction, row.reference, payload, now=now
    )


def _context() -> tuple[CompiledRules, AnomalyStats, datetime]:
    rt = runtime()
    return rt.compiled(rulestore.current_version()), rt.stats(), rt.clock.now()


def profile_consignment(
    c: m.Consignment,
    pre: Preloaded | None = None,
    ctx: tuple[CompiledRules, AnomalyStats, datetime] | None = None,
    row: RiskAssessment | None = None,
    lookup: bool = True,
    sink: Sink | None = None,
) -> RiskAssessment:
    """Score one consignment and keep the result (call inside the writer's transaction)."""
    engine, stats, now = ctx or _context()
    f = consignment_facts(c, pre, engine)
    a = engine.assess_consignment(f, stats)
    extra: dict[str, Any] = {}
    if f.transshipment:
        extra["elock_state"] = (f.elock_state or "no_report")[:16]
    trip_id = c.trip_id  # type: ignore[attr-defined]
    if trip_id:
        found = fast.select_one(m.Trip, ("reference",), {"id": trip_id})
        extra["trip"] = found[0] if found else None
    return _store(
        "consignment",
        c.ccrn,
        f.control_point,
        int(c.direction),
        f.expected_at,
        a,
        f"v{c.version}",
        now,
        extra,
        row,
        lookup=lookup,
        sink=sink,
    )


def _trip_basis(t: m.Trip, plate: str, doc: str, ccrns: Iterable[tuple[str, int]]) -> str:
    text = "|".join(
        [
            plate,
            doc,
            str(t.direction),
            str(t.control_point_id),  # type: ignore[attr-defined]
            *sorted(f"{c}:{v}" for c, v in ccrns),
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def profile_trip(
    t: m.Trip, pre: Preloaded | None = None, ctx: tuple[CompiledRules, AnomalyStats, datetime] | None = None
) -> RiskAssessment:
    """Score a trip: strictest of its consignments (as lanes see them), driver, vehicle, draw."""
    engine, stats, now = ctx or _context()
    if is_postgres():
        # Two writers amending two consignments of one trip must not each judge the trip on
        # the other's old data: the second waits for the first and then reads its commit.
        list(_locked(T.select(T.id).where(T.id == t.id)))
    consignments = list(C.select().where((C.trip == t.id) & (C.status != common_pb2.CANCELLED)))  # type: ignore[attr-defined]
    refs = [c.ccrn for c in consignments]
    stored = (
        {
            r.reference: r
            for r in RiskAssessment.select().where(
                (RiskAssessment.subject == "consignment") & RiskAssessment.reference.in_(refs)
            )
        }
        if refs
        else {}
    )
    pairs: list[tuple[str, Assessment]] = []
    for c in consignments:
        row = stored.get(c.ccrn)
        if row is None or row.rule_set_version != engine.version or row.basis != f"v{c.version}":
            row = profile_consignment(c, pre, (engine, stats, now), row, lookup=False)
        pairs.append((c.ccrn, Assessment(Verdict(int(row.effective)), row.score, (), row.rule_set_version)))
    plate, doc = (
        m.Vehicle.select(m.Vehicle.registration_mark).where(m.Vehicle.id == t.vehicle_id).scalar(),  # type: ignore[attr-defined]
        m.Driver.select(m.Driver.document_number).where(m.Driver.id == t.driver_id).scalar(),  # type: ignore[attr-defined]
    )
    cp = _cp_code(t.control_point_id, pre)  # type: ignore[attr-defined]
    facts = TripFacts(
        trip_id=t.reference,
        control_point=cp,
        direction=DIRECTION_NAMES.get(t.direction, ""),
        expected_at=_aware(t.expected_arrival),
        vehicle_plate=plate or "",
        driver_id=doc or "",
        driver_history=history_of("driver", int(t.driver_id), pre),  # type: ignore[attr-defined]
    )
    a = engine.assess_trip(facts, pairs)
    basis = _trip_basis(t, facts.vehicle_plate, facts.driver_id, ((c.ccrn, c.version) for c in consignments))
    return _store("trip", t.reference, cp, int(t.direction), facts.expected_at, a, basis, now, {})


def _locked(query: Any) -> Any:
    """Row locks on PostgreSQL (SQLite's writer already excludes every other writer)."""
    return query.for_update() if is_postgres() else query


@dataclass(frozen=True)
class RescoreResult:
    version: int
    consignments: int
    trips: int
    changed: int
    seconds: float


def rescore_open(*, batch: int = 500, force: bool = False) -> RescoreResult:
    """Re-score every open consignment and trip not yet scored by the current rule set.

    Batches commit separately so a long re-score never holds the write lock for long; it is
    idempotent (rows already on the current version are skipped unless ``force``), so an
    interrupted run is finished by the next one (the server runs one at start-up).
    """
    import time

    started = time.monotonic()
    rt = runtime()
    version = rulestore.current_version()
    engine = rt.compiled(version)
    stats = rt.stats(refresh=force)  # cached up to stats_max_age_s; a forced re-score refreshes
    pre = Preloaded.load()
    head_before = changes.head()
    n_c = n_t = 0
    last = 0
    while True:
        with write_transaction():
            # Read the batch inside the writer's transaction (locked on PostgreSQL) so a
            # concurrent amendment is either before it or after it, never overwritten with
            # stale facts; stop if a newer rule change arrived (its own re-score takes over).
            if rulestore.current_version() != version:
                break
            rows = list(
                _locked(
                    C.select()
                    .where((C.id > last) & C.status.in_(OPEN_CONSIGNMENT))
                    .order_by(C.id)
                    .limit(batch)
                )
            )
            if not rows:
                break
            last = rows[-1].id
            stored = {
                r.reference: r
                for r in RA.select().where(
                    (RA.subject == "consignment") & RA.reference.in_([c.ccrn for c in rows])
                )
            }
            ctx = (engine, stats, rt.clock.now())
            sink = Sink()
            for c in rows:
                row = stored.get(c.ccrn)
                if force or row is None or row.rule_set_version != version:
                    profile_consignment(c, pre, ctx, row, lookup=False, sink=sink)
                    n_c += 1
            sink.flush(version, ctx[2])
    last = 0
    while True:
        with write_transaction():
            if rulestore.current_version() != version:
                break
            trips = list(
                _locked(T.select().where((T.id > last) & T.status.in_(OPEN_TRIP)).order_by(T.id).limit(batch))
            )
            if not trips:
                break
            last = trips[-1].id
            ctx = (engine, stats, rt.clock.now())
            for t in trips:
                profile_trip(t, pre, ctx)
                n_t += 1
    changed = changes.head() - head_before
    return RescoreResult(version, n_c, n_t, changed, time.monotonic() - started)


def assessment_reasons(row: RiskAssessment) -> list[Reason]:
    return [Reason.from_dict(r) for r in json.loads(row.reasons)]
