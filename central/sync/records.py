"""Reading what a lane needs from the core models, as sync protos.

Trips are always read in their *current* state when sent (a change row says "look at
trip X again", not "trip X became Y"), so a lane can never apply an older state over a
newer one, whatever order snapshot chunks, horizon sweeps and changes arrive in.
Queries select plain columns (``.tuples()``) rather than model instances: a 50,000-trip
snapshot must build far faster than 20,000 trips/s.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee
from google.protobuf.timestamp_pb2 import Timestamp

from central.store import models as m
from central.store.changes import LaneVerdict
from central.store.db import to_db
from proto.rocars.v1 import common_pb2, sync_pb2

# Typed Any: peewee's stubs know neither implicit ids nor .tuples() rows.
T: Any = m.Trip
V: Any = m.Vehicle
D: Any = m.Driver
CP: Any = m.ControlPoint
C: Any = m.Consignment
LV: Any = LaneVerdict
CHUNK_TRIPS = 1000


def stamp(when: datetime | None) -> Timestamp:
    if when is None:
        return Timestamp()
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    return Timestamp(seconds=calendar.timegm(when.utctimetuple()), nanos=when.microsecond * 1000)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which trips a lane holds: its control point and direction, bundled, with a slot
    starting before ``horizon`` and ending after ``late_from`` (late trucks still come)."""

    control_point: str
    direction: int
    horizon: datetime  # aware UTC
    late_from: datetime  # aware UTC


_TRIP_COLUMNS = (
    T.id,
    T.reference,
    V.registration_mark,
    V.tag_epc,
    V.mainland_plate,
    V.active,
    D.document_number,
    D.card_number,
    D.name,
    D.active,
    CP.code,
    T.direction,
    T.slot_start,
    T.slot_end,
    T.expected_arrival,
    T.status,
    T.empty,
)


def _trip_query(where: Any) -> Any:
    return (
        T.select(*_TRIP_COLUMNS)
        .join(V, on=(T.vehicle == V.id))
        .switch(T)
        .join(D, on=(T.driver == D.id))
        .switch(T)
        .join(CP, on=(T.control_point == CP.id))
        .where(where)
        .order_by(T.id)
        .tuples()
    )


def _scope_where(scope: Scope) -> Any:
    return (
        (CP.code == scope.control_point)
        & (T.direction == scope.direction)
        & (T.status == common_pb2.TRIP_BUNDLED)
        & (T.slot_start <= to_db(scope.horizon))
        & (T.slot_end >= to_db(scope.late_from))
    )


CV: Any = LaneVerdict.alias("cv")
TV: Any = LaneVerdict.alias("tv")
_FLAT_COLUMNS = (
    *_TRIP_COLUMNS,
    C.ccrn,
    C.status,
    C.transshipment,
    C.elock_id,
    CV.verdict,
    CV.reasons,
    CV.elock_state,
    TV.verdict,
    TV.reasons,
    TV.elock_state,
)
_NO_REASONS = ("", "[]", None)


def _flat_query(where: Any) -> Any:
    """One row per (trip, consignment) with the verdicts joined in: a single query per
    snapshot instead of one per chunk and table."""
    return (
        T.select(*_FLAT_COLUMNS)
        .join(V, on=(T.vehicle == V.id))
        .switch(T)
        .join(D, on=(T.driver == D.id))
        .switch(T)
        .join(CP, on=(T.control_point == CP.id))
        .switch(T)
        .join(C, peewee.JOIN.LEFT_OUTER, on=(C.trip == T.id))
        .join(CV, peewee.JOIN.LEFT_OUTER, on=((CV.scope == "consignment") & (CV.key == C.ccrn)))
        .switch(T)
        .join(TV, peewee.JOIN.LEFT_OUTER, on=((TV.scope == "trip") & (TV.key == T.reference)))
        .where(where)
        .order_by(T.id)
    )


class _Seconds:
    """Datetime column -> epoch seconds; SQLite hands raw cursors text, PostgreSQL
    datetimes. Slots repeat a lot, so conversions are remembered."""

    def __init__(self) -> None:
        self._memo: dict[Any, tuple[int, int]] = {}

    def __call__(self, value: Any) -> tuple[int, int]:
        hit = self._memo.get(value)
        if hit is None:
            when = datetime.fromisoformat(value) if isinstance(value, str) else value
            hit = (calendar.timegm(when.utctimetuple()), when.microsecond * 1000) if when else (0, 0)
            if len(self._memo) < 100_000:
                self._memo[value] = hit
        return hit


def _reasons(text: Any) -> list[str]:
    return [] if text in _NO_REASONS else list(json.loads(text))


def _finish(
    trip: Any, verdicts: list[int], reasons: list[str], elock: str, trip_verdict: tuple[Any, ...]
) -> None:
    t_verdict, t_reasons, t_elock = trip_verdict
    if t_verdict is not None:  # the risk engine's trip-level verdict wins
        trip.verdict = int(t_verdict)
        trip.verdict_reasons.extend(_reasons(t_reasons))
        trip.elock_state = t_elock or elock
        return
    # A consignment not yet profiled holds the whole trip: the lane must not release it.
    trip.verdict = 0 if (not verdicts or 0 in verdicts) and not trip.empty else max(verdicts, default=0)
    trip.verdict_reasons.extend(reasons)
    trip.elock_state = elock


def _batches(where: Any, chunk_trips: int, db: Any = None) -> Iterator[sync_pb2.SyncBatch]:
    """Trips matching ``where`` with consignments, verdicts, vehicles and drivers, at most
    ``chunk_trips`` trips per batch (rows come ordered by trip, consignments adjacent)."""
    database = db or T._meta.database
    cursor = database.execute(_flat_query(where))
    seconds = _Seconds()
    batch = sync_pb2.SyncBatch()
    seen_vehicles: set[str] = set()
    seen_drivers: set[str] = set()
    current_id = None
    trip: Any = None
    verdicts: list[int] = []
    reasons: list[str] = []
    elock = ""
    trip_verdict: tuple[Any, ...] = (None, None, None)
    while True:
        rows = cursor.fetchmany(2000)
        if not rows:
            break
        for (
            tid,
            ref,
            mark,
            epc,
            mplate,
            vactive,
            doc,
            card,
            name,
            dactive,
            cp,
            direction,
            s_start,
            s_end,
            arrival,
            status,
            empty,
            ccrn,
            c_status,
            transship,
            elock_id,
            c_verdict,
            c_reasons,
            c_elock,
            t_verdict,
            t_reasons,
            t_elock,
        ) in rows:
            if tid != current_id:
                if trip is not None:
                    _finish(trip, verdicts, reasons, elock, trip_verdict)
                    if len(batch.trips) >= chunk_trips:
                        yield batch
                        batch = sync_pb2.SyncBatch()
                        seen_vehicles, seen_drivers = set(), set()
                current_id = tid
                verdicts, reasons, elock = [], [], ""
                trip_verdict = (t_verdict, t_reasons, t_elock)
                trip = batch.trips.add(
                    reference=ref,
                    registration_mark=mark,
                    driver_document_number=doc,
                    control_point=cp,
                    direction=direction,
                    status=status,
                    empty=bool(empty),
                )
                trip.slot_start.seconds, trip.slot_start.nanos = seconds(s_start)
                trip.slot_end.seconds, trip.slot_end.nanos = seconds(s_end)
                trip.expected_arrival.seconds, trip.expected_arrival.nanos = seconds(arrival)
                if mark not in seen_vehicles:
                    seen_vehicles.add(mark)
                    batch.vehicles.add(
                        registration_mark=mark,
                        tag_epc=epc or "",
                        mainland_plate=mplate or "",
                        active=bool(vactive),
                    )
                if doc not in seen_drivers:
                    seen_drivers.add(doc)
                    batch.drivers.add(
                        document_number=doc, card_number=card or "", name=name, active=bool(dactive)
                    )
            if ccrn is not None:
                verdict = int(c_verdict or 0)
                c_reason_list = _reasons(c_reasons)
                trip.consignments.add(
                    ccrn=ccrn,
                    status=c_status,
                    verdict=verdict,
                    verdict_reasons=c_reason_list,
                    transshipment=bool(transship),
                    elock_id=elock_id or "",
                )
                verdicts.append(verdict)
                reasons.extend(c_reason_list)
                elock = c_elock or elock
    if trip is not None:
        _finish(trip, verdicts, reasons, elock, trip_verdict)
    if batch.trips:
        yield batch


def snapshot_batches(scope: Scope) -> Iterator[sync_pb2.SyncBatch]:
    """Every trip in scope, CHUNK_TRIPS at a time (call inside one read transaction)."""
    yield from _batches(_scope_where(scope), CHUNK_TRIPS)


def _one_batch(where: Any) -> sync_pb2.SyncBatch:
    out = sync_pb2.SyncBatch()
    for batch in _batches(where, 1 << 30):
        out.MergeFrom(batch)
    return out


def sweep_batch(scope: Scope, after: datetime) -> sync_pb2.SyncBatch:
    """Trips in scope whose slot starts after ``after``: those entering the horizon."""
    return _one_batch(_scope_where(scope) & (T.slot_start > to_db(after)))


def trips_by_reference(refs: list[str]) -> tuple[sync_pb2.SyncBatch, dict[str, tuple[str, int]]]:
    """Current state of these trips, and where each belongs (control point, direction)."""
    batch = _one_batch(T.reference.in_(refs)) if refs else sync_pb2.SyncBatch()
    return batch, {t.reference: (t.control_point, int(t.direction)) for t in batch.trips}


def trip_refs_for_ccrns(ccrns: list[str]) -> dict[str, str]:
    if not ccrns:
        return {}
    query = C.select(C.ccrn, T.reference).join(T, on=(C.trip == T.id)).where(C.ccrn.in_(ccrns)).tuples()
    return {ccrn: ref for ccrn, ref in query}


def _entity_where(field_key: Any, field_id: Any, entity: str) -> Any:
    return (field_key == entity) | (field_id == int(entity)) if entity.isdigit() else (field_key == entity)


def vehicles_in_scope(entities: list[str], scope: Scope) -> list[sync_pb2.SyncVehicle]:
    """Vehicles (by registration mark or id) that have a trip this lane holds."""
    out = []
    for entity in entities:
        where = _entity_where(V.registration_mark, V.id, entity) & _scope_where(scope)
        row = _trip_query(where).first()
        if row is not None:
            out.append(
                sync_pb2.SyncVehicle(
                    registration_mark=row[2],
                    tag_epc=row[3] or "",
                    mainland_plate=row[4] or "",
                    active=bool(row[5]),
                )
            )
    return out


def drivers_in_scope(entities: list[str], scope: Scope) -> list[sync_pb2.SyncDriver]:
    out = []
    for entity in entities:
        where = _entity_where(D.document_number, D.id, entity) & _scope_where(scope)
        row = _trip_query(where).first()
        if row is not None:
            out.append(
                sync_pb2.SyncDriver(
                    document_number=row[6], card_number=row[7] or "", name=row[8], active=bool(row[9])
                )
            )
    return out


def in_horizon(trip: sync_pb2.SyncTrip, horizon: datetime) -> bool:
    return trip.slot_start.seconds <= calendar.timegm(horizon.utctimetuple())
