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
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


def _verdicts(scope_name: str, keys: list[str]) -> dict[str, tuple[int, list[str], str]]:
    out: dict[str, tuple[int, list[str], str]] = {}
    for start in range(0, len(keys), 500):
        part = keys[start : start + 500]
        rows = (
            LV.select(LV.key, LV.verdict, LV.reasons, LV.elock_state)
            .where((LV.scope == scope_name) & LV.key.in_(part))
            .tuples()
        )
        for key, verdict, reasons, elock in rows:
            out[key] = (int(verdict), json.loads(reasons or "[]"), elock or "")
    return out


def _build(rows: list[tuple[Any, ...]]) -> sync_pb2.SyncBatch:
    """Trips (with consignments and verdicts), their vehicles and drivers."""
    batch = sync_pb2.SyncBatch()
    if not rows:
        return batch
    trip_ids = [r[0] for r in rows]
    consignments: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for start in range(0, len(trip_ids), 500):
        part = trip_ids[start : start + 500]
        for row in (
            C.select(C.trip, C.ccrn, C.status, C.transshipment, C.elock_id).where(C.trip.in_(part)).tuples()
        ):
            consignments[row[0]].append(row)
    ccrns = [c[1] for rows_ in consignments.values() for c in rows_]
    c_verdicts = _verdicts("consignment", ccrns)
    t_verdicts = _verdicts("trip", [r[1] for r in rows])
    seen_vehicles: set[str] = set()
    seen_drivers: set[str] = set()
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
    ) in rows:
        trip = batch.trips.add(
            reference=ref,
            registration_mark=mark,
            driver_document_number=doc,
            control_point=cp,
            direction=direction,
            slot_start=stamp(s_start),
            slot_end=stamp(s_end),
            expected_arrival=stamp(arrival),
            status=status,
            empty=bool(empty),
        )
        strictest: int = 0
        reasons: list[str] = []
        elock = ""
        complete = True
        for _tid, ccrn, c_status, transship, elock_id in consignments.get(tid, ()):
            verdict, c_reasons, c_elock = c_verdicts.get(ccrn, (0, [], ""))
            trip.consignments.add(
                ccrn=ccrn,
                status=c_status,
                verdict=verdict,
                verdict_reasons=c_reasons,
                transshipment=bool(transship),
                elock_id=elock_id or "",
            )
            complete = complete and verdict != 0
            strictest = max(strictest, verdict)
            reasons.extend(c_reasons)
            elock = c_elock or elock
        if ref in t_verdicts:  # the risk engine's trip-level verdict wins
            strictest, reasons, t_elock = t_verdicts[ref]
            elock = t_elock or elock
        elif not complete:
            strictest = 0  # a consignment not yet profiled: the lane must not release
        trip.verdict = strictest  # type: ignore[assignment]
        trip.verdict_reasons.extend(reasons)
        trip.elock_state = elock
        if mark not in seen_vehicles:
            seen_vehicles.add(mark)
            batch.vehicles.add(
                registration_mark=mark, tag_epc=epc or "", mainland_plate=mplate or "", active=bool(vactive)
            )
        if doc not in seen_drivers:
            seen_drivers.add(doc)
            batch.drivers.add(document_number=doc, card_number=card or "", name=name, active=bool(dactive))
    return batch


def snapshot_batches(scope: Scope) -> Iterator[sync_pb2.SyncBatch]:
    """Every trip in scope, CHUNK_TRIPS at a time (call inside one read transaction)."""
    chunk: list[tuple[Any, ...]] = []
    for row in _trip_query(_scope_where(scope)).iterator():
        chunk.append(row)
        if len(chunk) >= CHUNK_TRIPS:
            yield _build(chunk)
            chunk = []
    if chunk:
        yield _build(chunk)


def sweep_batch(scope: Scope, after: datetime) -> sync_pb2.SyncBatch:
    """Trips in scope whose slot starts after ``after``: those entering the horizon."""
    return _build(list(_trip_query(_scope_where(scope) & (T.slot_start > to_db(after)))))


def trips_by_reference(refs: list[str]) -> tuple[sync_pb2.SyncBatch, dict[str, tuple[str, int]]]:
    """Current state of these trips, and where each belongs (control point, direction)."""
    rows = list(_trip_query(T.reference.in_(refs))) if refs else []
    return _build(rows), {r[1]: (r[10], r[11]) for r in rows}


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
