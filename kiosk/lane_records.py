"""A lane's decisions into its outbox: durable before the barrier moves, retried until written.

Split out of ``kiosk.runner``. ``record`` writes a decision and its outbox event in one
SQLite transaction. If that fails the vehicle is held (``outputs.blocked``: the barrier
does not go up, the lights stay red) and the runner calls ``retry`` every tick; the journal
already holds the decision, and does not rotate until it is written (a restart re-offers
only the current journal file's decisions). Keys make re-offering idempotent.
"""

from __future__ import annotations

import contextlib
import logging

from kiosk import metrics
from kiosk.cache import LaneCache
from kiosk.outbox import Outbox, OutboxError
from kiosk.outputs import Outputs
from lanes.commands import CrossingRecord

log = logging.getLogger(__name__)


class DecisionRecorder:
    def __init__(self, lane_id: str, cache: LaneCache, outbox: Outbox, outputs: Outputs) -> None:
        self.lane_id = lane_id
        self.cache = cache
        self.outbox = outbox
        self.outputs = outputs
        self.unrecorded: list[CrossingRecord] = []

    def recorded(self, key: str) -> bool:
        X = self.cache.m.LaneCrossing
        return bool(X.select().where(X.idempotency_key == key).exists())

    def next_sequence(self, at_least: int) -> int:
        """One past the highest sequence of this lane's records in the outbox (or ``at_least``)."""
        X = self.cache.m.LaneCrossing
        highest = 0
        prefix = f"{self.lane_id}:"
        for (key,) in X.select(X.idempotency_key).where(X.idempotency_key.startswith(prefix)).tuples():
            with contextlib.suppress(ValueError):
                highest = max(highest, int(key[len(prefix) :]))
        return max(highest + 1, at_least)

    def record(self, record: CrossingRecord, *, restoring: bool = False, retry: bool = False) -> None:
        key = record.idempotency_key
        if restoring and self.recorded(key):
            return
        try:
            self.outbox.record(record)
        except Exception as exc:
            # A duplicate key is success only if the record really is there: any other
            # refusal (a full disk, a failing constraint) holds the vehicle until it is written.
            with contextlib.suppress(Exception):
                if isinstance(exc, OutboxError) and self.recorded(key):
                    log.info("lane %s: decision %s already recorded", self.lane_id, key)
                    return
            if not retry:
                log.error(
                    "lane %s: decision %s not recorded yet (%s); the lane holds the vehicle, retrying",
                    self.lane_id,
                    key,
                    exc,
                )
            self.unrecorded.append(record)
            self.outputs.blocked = True
            return
        if restoring:
            log.warning("lane %s: decision %s restored from the journal into the outbox", self.lane_id, key)
            return
        if retry:
            log.info("lane %s: decision %s recorded after all", self.lane_id, key)
        metrics.CROSSINGS.labels(self.lane_id, str(record.outcome)).inc()
        if record.arrived_at is not None:
            latency = max(0.0, record.decided_at - record.arrived_at)
            metrics.DECISION_LATENCY.labels(self.lane_id).observe(latency)
        reasons = ", ".join(r.code for r in record.reasons)
        log.info("lane %s decision %s: %s (%s)", self.lane_id, key, record.outcome, reasons)

    def retry(self) -> None:
        records, self.unrecorded = self.unrecorded, []
        for record in records:
            self.record(record, retry=True)
        if not self.unrecorded:
            self.outputs.blocked = False
