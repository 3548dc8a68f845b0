"""Electronic locks of transshipment consignments: events in, lock state out.

A transshipment consignment is cleared once, at its air or sea end. At the land boundary
it is ``clear`` while its lock reports sealed and on route, and ``inspect`` the moment it
does not (central.risk.engine). Events fold into a state as follows:

* ``state`` is the kind of the latest event by the time it happened (a late-delivered old
  event does not overwrite a newer one);
* the first breach (opened, tampered, off route) is latched in ``breach`` whatever order
  events arrive in: a lock that was opened may have been re-sealed over a changed load, so
  only an officer (an override, recorded in the audit log) can clear the consignment again;
* the effective state is the breach if any, else the state.

Events are idempotent by (gateway, event id): a gateway retrying a delivery changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from central.risk import profiling
from central.risk.errors import NotFound
from central.risk.models import ElockEvent, ElockState, RiskAssessment
from central.risk.runtime import runtime
from central.services.errors import Violations
from central.store import models as m
from central.store.db import from_db, to_db, write_transaction

EVENTS = ("sealed", "opened", "tampered", "off_route", "arrived")
BREACHES = frozenset({"opened", "tampered", "off_route"})
MAX_CLOCK_SKEW = timedelta(minutes=5)
C: Any = m.Consignment
T: Any = m.Trip
ES: Any = ElockState
EE: Any = ElockEvent
RA: Any = RiskAssessment


@dataclass(frozen=True, slots=True)
class LockState:
    state: str = ""
    breach: str = ""
    last_event_at: datetime | None = None

    @property
    def effective(self) -> str:
        return self.breach or self.state


def fold(s: LockState, kind: str, at: datetime) -> LockState:
    """The pure transition: one event applied to a state."""
    if kind not in EVENTS:
        raise ValueError(f"unknown e-lock event {kind!r}")
    breach = s.breach or (kind if kind in BREACHES else "")
    if s.last_event_at is None or at >= s.last_event_at:
        return LockState(kind, breach, at)
    return LockState(s.state, breach, s.last_event_at)


@dataclass(frozen=True)
class EventResult:
    ccrn: str
    state: LockState
    duplicate: bool
    verdict: int  # effective consignment verdict after the event (proto Verdict)


def report_event(
    gateway: str,
    event_id: str,
    elock_id: str,
    kind: str,
    occurred_at: datetime | None,
    latitude: float | None = None,
    longitude: float | None = None,
    detail: str = "",
) -> EventResult:
    rt = runtime()
    now = rt.clock.now()
    v = Violations()
    event_id, elock_id, kind = event_id.strip(), elock_id.strip().upper(), kind.strip().lower()
    if not event_id or len(event_id) > 64:
        v.add("event_id", "is required, at most 64 characters (the gateway's id, for idempotency)")
    if not elock_id or len(elock_id) > 32:
        v.add("elock_id", "is required, at most 32 characters")
    if kind not in EVENTS:
        v.add("kind", f"must be one of {', '.join(EVENTS)}")
    if occurred_at is None:
        v.add("occurred_at", "is required")
    elif occurred_at > now + MAX_CLOCK_SKEW:
        v.add("occurred_at", "must not be in the future (gateway clock skew above 5 minutes)")
    if latitude is not None and not -90 <= latitude <= 90:
        v.add("latitude", "must be between -90 and 90")
    if longitude is not None and not -180 <= longitude <= 180:
        v.add("longitude", "must be between -180 and 180")
    if len(detail) > 300:
        v.add("detail", "must be at most 300 characters")
    v.raise_if_any()
    assert occurred_at is not None
    with write_transaction():
        existing = ES.get_or_none(ES.elock_id == elock_id)
        if EE.get_or_none((EE.gateway == gateway) & (EE.event_id == event_id)) is not None and existing:
            return EventResult(existing.ccrn, _state(existing), True, _verdict(existing.ccrn))
        c = (
            C.select()
            .where((C.elock_id == elock_id) & (C.transshipment == True))  # noqa: E712
            .order_by(C.id.desc())
            .first()
        )
        if c is None:
            raise NotFound(f"no transshipment consignment carries e-lock {elock_id!r}")
        EE.create(
            gateway=gateway,
            event_id=event_id,
            elock_id=elock_id,
            kind=kind,
            occurred_at=to_db(occurred_at),
            received_at=to_db(now),
            latitude=latitude,
            longitude=longitude,
            detail=detail,
        )
        before = _state(existing) if existing else LockState()
        after = fold(before, kind, occurred_at)
        if existing is None:
            ES.create(
                elock_id=elock_id,
                ccrn=c.ccrn,
                state=after.state,
                breach=after.breach,
                last_event_at=to_db(after.last_event_at) if after.last_event_at else None,
                updated_at=to_db(now),
            )
        else:
            ES.update(
                ccrn=c.ccrn,
                state=after.state,
                breach=after.breach,
                last_event_at=to_db(after.last_event_at) if after.last_event_at else None,
                updated_at=to_db(now),
            ).where(ES.id == existing.id).execute()
        if after.effective != before.effective:
            profiling.profile_consignment(c)
            if c.trip_id:
                profiling.profile_trip(T.get_by_id(c.trip_id))
        return EventResult(c.ccrn, after, False, _verdict(c.ccrn))


def _state(row: ElockState) -> LockState:
    return LockState(row.state, row.breach, from_db(row.last_event_at))


def _verdict(ccrn: str) -> int:
    row = RA.get_or_none((RA.subject == "consignment") & (RA.reference == ccrn))
    return int(row.effective) if row else 0


def lock_status(elock_id: str) -> tuple[ElockState, list[ElockEvent]]:
    row = ES.get_or_none(ES.elock_id == elock_id.strip().upper())
    if row is None:
        raise NotFound(f"e-lock {elock_id!r} has not reported")
    events = list(EE.select().where(EE.elock_id == row.elock_id).order_by(EE.occurred_at, EE.id))
    return row, events
