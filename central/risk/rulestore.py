"""Storing rule-set versions: a change is validated whole, then committed whole, or not at all.

Every change (put, retire, thresholds, watch-list edit) goes through ``change``: it loads
the set in force, applies the edits to a copy, validates and compiles the result (regexes
included), and only then writes the new version, the rule revisions and the audit entry
in one transaction. Any failure on the way raises before or inside that transaction, so
the old set stays in force untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import peewee

from central.risk import audit
from central.risk.engine import CompiledRules
from central.risk.errors import Conflict, NotFound, RuleValidationError
from central.risk.facts import Verdict
from central.risk.models import RiskRule, RiskRuleSet
from central.risk.rules import RuleSet, RuleSpec, Thresholds
from central.services.errors import FieldViolation, ValidationError
from central.store import changes, fast
from central.store.db import database_proxy, from_db, is_postgres, to_db, write_transaction

RULES_LOCK = 0x524F43415253_5253  # "ROCARS" + "RS": serialises rule-set writers on PostgreSQL


def current_version() -> int:
    # Read on every profiling (a rule change by another process or replica must take effect
    # at once), so the statement is built once rather than per call (central.store.fast).
    sql = fast.statement(
        "risk.current_version", lambda db: f'SELECT MAX("version") FROM "{RiskRuleSet._meta.table_name}"'
    )
    row = database_proxy.obj.execute_sql(sql).fetchone()
    return int(row[0] or 0) if row else 0


def load(version: int) -> RuleSet:
    """The rule set in force at ``version`` (version 0: no rules, default thresholds)."""
    if version <= 0:
        return RuleSet((), Thresholds(), 0)
    header = RiskRuleSet.get_or_none(RiskRuleSet.version == version)
    if header is None:
        raise NotFound(f"rule set version {version} does not exist")
    rows: Any = (
        RiskRule.select(RiskRule.definition)
        .where(
            (RiskRule.added_in <= version) & (RiskRule.retired_in.is_null() | (RiskRule.retired_in > version))
        )
        .order_by(RiskRule.rule_id)
        .tuples()
    )
    specs = tuple(RuleSpec.from_dict(json.loads(d)) for (d,) in rows)
    t = json.loads(header.thresholds)
    return RuleSet(specs, Thresholds(int(t["inspect_at"]), int(t["hold_at"])), version)


@dataclass
class RuleChange:
    """One atomic edit of the rule set."""

    put: Sequence[Mapping[str, Any]] = field(default_factory=list)  # new or replaced rules (dicts)
    retire: Sequence[str] = field(default_factory=list)  # rule ids to take out of force
    thresholds: Thresholds | None = None
    comment: str = ""
    expected_version: int = 0  # 0: do not check; else refuse if the set moved on


@dataclass(frozen=True)
class RuleInfo:
    spec: RuleSpec
    revision: int
    added_in: int
    created_at: datetime
    created_by: str


def rule_history(rule_id: str) -> list[RuleInfo]:
    rows = RiskRule.select().where(RiskRule.rule_id == rule_id).order_by(RiskRule.revision)
    return [_info(r) for r in rows]


def current_rules() -> list[RuleInfo]:
    rows = RiskRule.select().where(RiskRule.retired_in.is_null()).order_by(RiskRule.rule_id)
    return [_info(r) for r in rows]


def _info(r: RiskRule) -> RuleInfo:
    created = from_db(r.created_at)
    assert created is not None
    return RuleInfo(
        RuleSpec.from_dict(json.loads(r.definition)), r.revision, r.added_in, created, r.created_by
    )


def change(edit: RuleChange, officer: str, now: datetime, selection_key: bytes, audit_key: bytes) -> int:
    """Apply ``edit`` as one new rule-set version; returns the version number."""
    if not edit.put and not edit.retire and edit.thresholds is None:
        raise ValidationError(
            [FieldViolation("put_json", "nothing to change: give rules to put or retire, or thresholds")]
        )
    with write_transaction():
        db = database_proxy.obj
        if is_postgres(db):
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (RULES_LOCK,))
        base_version = current_version()
        if edit.expected_version and edit.expected_version != base_version:
            raise Conflict(
                f"rule set is at version {base_version}, not {edit.expected_version}: re-read and retry"
            )
        base = load(base_version)
        by_id = {r.id: r for r in base.rules}
        new_specs: list[RuleSpec] = []
        for i, data in enumerate(edit.put):
            try:
                spec = RuleSpec.from_dict(data)
            except RuleValidationError as exc:
                if len(edit.put) > 1:
                    exc.violations[0] = type(exc.violations[0])(
                        f"rules[{i}].{exc.field}", exc.violations[0].rule
                    )
                raise
            new_specs.append(spec)
        put_ids = [s.id for s in new_specs]
        if len(set(put_ids)) != len(put_ids):
            raise RuleValidationError("", "id", "unique", "the same rule id appears twice in one change")
        for rid in edit.retire:
            if rid not in by_id:
                raise NotFound(f"rule {rid!r} is not in force")
            if rid in put_ids:
                raise RuleValidationError(
                    rid, "id", "conflict", "a rule cannot be put and retired in one change"
                )
        merged = {**by_id, **{s.id: s for s in new_specs}}
        for rid in edit.retire:
            merged.pop(rid)
        thresholds = edit.thresholds or base.thresholds
        candidate = RuleSet(tuple(sorted(merged.values(), key=lambda s: s.id)), thresholds, base_version + 1)
        CompiledRules(candidate, selection_key)  # compiles every regex: fails here, not in production

        header = RiskRuleSet.create(
            created_at=to_db(now),
            created_by=officer,
            comment=edit.comment[:300],
            thresholds=json.dumps({"inspect_at": thresholds.inspect_at, "hold_at": thresholds.hold_at}),
        )
        version = int(header.version)
        changed = [*edit.retire, *(s.id for s in new_specs if s.id in by_id)]
        if changed:
            RiskRule.update(retired_in=version).where(
                RiskRule.rule_id.in_(changed) & RiskRule.retired_in.is_null()
            ).execute()
        for spec in new_specs:
            last = (
                RiskRule.select(peewee.fn.MAX(RiskRule.revision)).where(RiskRule.rule_id == spec.id).scalar()
            )
            RiskRule.create(
                rule_id=spec.id,
                revision=int(last or 0) + 1,
                definition=json.dumps(spec.to_dict(), sort_keys=True),
                added_in=version,
                created_at=to_db(now),
                created_by=officer,
            )
        details: dict[str, Any] = {"version": version, "comment": edit.comment}
        if new_specs:
            details["put"] = [s.to_dict() for s in new_specs]
        if edit.retire:
            details["retire"] = list(edit.retire)
        if edit.thresholds:
            details["thresholds"] = {"inspect_at": thresholds.inspect_at, "hold_at": thresholds.hold_at}
        subject = ",".join([*put_ids, *edit.retire])[:100] or "thresholds"
        # Audit before the change log: every writer takes the audit lock before the change-log
        # lock (PostgreSQL advisory locks), so two writers can never wait on each other.
        audit.append(audit_key, officer, "rules.change", subject, details, now)
        _watchlist_changes(by_id, new_specs, edit.retire, now)
        return version


# Watch lists a lane can act on by itself (it knows the vehicle, the driver and, through the
# trip, the companies): their entries travel to lanes as watchlist_hit changes.
LANE_WATCH_FIELDS = ("vehicle", "driver", "company")


def _watchlist_changes(
    base: dict[str, RuleSpec], put: list[RuleSpec], retire: Sequence[str], now: datetime
) -> None:
    for spec in [*put, *(base[r] for r in retire)]:
        if spec.kind != "watchlist" or spec.params["field"] not in LANE_WATCH_FIELDS:
            continue
        old = base.get(spec.id)
        before = (
            set(old.params["entries"]) if old and old.kind == "watchlist" and old.active_at(now) else set()
        )
        after = set(spec.params["entries"]) if spec.id not in retire and spec.enabled else set()
        action = "refer" if spec.verdict == Verdict.HOLD else "inspect"
        for value, removed in [
            *((v, False) for v in sorted(after - before)),
            *((v, True) for v in sorted(before - after)),
        ]:
            payload: dict[str, Any] = {
                "subject": spec.params["field"],
                "value": value,
                "reason": spec.description or spec.id,
                "action": action,
            }
            if removed:
                payload["removed"] = True
            changes.record_change(
                changes.ChangeKind.WATCHLIST_HIT, None, None, f"{spec.id}:{value}"[:64], payload, now=now
            )


def watchlist_edit(rule_id: str, add: Iterable[str], remove: Iterable[str]) -> dict[str, Any]:
    """The definition of watch-list rule ``rule_id`` with entries added/removed (not stored)."""
    base = load(current_version())
    spec = base.by_id(rule_id)
    if spec is None:
        raise NotFound(f"rule {rule_id!r} is not in force")
    if spec.kind != "watchlist":
        raise RuleValidationError(
            rule_id, "kind", "watchlist", f"rule {rule_id} is a {spec.kind} rule, not a watch list"
        )
    data = spec.to_dict()
    add_norm = _normalised(spec, add)
    remove_norm = _normalised(spec, remove)
    entries = (set(spec.params["entries"]) | add_norm) - remove_norm
    data["params"]["entries"] = sorted(entries)
    return data


def _normalised(spec: RuleSpec, values: Iterable[str]) -> set[str]:
    items = list(values)
    if not items:
        return set()
    data = spec.to_dict()
    data["params"]["entries"] = items
    return set(RuleSpec.from_dict(data).params["entries"])
