"""Officers' queries over the crossing events central stored (``rocars.v1.Crossings``).

Lists page by the stored row id (keyset: a page never shifts when new events arrive
while an officer pages through); counts run one ``GROUP BY`` over the same filter.
Both are plain SQL over ``crossing_event`` so they answer the same on SQLite and
PostgreSQL and on any replica.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import grpc
import peewee

from central.api.auth import current_principal
from central.api.convert import from_ts_checked, ts
from central.api.paging import page_of
from central.api.registry import ServerContext
from central.services import errors
from central.store.db import to_db
from central.sync.models import CrossingEventRecord
from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc

EVENTS: Any = CrossingEventRecord
MAX_FILTER_VALUES = 100
_OUTCOMES = frozenset(v for v in sync_pb2.CrossingOutcome.values() if v)
_DIRECTIONS = frozenset(v for v in common_pb2.Direction.values() if v)
_GROUP_COLUMNS = {
    sync_pb2.GROUP_BY_LANE: ("lane_id", EVENTS.lane_code),
    sync_pb2.GROUP_BY_CONTROL_POINT: ("control_point", EVENTS.control_point),
    sync_pb2.GROUP_BY_OUTCOME: ("outcome", EVENTS.outcome),
}


def _time(value: Any, field: str, problems: list[errors.FieldViolation]) -> datetime | None:
    when = from_ts_checked(value)
    if when is None:
        problems.append(errors.FieldViolation(field, "must be a time between 2000 and 2100"))
    return when


def filtered(f: sync_pb2.CrossingFilter, prefix: str = "filter") -> Any:
    """The events query for ``f``; every bad field is reported at once, by name."""
    problems: list[errors.FieldViolation] = []
    query = EVENTS.select()
    for name in ("lane_ids", "control_points", "outcomes"):
        if len(getattr(f, name)) > MAX_FILTER_VALUES:
            problems.append(errors.FieldViolation(f"{prefix}.{name}", f"at most {MAX_FILTER_VALUES} values"))
    if f.lane_ids:
        query = query.where(EVENTS.lane_code.in_([x.strip().upper() for x in f.lane_ids]))
    if f.control_points:
        query = query.where(EVENTS.control_point.in_([x.strip().upper() for x in f.control_points]))
    if f.outcomes:
        bad = [o for o in f.outcomes if o not in _OUTCOMES]
        if bad:
            problems.append(errors.FieldViolation(f"{prefix}.outcomes", f"{bad[0]} is not a CrossingOutcome"))
        query = query.where(EVENTS.outcome.in_(list(f.outcomes)))
    if f.direction:
        if f.direction not in _DIRECTIONS:
            problems.append(errors.FieldViolation(f"{prefix}.direction", "must be import or export"))
        query = query.where(EVENTS.direction == f.direction)
    if f.trip_reference:
        query = query.where(EVENTS.trip_reference == f.trip_reference.strip().upper())
    start = end = None
    if f.HasField("occurred_from"):
        start = _time(f.occurred_from, f"{prefix}.occurred_from", problems)
        if start is not None:
            query = query.where(EVENTS.occurred_at >= to_db(start))
    if f.HasField("occurred_before"):
        end = _time(f.occurred_before, f"{prefix}.occurred_before", problems)
        if end is not None:
            query = query.where(EVENTS.occurred_at < to_db(end))
    if start is not None and end is not None and end <= start:
        problems.append(errors.FieldViolation(f"{prefix}.occurred_before", "must be after occurred_from"))
    if problems:
        raise errors.ValidationError(problems)
    return query


def stored_pb(row: Any) -> sync_pb2.StoredCrossingEvent:
    try:
        reasons = [str(r) for r in json.loads(row.reasons or "[]")]
    except ValueError:
        reasons = []
    event = sync_pb2.CrossingEvent(
        idempotency_key=row.idempotency_key,
        lane_id=row.lane_code,
        sequence=row.lane_sequence,
        outcome=row.outcome,
        trip_reference=row.trip_reference,
        registration_mark=row.registration_mark,
        tag_epc=row.tag_epc,
        driver_document_number=row.driver_document_number,
        occurred_at=ts(row.occurred_at),
        reasons=reasons,
        officer_id=row.officer_id,
        inspection_result=row.inspection_result,
        override_verdict=row.override_verdict,
        detail_json=row.detail_json,
    )
    return sync_pb2.StoredCrossingEvent(
        event=event,
        control_point=row.control_point,
        direction=row.direction,
        received_at=ts(row.received_at),
        applied=row.applied,
        note=row.note,
    )


def count(request: sync_pb2.CountCrossingEventsRequest) -> sync_pb2.CountCrossingEventsReply:
    query = filtered(request.filter)
    groups = []
    for i, g in enumerate(request.group_by):
        if g not in _GROUP_COLUMNS:
            raise errors.ValidationError(
                [errors.FieldViolation(f"group_by[{i}]", "must be lane, control point or outcome")]
            )
        if g not in groups:
            groups.append(g)
    total = query.count()
    reply = sync_pb2.CountCrossingEventsReply(total=total)
    if groups:
        columns = [_GROUP_COLUMNS[g][1] for g in groups]
        names = [_GROUP_COLUMNS[g][0] for g in groups]
        rows = (
            query.select(*columns, peewee.fn.COUNT(EVENTS.id).alias("n"))
            .group_by(*columns)
            .order_by(*columns)
            .tuples()
        )
        for row in rows:
            reply.groups.add(count=row[-1], **dict(zip(names, row[:-1], strict=True)))
    return reply


class CrossingsServicer(sync_pb2_grpc.CrossingsServicer):
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def ListCrossingEvents(
        self, request: sync_pb2.ListCrossingEventsRequest, context: grpc.ServicerContext
    ) -> sync_pb2.ListCrossingEventsReply:
        current_principal()  # the interceptor admitted an officer; nothing narrower applies
        rows, token = page_of(
            filtered(request.filter), EVENTS.id, request.page, self.ctx.config.max_page_size
        )
        return sync_pb2.ListCrossingEventsReply(events=[stored_pb(r) for r in rows], next_page_token=token)

    def CountCrossingEvents(
        self, request: sync_pb2.CountCrossingEventsRequest, context: grpc.ServicerContext
    ) -> sync_pb2.CountCrossingEventsReply:
        current_principal()
        return count(request)


def add_to_server(server: grpc.Server, ctx: ServerContext) -> None:
    sync_pb2_grpc.add_CrossingsServicer_to_server(CrossingsServicer(ctx), server)
    ctx.service_names.append(sync_pb2.DESCRIPTOR.services_by_name["Crossings"].full_name)
