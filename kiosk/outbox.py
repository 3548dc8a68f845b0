"""The crossing-event outbox: every lane decision reaches central, once, in order.

``Outbox.record(...)`` writes the lane's own record of the decision and its outbox event
in one SQLite transaction (``synchronous=FULL``) and returns only after the commit, so
the kiosk moves the barrier only once the event is durable. A sender thread delivers
pending events oldest first, in batches, each with its idempotency key; central stores
each key once, so a batch resent after a lost reply (or a kiosk killed between sending
and marking) is acknowledged as duplicates and changes nothing. Delivery retries with a
backoff doubling to a cap, reset on success; the outbox simply grows while central is
away.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import peewee
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import Gauge

from drivers.base import Availability, Backoff
from kiosk.cache import LaneCache
from kiosk.tls import LaneTls, TlsConfigError
from lanes.commands import CrossingRecord, Outcome
from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc

log = logging.getLogger(__name__)

PENDING = Gauge("rocars_lane_outbox_pending", "Crossing events not yet acknowledged by central", ["lane"])

_OUTCOMES = {
    Outcome.RELEASED: sync_pb2.CROSSING_RELEASED,
    Outcome.INSPECTION: sync_pb2.CROSSING_SENT_TO_INSPECTION,
    Outcome.REFERRED: sync_pb2.CROSSING_REFERRED_TO_OFFICER,
    Outcome.OFFICER_OVERRIDE: sync_pb2.CROSSING_OFFICER_OVERRIDE,
    Outcome.INSPECTION_RESULT: sync_pb2.CROSSING_INSPECTION_RESULT,
}
_VERDICTS = {"clear": common_pb2.CLEAR, "inspect": common_pb2.INSPECT, "hold": common_pb2.HOLD}


class OutboxError(RuntimeError):
    """The event cannot be recorded (nothing was written)."""


def _stamp(epoch_s: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(epoch_s * 1e9))
    return stamp


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def to_event(record: CrossingRecord) -> sync_pb2.CrossingEvent:
    """The wire form of a lane decision record."""
    event = sync_pb2.CrossingEvent(
        idempotency_key=record.idempotency_key,
        lane_id=record.lane_id,
        sequence=record.sequence,
        outcome=_OUTCOMES[record.outcome],
        trip_reference=record.trip_id or "",
        registration_mark=record.registration_mark or "",
        tag_epc=record.tag_epc or "",
        driver_document_number=record.driver_id or "",
        occurred_at=_stamp(record.decided_at),
        reasons=[r.code for r in record.reasons],
        officer_id=record.officer_id or "",
        detail_json=json.dumps(_jsonable(record), ensure_ascii=False, sort_keys=True),
    )
    if record.outcome == Outcome.OFFICER_OVERRIDE and record.verdict is not None:
        event.override_verdict = _VERDICTS[record.verdict.value]  # type: ignore[assignment]
    if record.outcome == Outcome.INSPECTION_RESULT:
        event.inspection_result = record.note[:32]
    return event


class Outbox:
    """The outbox table lives in the lane's cache database (one file, one transaction)."""

    def __init__(self, cache: LaneCache, lane_id: str) -> None:
        self.cache = cache
        self.lane_id = lane_id
        db = cache.db

        class OutboxEvent(peewee.Model):
            seq = peewee.AutoField()
            idempotency_key = peewee.CharField(unique=True)
            event = peewee.BlobField()  # serialised CrossingEvent
            created_at = peewee.FloatField()
            delivered_at = peewee.FloatField(null=True, index=True)
            attempts = peewee.IntegerField(default=0)

            class Meta:
                database = db
                table_name = "outbox_event"

        self.Event: Any = OutboxEvent
        with db.atomic():
            db.create_tables([OutboxEvent], safe=True)
        self._wake = threading.Event()
        PENDING.labels(lane_id).set_function(lambda: float(self.pending_count()))

    def record(self, record: CrossingRecord, also: Callable[[], None] | None = None) -> int:
        """Durably write the decision and its event (and ``also``, in the same
        transaction); returns the outbox sequence. Raises OutboxError on a reused key."""
        event = to_event(record)
        return self.record_event(
            event,
            outcome=record.outcome.value,
            decided_at=record.decided_at,
            detail=event.detail_json,
            also=also,
        )

    def record_event(
        self,
        event: sync_pb2.CrossingEvent,
        *,
        outcome: str,
        decided_at: float,
        detail: str = "{}",
        also: Callable[[], None] | None = None,
    ) -> int:
        if not event.idempotency_key:
            raise OutboxError("crossing.idempotency_key: required")
        try:
            with self.cache._write_lock:
                # Durable before the barrier moves (the cache's applies use NORMAL).
                self.cache.db.execute_sql("PRAGMA synchronous=FULL")
                with self.cache.db.atomic():
                    seq = self._write(event, outcome, decided_at, detail)
                    if also is not None:
                        also()
        except peewee.IntegrityError as exc:
            raise OutboxError(
                f"crossing.idempotency_key: {event.idempotency_key!r} already recorded (keys must be unique)"
            ) from exc
        self._wake.set()
        return seq

    def _write(self, event: sync_pb2.CrossingEvent, outcome: str, decided_at: float, detail: str) -> int:
        self.cache.m.LaneCrossing.create(
            idempotency_key=event.idempotency_key,
            outcome=outcome,
            trip_reference=event.trip_reference or None,
            decided_at=decided_at,
            record=detail,
        )
        row = self.Event.create(
            idempotency_key=event.idempotency_key, event=event.SerializeToString(), created_at=time.time()
        )
        return int(row.seq)

    def new_key(self) -> str:
        """A key unique across re-installs of this lane: lane id, random, time."""
        return f"{self.lane_id}-{secrets.token_hex(4)}-{time.time_ns():x}"

    def pending(self, limit: int) -> list[tuple[int, sync_pb2.CrossingEvent]]:
        E = self.Event
        rows = E.select(E.seq, E.event).where(E.delivered_at.is_null()).order_by(E.seq).limit(limit).tuples()
        return [(seq, sync_pb2.CrossingEvent.FromString(bytes(blob))) for seq, blob in rows]

    def mark_delivered(self, seqs: list[int], rejected: bool = False) -> None:
        """Acknowledged by central (or, ``rejected``, refused as malformed: kept, with
        attempts = -1, for a technician)."""
        E = self.Event
        with self.cache._write_lock, self.cache.db.atomic():
            E.update(delivered_at=time.time(), attempts=-1 if rejected else E.attempts + 1).where(
                E.seq.in_(seqs)
            ).execute()

    def rejected_count(self) -> int:
        return int(self.Event.select().where(self.Event.attempts == -1).count())

    def pending_count(self) -> int:
        return int(self.Event.select().where(self.Event.delivered_at.is_null()).count())

    def delivered_count(self) -> int:
        return int(self.Event.select().where(self.Event.delivered_at.is_null(False)).count())


class OutboxSender:
    """Delivers the outbox to central in order; one thread; ``stop()`` safe twice."""

    def __init__(
        self,
        outbox: Outbox,
        target: str,
        tls: LaneTls,
        *,
        batch_size: int = 100,
        call_timeout_s: float = 10.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.outbox = outbox
        self.target = target
        self.tls = tls
        self.batch_size = batch_size
        self.call_timeout_s = call_timeout_s
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.availability = Availability(f"outbox delivery {outbox.lane_id}", logger=log)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.duplicates = 0
        self.rejected = 0

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"outbox-{self.outbox.lane_id}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.outbox._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        channel: grpc.Channel | None = None
        try:
            while not self._stop.is_set():
                batch = self.outbox.pending(self.batch_size)
                if not batch:
                    self.outbox._wake.wait(1.0)
                    self.outbox._wake.clear()
                    continue
                try:
                    if channel is None:
                        channel = grpc.secure_channel(
                            self.target, self.tls.credentials(), options=self.tls.channel_options()
                        )
                    self._send(channel, batch)
                    self.backoff.reset()
                    self.availability.set_available()
                except (grpc.RpcError, TlsConfigError) as exc:
                    code = exc.code() if isinstance(exc, grpc.RpcError) and hasattr(exc, "code") else exc
                    self.availability.set_unavailable(f"{getattr(code, 'name', code)}")
                    if channel is not None:
                        channel.close()
                    channel = None
                    self._stop.wait(self.backoff.next())
        finally:
            if channel is not None:
                channel.close()

    def _send(self, channel: grpc.Channel, batch: list[tuple[int, sync_pb2.CrossingEvent]]) -> None:
        try:
            self._post(channel, batch)
        except grpc.RpcError as exc:
            if not (hasattr(exc, "code") and exc.code() == grpc.StatusCode.INVALID_ARGUMENT):
                raise
            if len(batch) > 1:  # find the malformed one; the others go through
                for item in batch:
                    self._send(channel, [item])
                return
            # Central will never accept this one: keep it here (rejected) rather than
            # block every later decision behind it for ever.
            log.error("crossing event %s rejected by central: %s", batch[0][1].idempotency_key, exc.details())
            self.outbox.mark_delivered([batch[0][0]], rejected=True)
            self.rejected += 1

    def _post(self, channel: grpc.Channel, batch: list[tuple[int, sync_pb2.CrossingEvent]]) -> None:
        stub = sync_pb2_grpc.LaneSyncStub(channel)
        reply = stub.PostCrossingEvents(
            sync_pb2.PostCrossingEventsRequest(events=[e for _, e in batch]), timeout=self.call_timeout_s
        )
        acked = {a.idempotency_key for a in reply.acks}
        seqs = [seq for seq, e in batch if e.idempotency_key in acked]
        self.outbox.mark_delivered(seqs)
        self.delivered += len(seqs)
        self.duplicates += sum(1 for a in reply.acks if a.duplicate)
