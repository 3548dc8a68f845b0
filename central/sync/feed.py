"""The lane feed as a plain generator of ``SyncMessage`` (no gRPC here).

A stream: a snapshot when the lane's cursor is absent, from another log epoch, below
the pruned watermark or ahead of the log; then ordered change batches as the log grows,
horizon sweeps as trips come within the horizon, and heartbeats when idle. It ends
after ``max_stream_age_s`` so streams rebalance across replicas, and at once when the
server begins to stop (``stopping``; a snapshot cut short is simply sent again); the
lane resumes from its cursor.

Never skipping a change rests on two facts (see :mod:`central.store.changes`): ids are
allocated in commit order, and the watcher's head is read *before* the change query, so
when that query returns fewer rows than its limit every relevant id up to the head has
been seen and the cursor may move to the head.
"""

from __future__ import annotations

import calendar
import logging
import secrets
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import peewee

from central.clock import Clock
from central.store import changes
from central.store.changes import ChangeKind, ChangeRow
from central.store.db import is_postgres
from central.sync import records
from central.sync.cursor import Cursor, CursorError, decode
from central.sync.watcher import ChangeWatcher
from proto.rocars.v1 import sync_pb2

log = logging.getLogger(__name__)

_TRIP_KINDS = frozenset(
    {ChangeKind.TRIP_BUNDLED, ChangeKind.TRIP_CHANGED, ChangeKind.TRIP_UNBUNDLED, ChangeKind.TRIP_CROSSED}
)


@dataclass
class FeedConfig:
    horizon_s: float = 6 * 3600  # trips whose slot starts within this are held by lanes
    late_s: float = 12 * 3600  # ... and trips whose slot ended less than this ago
    heartbeat_s: float = 5.0
    max_stream_age_s: float = 900.0
    batch_limit: int = 500
    sweep_every_s: float = 60.0

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> FeedConfig:
        unknown = sorted(k for k in values if not hasattr(cls, k))
        if unknown:
            raise ValueError(f"config [sync].{unknown[0]}: unknown setting")
        known: dict[str, Any] = {}
        for key, value in values.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"config [sync].{key}: must be a positive number")
            known[key] = int(value) if key == "batch_limit" else float(value)
        return cls(**known)


def _epoch_s(when: datetime) -> int:
    return calendar.timegm(when.astimezone(UTC).utctimetuple())


def _from_epoch_s(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True, slots=True)
class LaneIdentity:
    lane_id: str
    control_point: str
    direction: int


class _Stopping(Exception):
    """The server is stopping: end the stream now (internal to the generator)."""


class LaneFeed:
    def __init__(
        self,
        db: peewee.Database,
        clock: Clock,
        watcher: ChangeWatcher,
        config: FeedConfig,
        stopping: threading.Event | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.watcher = watcher
        self.config = config
        self.stopping = stopping or threading.Event()

    def _scope(self, lane: LaneIdentity, horizon: int) -> records.Scope:
        now = self.clock.now()
        return records.Scope(
            lane.control_point,
            lane.direction,
            _from_epoch_s(horizon),
            now - timedelta(seconds=self.config.late_s),
        )

    def _message(self, kind: int, cursor: Cursor | None, **fields: Any) -> sync_pb2.SyncMessage:
        msg = sync_pb2.SyncMessage(kind=kind, cursor=cursor.encode() if cursor else "", **fields)  # type: ignore[arg-type]
        msg.sent_at.CopyFrom(records.stamp(self.clock.now().replace(tzinfo=None)))
        return msg

    def resume_point(self, cursor_text: str) -> Cursor | None:
        """The cursor to continue from, or None when the lane needs a snapshot."""
        if not cursor_text:
            return None
        try:
            cur = decode(cursor_text)
        except CursorError as exc:
            log.info("snapshot: %s", exc)
            return None
        if cur.epoch != changes.epoch():
            log.info("snapshot: cursor from another change-log epoch")
            return None
        if cur.seq < changes.pruned_through():
            log.info("snapshot: cursor %d below the pruned watermark", cur.seq)
            return None
        if cur.seq > changes.head():
            log.warning("snapshot: cursor %d ahead of the change log (restored database?)", cur.seq)
            return None
        return cur

    def stream(
        self, lane: LaneIdentity, cursor_text: str, is_active: Callable[[], bool] = lambda: True
    ) -> Iterator[sync_pb2.SyncMessage]:
        try:
            yield from self._stream(lane, cursor_text, is_active)
        except _Stopping:
            log.info("lane %s: stream ended, server stopping", lane.lane_id)
        finally:
            self._release_connection()

    def _release_connection(self) -> None:
        # Connections are per thread; a lane's stream keeps its worker thread for up to
        # max_stream_age_s, so an idle one gives its connection back (to the pool, or
        # closes it) rather than pinning one per lane on the database.
        if not self.db.is_closed() and not self.db.in_transaction():
            self.db.close()

    def _stream(
        self, lane: LaneIdentity, cursor_text: str, is_active: Callable[[], bool]
    ) -> Iterator[sync_pb2.SyncMessage]:
        started = time.monotonic()
        cur = self.resume_point(cursor_text)
        if cur is None:
            cur = yield from self._snapshot(lane)
        last_sent = time.monotonic()
        while (
            is_active()
            and not self.stopping.is_set()
            and time.monotonic() - started < self.config.max_stream_age_s
        ):
            head = self.watcher.head
            if head > cur.seq:
                rows = changes.changes_after(
                    cur.seq, lane.control_point, lane.direction, self.config.batch_limit
                )
                full = len(rows) >= self.config.batch_limit
                new_seq = rows[-1].id if full else max(head, rows[-1].id if rows else cur.seq)
                batch = self._changes_batch(lane, rows, cur.horizon)
                cur = Cursor(cur.epoch, new_seq, cur.horizon)
                if _has_content(batch):
                    msg = self._message(sync_pb2.CHANGES, cur, batch=batch, changes_count=len(rows))
                    if rows:
                        newest = changes.Change.get_by_id(rows[-1].id).recorded_at
                        msg.newest_change_at.CopyFrom(records.stamp(newest))
                    last_sent = time.monotonic()
                    yield msg
                continue
            horizon = _epoch_s(self.clock.now()) + int(self.config.horizon_s)
            if horizon - cur.horizon >= self.config.sweep_every_s:
                batch = records.sweep_batch(self._scope(lane, horizon), _from_epoch_s(cur.horizon))
                cur = Cursor(cur.epoch, cur.seq, horizon)
                if batch.trips:
                    last_sent = time.monotonic()
                    yield self._message(sync_pb2.CHANGES, cur, batch=batch)
                continue
            idle = time.monotonic() - last_sent
            if idle >= self.config.heartbeat_s:
                last_sent = time.monotonic()
                yield self._message(sync_pb2.HEARTBEAT, cur)
                continue
            if self.watcher.wait_beyond(cur.seq, min(self.config.heartbeat_s - idle, 1.0)) <= cur.seq:
                self._release_connection()  # idle: do not hold a database connection per lane

    def _snapshot(self, lane: LaneIdentity) -> Generator[sync_pb2.SyncMessage, None, Cursor]:
        epoch = changes.epoch()
        snapshot_id = secrets.token_hex(8)
        horizon = _epoch_s(self.clock.now()) + int(self.config.horizon_s)
        yield self._message(sync_pb2.SNAPSHOT_BEGIN, None, snapshot_id=snapshot_id)
        # One read transaction: the head and every row read come from the same snapshot,
        # so changes after the head are exactly those the stream sends next.
        with self.db.atomic():
            if is_postgres(self.db):
                self.db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            seq = changes.head()
            for batch in records.snapshot_batches(self._scope(lane, horizon)):
                if self.stopping.is_set():
                    raise _Stopping
                yield self._message(sync_pb2.SNAPSHOT_CHUNK, None, snapshot_id=snapshot_id, batch=batch)
            extra = self._changes_batch(
                lane, changes.latest_compacted(lane.control_point, lane.direction, seq), horizon, trips=False
            )
        if _has_content(extra):
            yield self._message(sync_pb2.SNAPSHOT_CHUNK, None, snapshot_id=snapshot_id, batch=extra)
        cur = Cursor(epoch, seq, horizon)
        yield self._message(sync_pb2.SNAPSHOT_END, cur, snapshot_id=snapshot_id)
        return cur

    def _changes_batch(
        self, lane: LaneIdentity, rows: list[ChangeRow], horizon: int, trips: bool = True
    ) -> sync_pb2.SyncBatch:
        trip_refs: dict[str, bool] = {}  # ref -> the change named this control point
        ccrns: list[str] = []
        vehicles: list[str] = []
        drivers: list[str] = []
        batch = sync_pb2.SyncBatch()
        for row in rows:
            mine = row.control_point == lane.control_point
            if row.kind in _TRIP_KINDS:
                trip_refs[row.entity_id] = trip_refs.get(row.entity_id, False) or mine
            elif row.kind == ChangeKind.VERDICT_CHANGED:
                if row.payload.get("scope") == "trip":
                    trip_refs.setdefault(row.entity_id, mine)
                elif row.payload.get("trip"):
                    trip_refs.setdefault(str(row.payload["trip"]), mine)
                else:
                    ccrns.append(row.entity_id)
            elif row.kind == ChangeKind.VEHICLE_CHANGED:
                vehicles.append(row.entity_id)
            elif row.kind == ChangeKind.DRIVER_CHANGED:
                drivers.append(row.entity_id)
            elif row.kind == ChangeKind.WATCHLIST_HIT:
                if row.payload.get("removed"):
                    batch.removed_watchlist.append(row.entity_id)
                else:
                    batch.watchlist.add(
                        id=row.entity_id,
                        subject=str(row.payload.get("subject", "")),
                        value=str(row.payload.get("value", "")),
                        reason=str(row.payload.get("reason", "")),
                        action=str(row.payload.get("action", "refer")),
                    )
            elif row.kind == ChangeKind.LANE_CONFIG and row.entity_id in (lane.lane_id, "*"):
                settings = row.payload.get("settings")
                if not isinstance(settings, dict):  # a flat payload: its scalars are the settings
                    settings = {k: v for k, v in row.payload.items() if not isinstance(v, dict | list)}
                batch.lane_config.settings.clear()
                batch.lane_config.settings.update({str(k): str(v) for k, v in settings.items()})
        if not trips:
            return batch
        for ref in records.trip_refs_for_ccrns(ccrns).values():
            trip_refs.setdefault(ref, False)
        found, where = records.trips_by_reference(sorted(trip_refs))
        horizon_dt = _from_epoch_s(horizon)
        kept_marks: set[str] = set()
        kept_docs: set[str] = set()
        for trip in found.trips:
            here = where[trip.reference] == (lane.control_point, lane.direction)
            if here and (trip.status != 1 or records.in_horizon(trip, horizon_dt)):
                batch.trips.append(trip)
                kept_marks.add(trip.registration_mark)
                kept_docs.add(trip.driver_document_number)
            elif not here and trip_refs[trip.reference]:
                batch.removed_trips.append(trip.reference)  # it moved away from this lane
        for ref, mine in trip_refs.items():
            if ref not in where and mine:
                batch.removed_trips.append(ref)  # deleted at central
        batch.vehicles.extend(v for v in found.vehicles if v.registration_mark in kept_marks)
        batch.drivers.extend(d for d in found.drivers if d.document_number in kept_docs)
        scope = self._scope(lane, horizon)
        if vehicles:
            batch.vehicles.extend(records.vehicles_in_scope(vehicles, scope))
        if drivers:
            batch.drivers.extend(records.drivers_in_scope(drivers, scope))
        return batch


def _has_content(batch: sync_pb2.SyncBatch) -> bool:
    return bool(
        batch.trips
        or batch.removed_trips
        or batch.vehicles
        or batch.drivers
        or batch.watchlist
        or batch.removed_watchlist
        or batch.HasField("lane_config")
    )
