"""The change log: what lanes must learn, in an order that never skips a committed change.

Every writer that changes something a lane needs calls :func:`record_change` *inside its
own transaction*, so the change and its log row commit (or roll back) together::

    with write_transaction():
        trip.save()
        record_change("trip_bundled", "LMC", Direction.IMPORT, trip.reference, {...})

The sync feed reads rows with ``id > cursor`` in ``id`` order and a lane stores the last
``id`` it applied as its cursor.

Why the cursor holds when transactions commit out of order
-----------------------------------------------------------
The classic trap: writer A takes id 10, writer B takes id 11 and commits first; a reader
sees 11, advances its cursor past 10, and loses A's change when A commits a moment later.
The fix here is to make *id allocation order equal commit order*:

* PostgreSQL: :func:`record_change` first takes ``pg_advisory_xact_lock(CHANGE_LOG_LOCK)``.
  The lock is held until the writer's transaction ends, and PostgreSQL makes a commit
  visible before it releases transaction locks, so the next writer can only allocate its
  id after every lower id is committed or rolled back. The id comes from the ``BIGSERIAL``
  sequence (``CACHE 1``, the default: a per-session cache would hand out ids out of
  order across sessions and must never be set). The lock lives in the database, so it
  holds across any number of central replicas sharing it. Writers serialise only from
  their first ``record_change`` to their commit; call it late in the transaction
  (deadlocks against row locks are detected by PostgreSQL and surface as a retryable
  error, never as a skipped change).
* SQLite: one writer at a time holds the database's write lock from its first write to
  its commit (central writers begin ``IMMEDIATE``), so the rowid allocated on insert is
  already in commit order. The newest row is never pruned, so a rowid is never reused.

A rolled-back writer leaves a gap in the ids; gaps are harmless because readers never
wait for an id, they only read what is committed above their cursor.

The cursor a lane holds is opaque text built by :mod:`central.sync.cursor`; it carries the
log's *epoch* (a random value created with the log), so a lane that comes back to a
rebuilt database with lower ids gets a fresh snapshot instead of silently missing
changes. Rows older than the retention are pruned (:func:`prune`); a cursor below the
pruned watermark also gets a snapshot. On a PostgreSQL standby promoted after
*asynchronous* replication the newest changes a lane saw may be lost and their ids
reused; production therefore runs the standby synchronously (see the README).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import peewee

from central.store import fast
from central.store.db import database_proxy, is_postgres, to_db
from central.store.models import BaseModel, register_models

# Arbitrary constant shared by every writer of the change log (the ASCII of "ROCARSCL").
CHANGE_LOG_LOCK = 0x524F434152534C


class ChangeKind:
    """Kinds of change a lane acts on; the payload of each is documented in DOC below."""

    TRIP_BUNDLED = "trip_bundled"
    TRIP_CHANGED = "trip_changed"
    TRIP_UNBUNDLED = "trip_unbundled"
    VERDICT_CHANGED = "verdict_changed"
    VEHICLE_CHANGED = "vehicle_changed"
    DRIVER_CHANGED = "driver_changed"
    WATCHLIST_HIT = "watchlist_hit"
    LANE_CONFIG = "lane_config"
    # Crossing status reported back by a lane (so the other lanes of the control point
    # learn a trip has crossed and must not be released twice).
    TRIP_CROSSED = "trip_crossed"


KINDS: frozenset[str] = frozenset(
    v for k, v in vars(ChangeKind).items() if not k.startswith("_") and isinstance(v, str)
)

# What entity_id and payload are, by kind (the feed re-reads the current state of trips,
# vehicles and drivers when it sends them, so their payloads may be empty):
#   trip_*            entity_id = trip reference
#   vehicle_changed   entity_id = registration mark (or the vehicle's row id)
#   driver_changed    entity_id = document number (or the driver's row id)
#   verdict_changed   entity_id = CCRN, or the trip reference with payload "scope": "trip";
#                     payload {"verdict": "clear"|"inspect"|"hold" (or the proto number),
#                     "reasons": ["R12 keyword ...", ...], optional "trip": reference,
#                     optional "elock_state": "intact"|"tampered"|...}. The latest verdict
#                     per consignment/trip is also kept in LaneVerdict for snapshots.
#   watchlist_hit     entity_id = watch-list entry id; payload {"subject": "vehicle"|
#                     "driver"|"company", "value": ..., "reason": ..., "action": "refer"|
#                     "inspect", optional "removed": true}
#   lane_config       entity_id = lane code, or "*" for every lane of the control point;
#                     payload {"settings": {"name": "value", ...}}
# watchlist_hit and lane_config are compacted, not pruned: the newest row per entity is
# kept for ever, so a snapshot can rebuild them from the log itself.
COMPACTED_KINDS = frozenset({ChangeKind.WATCHLIST_HIT, ChangeKind.LANE_CONFIG})
_VERDICT_NAMES = {"clear": 1, "inspect": 2, "hold": 3}

_DIRECTION_NAMES = {"import": 1, "export": 2}


class ChangeLogError(RuntimeError):
    """The change log was used in a way that could lose or misorder a change."""


class Change(BaseModel):
    id = peewee.BigAutoField()
    recorded_at = peewee.DateTimeField()
    kind = peewee.CharField(max_length=32)
    control_point = peewee.CharField(max_length=8, null=True)  # None: every control point
    direction = peewee.SmallIntegerField(null=True)  # proto Direction; None: both
    entity_id = peewee.CharField(max_length=64)
    payload = peewee.TextField(default="{}")

    class Meta:
        table_name = "change_log"
        indexes = ((("control_point", "id"), False),)


class ChangeLogMeta(BaseModel):
    """Small key/value facts about the log: its epoch and the pruned watermark."""

    key = peewee.CharField(max_length=32, primary_key=True)
    value = peewee.CharField(max_length=64)

    class Meta:
        table_name = "change_log_meta"


class LaneVerdict(BaseModel):
    """The latest verdict recorded through the change log, per consignment and per trip,
    as lanes see it (written by :func:`record_change` in the writer's transaction)."""

    scope = peewee.CharField(max_length=12)  # "consignment" | "trip"
    key = peewee.CharField(max_length=32)  # CCRN or trip reference
    verdict = peewee.SmallIntegerField()  # proto Verdict
    reasons = peewee.TextField(default="[]")  # JSON list of text
    elock_state = peewee.CharField(max_length=16, default="")
    change_id = peewee.BigIntegerField()

    class Meta:
        table_name = "lane_verdict"
        indexes = ((("scope", "key"), True),)


register_models(Change, ChangeLogMeta, LaneVerdict)


def _verdict_number(value: object) -> int:
    if isinstance(value, str) and value.lower() in _VERDICT_NAMES:
        return _VERDICT_NAMES[value.lower()]
    if isinstance(value, int) and value in (1, 2, 3):
        return value
    raise ChangeLogError(f"change.payload.verdict: {value!r} is not clear, inspect or hold")


def _keep_verdict(change_id: int, entity_id: str, payload: Mapping[str, Any]) -> None:
    scope = "trip" if payload.get("scope") == "trip" else "consignment"
    verdict = _verdict_number(payload.get("verdict"))
    reasons = json.dumps([str(r) for r in payload.get("reasons", [])])
    elock = str(payload.get("elock_state", ""))[:16]
    # Pre-built statement (central.store.fast): on every submission's first profile the
    # ORM's query building cost more than SQLite's work.
    fast.upsert(
        LaneVerdict,
        {
            "scope": scope,
            "key": entity_id,
            "verdict": verdict,
            "reasons": reasons,
            "elock_state": elock,
            "change_id": change_id,
        },
        ("scope", "key"),
        ("verdict", "reasons", "elock_state", "change_id"),
    )


def _normalise_direction(direction: int | str | None) -> int | None:
    if direction is None or direction == 0:
        return None
    if isinstance(direction, str):
        if direction.lower() not in _DIRECTION_NAMES:
            raise ChangeLogError(f"change.direction: {direction!r} is not import or export")
        return _DIRECTION_NAMES[direction.lower()]
    value = int(direction)
    if value not in (1, 2):
        raise ChangeLogError(f"change.direction: {direction!r} is not IMPORT (1) or EXPORT (2)")
    return value


def _normalise_control_point(control_point: object) -> str | None:
    if control_point is None:
        return None
    code = getattr(control_point, "code", control_point)  # a ControlPoint row or its code
    if not isinstance(code, str) or not code:
        raise ChangeLogError(f"change.control_point: {control_point!r} is not a control point code")
    return code.upper()


def record_change(
    kind: str,
    control_point: object,
    direction: int | str | None,
    entity_id: str | int,
    payload: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Append one change inside the caller's transaction; returns its log id.

    ``control_point`` is a control point code (or ``ControlPoint`` row), or None for a
    change that concerns every control point (vehicles, drivers, watch lists).
    """
    if kind not in KINDS:
        raise ChangeLogError(f"change.kind: {kind!r} is not one of {sorted(KINDS)}")
    db = database_proxy.obj
    if db is None:
        raise ChangeLogError("change log: database not initialised")
    if not db.in_transaction():
        # Outside a transaction the change could commit without the data it describes
        # (or the reverse); refuse rather than risk a lane acting on a phantom.
        raise ChangeLogError("record_change must be called inside the writer's transaction")
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (CHANGE_LOG_LOCK,))
    if kind == ChangeKind.VERDICT_CHANGED:
        _verdict_number((payload or {}).get("verdict"))  # refuse before writing anything
    when = now if now is not None else datetime.now(UTC)
    change_id = fast.insert_returning_id(
        Change,
        {
            "recorded_at": to_db(when),
            "kind": kind,
            "control_point": _normalise_control_point(control_point),
            "direction": _normalise_direction(direction),
            "entity_id": str(entity_id),
            "payload": json.dumps(dict(payload or {}), separators=(",", ":"), sort_keys=True, default=str),
        },
    )
    if kind == ChangeKind.VERDICT_CHANGED:
        _keep_verdict(change_id, str(entity_id), payload or {})
    return change_id


@dataclass(frozen=True, slots=True)
class ChangeRow:
    id: int
    kind: str
    control_point: str | None
    direction: int | None
    entity_id: str
    payload: dict[str, Any]


def head() -> int:
    """The highest committed change id (0 for an empty log)."""
    return int(Change.select(peewee.fn.MAX(Change.id)).scalar() or 0)


def changes_after(cursor: int, control_point: str, direction: int, limit: int = 500) -> list[ChangeRow]:
    """Committed changes above ``cursor`` that concern this control point and direction
    (or every control point / both directions), oldest first."""
    query = (
        Change.select(
            Change.id, Change.kind, Change.control_point, Change.direction, Change.entity_id, Change.payload
        )
        .where(
            (Change.id > cursor)
            & ((Change.control_point == control_point.upper()) | Change.control_point.is_null())
            & ((Change.direction == direction) | Change.direction.is_null())
        )
        .order_by(Change.id)
        .limit(limit)
        .tuples()
    )
    rows = cast("list[tuple[Any, ...]]", list(query))  # .tuples() rows
    return [ChangeRow(int(i), k, cp, d, e, json.loads(p or "{}")) for i, k, cp, d, e, p in rows]


def _meta(key: str) -> str | None:
    row = ChangeLogMeta.get_or_none(ChangeLogMeta.key == key)
    return None if row is None else str(row.value)


def epoch() -> str:
    """The log's epoch, created on first use; changes only when the log is rebuilt."""
    value = _meta("epoch")
    if value is not None:
        return value
    db = database_proxy.obj
    with db.atomic():
        ChangeLogMeta.insert(key="epoch", value=secrets.token_hex(8)).on_conflict_ignore().execute()
    value = _meta("epoch")
    assert value is not None
    return value


def pruned_through() -> int:
    """Ids at or below this were pruned: a cursor below it needs a snapshot."""
    return int(_meta("pruned_through") or 0)


def prune(older_than: datetime) -> int:
    """Delete changes recorded before ``older_than`` (never the newest one, nor the newest
    of each compacted entity); returns how many. Lanes whose cursor falls below the new
    watermark get a snapshot."""
    db = database_proxy.obj
    with db.atomic():
        newest = head()
        cutoff = (
            Change.select(peewee.fn.MAX(Change.id))
            .where((Change.recorded_at < to_db(older_than)) & (Change.id < newest))
            .scalar()
        )
        if not cutoff:
            return 0
        newest_compacted = (
            Change.select(peewee.fn.MAX(Change.id))
            .where(Change.kind.in_(sorted(COMPACTED_KINDS)))
            .group_by(Change.kind, Change.control_point, Change.entity_id)
        )
        deleted = Change.delete().where((Change.id <= cutoff) & Change.id.not_in(newest_compacted)).execute()
        ChangeLogMeta.insert(key="pruned_through", value=str(cutoff)).on_conflict(
            conflict_target=[ChangeLogMeta.key], update={ChangeLogMeta.value: str(cutoff)}
        ).execute()
    return int(deleted)


def latest_compacted(control_point: str, direction: int, up_to: int) -> list[ChangeRow]:
    """The newest watch-list and lane-configuration row of each entity concerning this
    control point and direction, among ids <= ``up_to`` (for a snapshot)."""
    scope = (
        (Change.kind.in_(sorted(COMPACTED_KINDS)))
        & (Change.id <= up_to)
        & ((Change.control_point == control_point.upper()) | Change.control_point.is_null())
        & ((Change.direction == direction) | Change.direction.is_null())
    )
    newest = Change.select(peewee.fn.MAX(Change.id)).where(scope).group_by(Change.kind, Change.entity_id)
    query = (
        Change.select(
            Change.id, Change.kind, Change.control_point, Change.direction, Change.entity_id, Change.payload
        )
        .where(Change.id.in_(newest))
        .order_by(Change.id)
        .tuples()
    )
    rows = cast("list[tuple[Any, ...]]", list(query))
    return [ChangeRow(int(i), k, cp, d, e, json.loads(p or "{}")) for i, k, cp, d, e, p in rows]
