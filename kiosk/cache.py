"""The lane's local cache: everything the kiosk may need to decide without asking central.

One SQLite file per lane (peewee) holds trips with their consignments' verdicts,
vehicles (by tag EPC and by plate), drivers (by card identity), watch-list entries and
the lane configuration, plus the sync state: the feed's cursor and when the last message
arrived. The same file holds the crossing outbox (:mod:`kiosk.outbox`) so a decision, its
outbox event and the cache's view of the trip commit in one transaction.

Every feed message is applied in one transaction together with its cursor, so after a
crash the cache and the cursor always agree and the lane resumes exactly where it was.
A snapshot is a new *generation*: its chunks are upserted as they come and, at its end,
rows of older generations are dropped in the same transaction that stores the cursor;
a snapshot cut short leaves the previous cursor, so the next connection repairs it.

Models are created per database (:func:`_models`), not bound to a global proxy, so one
process can hold many lanes' caches (the benchmark runs 50). A 50,000-trip cold start
must stay well above 20,000 trips/s, so the feed's writes avoid per-row Python work:

- bulk writes go through the connection's ``executemany`` (peewee's query building
  costs several times SQLite's own work);
- a trip row holds only what the look-ups filter on, plus the feed's own ``SyncTrip``
  bytes (one C-level copy per trip, parsed only when the lane reads that trip) instead
  of a dozen columns and three JSON documents built per row;
- a snapshot into an *empty* cache (a cold start) drops the look-up indexes at its
  begin and builds them at its end, in the transaction that stores the cursor: one
  sort per index instead of 150,000 B-tree insertions. Until then the cache has no
  cursor and holds only part of a snapshot, so unindexed reads of it are no loss.

The cache is derived data: a file of an older layout (``PRAGMA user_version``) has its
cache tables dropped and its cursor cleared at open, and the next connection takes a
snapshot; the lane's own crossings and outbox are never touched.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import peewee

from lanes.records import (
    Direction,
    DriverRecord,
    ELockState,
    TripRecord,
    TripStatus,
    VehicleRecord,
    Verdict,
    normalise_mark,
)
from proto.rocars.v1 import common_pb2, sync_pb2

_VERDICTS = {
    common_pb2.CLEAR: Verdict.CLEAR,
    common_pb2.INSPECT: Verdict.INSPECT,
    common_pb2.HOLD: Verdict.HOLD,
}
_TRIP_STATUSES = {
    common_pb2.TRIP_BUNDLED: TripStatus.BUNDLED,
    common_pb2.TRIP_UNBUNDLED: TripStatus.UNBUNDLED,
    common_pb2.TRIP_CROSSED: TripStatus.CROSSED,
    common_pb2.TRIP_RELEASED: TripStatus.RELEASED,
    common_pb2.TRIP_SENT_TO_INSPECTION: TripStatus.SENT_TO_INSPECTION,
    common_pb2.TRIP_INSPECTED: TripStatus.INSPECTED,
    common_pb2.TRIP_REFERRED: TripStatus.REFERRED,
}
_DIRECTIONS = {common_pb2.IMPORT: Direction.IMPORT, common_pb2.EXPORT: Direction.EXPORT}
_ELOCK = {s.value: s for s in ELockState}
OPEN_TRIP_STATUS = common_pb2.TRIP_BUNDLED
# Lane outcomes after which the trip has crossed (lanes.commands.Outcome values).
USED_OUTCOMES = ("released", "inspection", "officer_override", "inspection_result")


class CacheError(RuntimeError):
    """The cache cannot apply what it was given (nothing of that message was applied)."""


def open_lane_database(path: str | Path) -> peewee.SqliteDatabase:
    """The lane's own SQLite file. ``synchronous=FULL``: an outbox event must survive a
    power cut once its transaction has committed, before the barrier moves."""
    if str(path) != ":memory:":
        Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return peewee.SqliteDatabase(
        str(path),
        pragmas={
            "journal_mode": "wal",
            "synchronous": "full",
            "busy_timeout": 10_000,
            "foreign_keys": 1,
            "cache_size": -65_536,  # 64 MiB: a whole 50,000-trip cache stays in memory
            "mmap_size": 268_435_456,
        },
        timeout=10,
        check_same_thread=False,
    )


def _models(db: peewee.Database) -> SimpleNamespace:
    class Base(peewee.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class SyncState(Base):
        id = peewee.IntegerField(primary_key=True)  # always 1
        cursor = peewee.TextField(default="")
        generation = peewee.TextField(default="")  # the last completed snapshot
        pending_snapshot = peewee.TextField(default="")
        last_message_at = peewee.FloatField(null=True)  # wall clock, epoch s
        lane_config = peewee.TextField(default="{}")

    # Secondary indexes are created by _ensure_indexes (see _INDEXES), not declared here,
    # so a cold start can load without them.
    class CachedVehicle(Base):
        registration_mark = peewee.CharField(primary_key=True)
        tag_epc = peewee.CharField(null=True)
        mainland_plate = peewee.CharField(default="")
        active = peewee.BooleanField(default=True)
        generation = peewee.CharField(default="")

        class Meta:
            without_rowid = True

    class CachedDriver(Base):
        document_number = peewee.CharField(primary_key=True)
        card_number = peewee.CharField(null=True)
        name = peewee.CharField(default="")
        active = peewee.BooleanField(default=True)
        generation = peewee.CharField(default="")

        class Meta:
            without_rowid = True

    class CachedTrip(Base):
        reference = peewee.CharField(primary_key=True)
        # What the look-ups filter and order on, as columns ...
        registration_mark = peewee.CharField()  # normalised
        control_point = peewee.CharField()
        direction = peewee.IntegerField()
        status = peewee.IntegerField()
        slot_start = peewee.FloatField()
        # ... and the rest as the feed sent it (a serialised SyncTrip, consignments and
        # their verdicts included), parsed only when the lane reads this trip.
        record = peewee.BlobField()
        generation = peewee.CharField(default="")

        class Meta:
            without_rowid = True  # keyed by reference: one B-tree less per write

    class CachedWatchlist(Base):
        id = peewee.CharField(primary_key=True)
        subject = peewee.CharField()
        value = peewee.CharField()
        reason = peewee.CharField(default="")
        action = peewee.CharField(default="")
        generation = peewee.CharField(default="")

    class LaneCrossing(Base):
        """The lane's own record of each decision (written with its outbox event)."""

        seq = peewee.AutoField()
        idempotency_key = peewee.CharField(unique=True)
        outcome = peewee.CharField()
        trip_reference = peewee.CharField(null=True, index=True)
        decided_at = peewee.FloatField()
        record = peewee.TextField()  # JSON of the whole decision record

    return SimpleNamespace(
        LaneCrossing=LaneCrossing,
        SyncState=SyncState,
        Vehicle=CachedVehicle,
        Driver=CachedDriver,
        Trip=CachedTrip,
        Watchlist=CachedWatchlist,
        all=[
            SyncState,
            CachedVehicle,
            CachedDriver,
            CachedTrip,
            CachedWatchlist,
            LaneCrossing,
        ],
    )


# Layout of the cache tables; a file with a lower user_version is rebuilt (see above).
CACHE_SCHEMA = 2
WAL_AUTOCHECKPOINT_PAGES = 1000  # SQLite's default
_CACHE_TABLES = ("cached_vehicle", "cached_driver", "cached_trip", "cached_watchlist")
# The look-up indexes (name -> DDL); each look-up is one of these.
_INDEXES = {
    "cached_vehicle_tag_epc": "CREATE INDEX IF NOT EXISTS cached_vehicle_tag_epc ON cached_vehicle (tag_epc)",
    "cached_driver_card_number": (
        "CREATE INDEX IF NOT EXISTS cached_driver_card_number ON cached_driver (card_number)"
    ),
    "cached_trip_vehicle": (
        "CREATE INDEX IF NOT EXISTS cached_trip_vehicle "
        "ON cached_trip (registration_mark, status, slot_start)"
    ),
    "cached_watchlist_subject_value": (
        "CREATE INDEX IF NOT EXISTS cached_watchlist_subject_value ON cached_watchlist (subject, value)"
    ),
}


def _ensure_indexes(conn: Any) -> None:
    for ddl in _INDEXES.values():
        conn.execute(ddl)


def _upgrade_layout(db: peewee.SqliteDatabase) -> None:
    """Drop cache tables of an older layout and clear the cursor (a snapshot refills)."""
    version = int(db.execute_sql("PRAGMA user_version").fetchone()[0])
    if version >= CACHE_SCHEMA:
        return
    for table in _CACHE_TABLES:
        db.execute_sql(f"DROP TABLE IF EXISTS {table}")
    if db.table_exists("sync_state"):
        db.execute_sql("UPDATE sync_state SET cursor='', generation='', pending_snapshot=''")
    db.execute_sql(f"PRAGMA user_version={CACHE_SCHEMA}")


def _ts(stamp: Any) -> float:
    return float(stamp.seconds) + stamp.nanos / 1e9


@dataclass(frozen=True, slots=True)
class SyncStatus:
    cursor: str
    generation: str
    last_message_at: float | None


class LaneCache:
    """One lane's cache. Thread-safe: the sync client writes while the lane reads."""

    def __init__(
        self,
        db: peewee.SqliteDatabase,
        control_point: str,
        direction: Direction,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.control_point = control_point.upper()
        self.direction = direction
        self._direction_code = common_pb2.IMPORT if direction == Direction.IMPORT else common_pb2.EXPORT
        self.clock = clock
        self.m = _models(db)
        self._write_lock = threading.Lock()  # one writer at a time (sync client, outbox)
        db.connect(reuse_if_open=True)
        with db.atomic():
            _upgrade_layout(db)
            db.create_tables(self.m.all, safe=True)
            _ensure_indexes(db.connection())
            self.m.SyncState.insert(id=1).on_conflict_ignore().execute()
        self._bulk_loading = False  # indexes dropped for a cold start's snapshot

    @classmethod
    def open(
        cls,
        path: str | Path,
        control_point: str,
        direction: Direction | str,
        clock: Callable[[], float] = time.time,
    ) -> LaneCache:
        return cls(open_lane_database(path), control_point, Direction(direction), clock)

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    # --- sync state -----------------------------------------------------------------

    def status(self) -> SyncStatus:
        row = self.m.SyncState.get_by_id(1)
        return SyncStatus(row.cursor, row.generation, row.last_message_at)

    def cursor(self) -> str:
        return self.status().cursor

    def staleness_s(self) -> float | None:
        """Seconds since the feed last said anything (None: never synced)."""
        last = self.status().last_message_at
        return None if last is None else max(0.0, self.clock() - last)

    def lane_config(self) -> dict[str, str]:
        return dict(json.loads(self.m.SyncState.get_by_id(1).lane_config))

    # --- applying the feed -----------------------------------------------------------

    def apply(self, message: sync_pb2.SyncMessage) -> None:
        """Apply one feed message atomically with its cursor."""
        self.commit(self.prepare(message))

    def prepare(self, message: sync_pb2.SyncMessage) -> Prepared:
        """The message's rows, built without touching the database, so a sync client can
        build the next message's rows while SQLite writes the previous one."""
        generation = message.snapshot_id if message.kind == sync_pb2.SNAPSHOT_CHUNK else ""
        return Prepared(
            message.kind, message.snapshot_id, message.cursor, _statements(message.batch, generation)
        )

    def commit(self, prepared: Prepared) -> None:
        now = self.clock()
        with self._write_lock:
            # The cache and its cursor need atomicity, not durability: a power cut may
            # lose the last batches, but together with their cursor, and they are fetched
            # again. The outbox (same file) switches back to FULL for its own commits.
            self.db.execute_sql("PRAGMA synchronous=NORMAL")
            bulk = self._bulk_loading
            try:
                with self.db.atomic():
                    self._commit(prepared, now)
            except BaseException:
                self._bulk_loading = bulk  # rolled back: so are the index drops or builds
                raise
            if self._bulk_loading and prepared.kind not in (sync_pb2.SNAPSHOT_BEGIN, sync_pb2.SNAPSHOT_CHUNK):
                self._bulk_loading = False
                self.db.execute_sql(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")

    def _commit(self, p: Prepared, now: float) -> None:
        conn = self.db.connection()
        state = self.m.SyncState.get_by_id(1)
        if p.kind == sync_pb2.SNAPSHOT_BEGIN:
            if not self._bulk_loading and _empty(conn):
                for name in _INDEXES:
                    conn.execute(f"DROP INDEX IF EXISTS {name}")
                # No checkpoints (each one syncs the disk) until the load ends.
                conn.execute("PRAGMA wal_autocheckpoint=0")
                self._bulk_loading = True
            conn.execute(
                "UPDATE sync_state SET pending_snapshot=?, last_message_at=? WHERE id=1", (p.snapshot_id, now)
            )
        elif p.kind == sync_pb2.SNAPSHOT_CHUNK:
            if p.snapshot_id != state.pending_snapshot:
                raise CacheError(f"snapshot chunk {p.snapshot_id!r} without its begin")
            _execute(conn, p.statements)
            conn.execute("UPDATE sync_state SET last_message_at=? WHERE id=1", (now,))
        elif p.kind == sync_pb2.SNAPSHOT_END:
            if p.snapshot_id != state.pending_snapshot:
                raise CacheError(f"snapshot end {p.snapshot_id!r} without its begin")
            if self._bulk_loading:
                # Empty at the begin: every row is of this generation, nothing to drop.
                _ensure_indexes(conn)
            else:
                for table in _CACHE_TABLES:
                    conn.execute(f"DELETE FROM {table} WHERE generation != ?", (p.snapshot_id,))
            conn.execute(
                "UPDATE sync_state SET cursor=?, generation=?, pending_snapshot='', last_message_at=? "
                "WHERE id=1",
                (p.cursor, p.snapshot_id, now),
            )
        elif p.kind in (sync_pb2.CHANGES, sync_pb2.HEARTBEAT):
            # Changes or a heartbeat outside a snapshot: any snapshot left pending was cut
            # short and abandoned (its rows are current states; the next snapshot's end
            # drops whatever it does not carry, whatever generation a row has).
            if self._bulk_loading:
                _ensure_indexes(conn)
            _execute(conn, p.statements)
            conn.execute(
                "UPDATE sync_state SET cursor=?, pending_snapshot='', last_message_at=? WHERE id=1",
                (p.cursor or state.cursor, now),
            )
        else:
            raise CacheError(f"sync message kind {p.kind} is unknown")

    # --- look-ups the lane needs (one indexed query each) -------------------------------

    def vehicle_by_epc(self, epc: str) -> VehicleRecord | None:
        V = self.m.Vehicle
        row = V.select().where((V.tag_epc == epc.upper()) & (V.active == True)).first()  # noqa: E712
        return None if row is None else self._vehicle(row)

    def vehicle_by_plate(self, plate: str) -> VehicleRecord | None:
        V = self.m.Vehicle
        row = V.select().where((V.registration_mark == normalise_mark(plate)) & (V.active == True)).first()  # noqa: E712
        return None if row is None else self._vehicle(row)

    def open_trip_for_vehicle(self, registration_mark: str, at: float | None = None) -> TripRecord | None:
        """The bundled trip of this vehicle at this control point and direction whose slot
        is nearest ``at`` (now by default), leaving out trips this lane already released
        or sent to inspection: central's confirmation may still be in the outbox."""
        T, X = self.m.Trip, self.m.LaneCrossing
        when = self.clock() if at is None else at
        used = X.select(X.trip_reference).where(
            X.trip_reference.is_null(False) & X.outcome.in_(USED_OUTCOMES)
        )
        row = (
            T.select()
            .where(
                (T.registration_mark == normalise_mark(registration_mark))
                & (T.status == OPEN_TRIP_STATUS)
                & (T.control_point == self.control_point)
                & (T.direction == self._direction_code)
                & T.reference.not_in(used)
            )
            .order_by(peewee.fn.ABS(T.slot_start - when))
            .first()
        )
        return None if row is None else self._trip(row)

    def driver_by_card(self, card_number: str) -> DriverRecord | None:
        D = self.m.Driver
        row = D.select().where((D.card_number == card_number) & (D.active == True)).first()  # noqa: E712
        return None if row is None else self._driver(row)

    def trip(self, reference: str) -> TripRecord | None:
        row = self.m.Trip.get_or_none(self.m.Trip.reference == reference)
        return None if row is None else self._trip(row)

    def consignment_verdicts(self, trip_reference: str) -> dict[str, Verdict | None]:
        """Each consignment of the trip and its own verdict (None: not yet profiled)."""
        row = self.m.Trip.select(self.m.Trip.record).where(self.m.Trip.reference == trip_reference).first()
        if row is None:
            return {}
        trip = sync_pb2.SyncTrip.FromString(bytes(row.record))
        return {c.ccrn: _VERDICTS.get(c.verdict) for c in trip.consignments}

    def counts(self) -> dict[str, int]:
        return {
            name: getattr(self.m, name).select().count()
            for name in ("Trip", "Vehicle", "Driver", "Watchlist")
        }

    def watchlisted(self, subject: str, value: str) -> bool:
        W = self.m.Watchlist
        return W.select().where((W.subject == subject) & (W.value == _watch_value(subject, value))).exists()

    def _vehicle(self, row: Any) -> VehicleRecord:
        return VehicleRecord(
            row.registration_mark,
            row.registration_mark,
            row.tag_epc,
            self.watchlisted("vehicle", row.registration_mark),
        )

    def _driver(self, row: Any) -> DriverRecord:
        return DriverRecord(
            row.document_number,
            row.document_number,
            row.card_number or "",
            row.name,
            self.watchlisted("driver", row.document_number),
        )

    def _trip(self, row: Any) -> TripRecord:
        t = sync_pb2.SyncTrip.FromString(bytes(row.record))
        # A trip with no verdict yet is held: the lane must not release what Customs has
        # not profiled.
        verdict = _VERDICTS.get(t.verdict, Verdict.HOLD)
        return TripRecord(
            trip_id=row.reference,
            vehicle_id=row.registration_mark,
            driver_id=t.driver_document_number or None,
            control_point=row.control_point,
            direction=_DIRECTIONS.get(row.direction, self.direction),
            slot_start=row.slot_start,
            slot_end=_ts(t.slot_end),
            verdict=verdict,
            verdict_reasons=tuple(t.verdict_reasons),
            ccrns=tuple(c.ccrn for c in t.consignments),
            elock=_ELOCK.get(t.elock_state, ELockState.NONE) if t.elock_state else ELockState.NONE,
            status=_TRIP_STATUSES.get(row.status, TripStatus.UNBUNDLED),
        )


def _empty(conn: Any) -> bool:
    return all(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is None for t in _CACHE_TABLES)


def _watch_value(subject: str, value: str) -> str:
    return normalise_mark(value) if subject == "vehicle" else value.strip()


def batched(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


Statements = list[tuple[str, list[tuple[Any, ...]]]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A feed message turned into SQL rows, ready to commit."""

    kind: int
    snapshot_id: str
    cursor: str
    statements: Statements


def _execute(conn: Any, statements: Statements) -> None:
    for sql, rows in statements:
        if sql.startswith("UPDATE"):
            conn.execute(sql, rows[0])
        else:
            conn.executemany(sql, rows)


def _statements(batch: sync_pb2.SyncBatch, generation: str) -> Statements:
    out: Statements = []
    if batch.vehicles:
        out.append(
            (
                "INSERT OR REPLACE INTO cached_vehicle (registration_mark, tag_epc, mainland_plate, active, "
                "generation) VALUES (?,?,?,?,?)",
                [
                    (
                        normalise_mark(v.registration_mark),
                        v.tag_epc.upper() or None,
                        v.mainland_plate,
                        v.active,
                        generation,
                    )
                    for v in batch.vehicles
                ],
            )
        )
    if batch.drivers:
        out.append(
            (
                "INSERT OR REPLACE INTO cached_driver (document_number, card_number, name, active, "
                "generation) VALUES (?,?,?,?,?)",
                [
                    (d.document_number, d.card_number or None, d.name, d.active, generation)
                    for d in batch.drivers
                ],
            )
        )
    if batch.trips:
        out.append(
            (
                "INSERT OR REPLACE INTO cached_trip (reference, registration_mark, control_point, "
                "direction, status, slot_start, record, generation) VALUES (?,?,?,?,?,?,?,?)",
                [
                    (
                        t.reference,
                        normalise_mark(t.registration_mark),
                        t.control_point.upper(),
                        t.direction,
                        t.status,
                        t.slot_start.seconds + t.slot_start.nanos / 1e9,
                        t.SerializeToString(),
                        generation,
                    )
                    for t in batch.trips
                ],
            )
        )
    if batch.removed_trips:
        out.append(("DELETE FROM cached_trip WHERE reference=?", [(r,) for r in batch.removed_trips]))
    if batch.watchlist:
        out.append(
            (
                "INSERT OR REPLACE INTO cached_watchlist (id, subject, value, reason, action, generation) "
                "VALUES (?,?,?,?,?,?)",
                [
                    (w.id, w.subject, _watch_value(w.subject, w.value), w.reason, w.action, generation)
                    for w in batch.watchlist
                ],
            )
        )
    if batch.removed_watchlist:
        out.append(("DELETE FROM cached_watchlist WHERE id=?", [(i,) for i in batch.removed_watchlist]))
    if batch.HasField("lane_config"):
        out.append(
            (
                "UPDATE sync_state SET lane_config=? WHERE id=1",
                [(json.dumps(dict(batch.lane_config.settings), sort_keys=True),)],
            )
        )
    return out
