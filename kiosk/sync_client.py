"""The lane's sync client: keeps the local cache filled from central's feed.

One thread subscribes with the cursor stored in the cache and applies every message in
one transaction with its cursor, so a restart (or a crash) resumes exactly. Any end of
the stream is normal (central ends streams after a maximum age, replicas restart): the
client reconnects at once after a stream that delivered something, otherwise after a
backoff that doubles to a cap and resets on the next message. A watchdog cancels a
stream that has been silent for longer than ``silence_timeout_s`` (several heartbeats):
a half-open TCP connection must not look like a quiet feed.

Availability of the feed is state (logged once when lost, once when back), and the
cache's staleness (seconds since the last message, persisted in the cache so it is
right after a restart too) is both a method and a Prometheus gauge.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import grpc
from prometheus_client import Counter, Gauge

from drivers.base import Availability, Backoff
from kiosk.cache import CacheError, LaneCache, Prepared
from kiosk.tls import LaneTls, TlsConfigError
from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc

log = logging.getLogger(__name__)

STALENESS = Gauge(
    "rocars_lane_cache_staleness_seconds", "Seconds since the sync feed last said anything", ["lane"]
)
CONNECTED = Gauge("rocars_lane_sync_connected", "1 while the sync stream is delivering", ["lane"])
MESSAGES = Counter("rocars_lane_sync_messages_total", "Sync messages applied", ["lane", "kind"])

KEEPALIVE_OPTIONS = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 64 << 20),
]
_KIND_NAMES = {v: k.lower() for k, v in sync_pb2.SyncMessageKind.items()}


class SyncClient:
    def __init__(
        self,
        cache: LaneCache,
        target: str,
        tls: LaneTls,
        lane_id: str,
        *,
        backoff: Backoff | None = None,
        silence_timeout_s: float = 20.0,
        on_message: Callable[[sync_pb2.SyncMessage], None] | None = None,
    ) -> None:
        self.cache = cache
        self.target = target
        self.tls = tls
        self.lane_id = lane_id
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.silence_timeout_s = silence_timeout_s
        self.on_message = on_message
        self.availability = Availability(f"sync feed {lane_id}", logger=log)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._call: grpc.Future | None = None  # the live stream, for the watchdog
        self._call_lock = threading.Lock()
        self._last_message = time.monotonic()
        self.messages_applied = 0
        STALENESS.labels(lane_id).set_function(self._staleness_metric)
        CONNECTED.labels(lane_id).set_function(lambda: 1.0 if self.availability.available else 0.0)

    def staleness_s(self) -> float | None:
        return self.cache.staleness_s()

    def _staleness_metric(self) -> float:
        value = self.staleness_s()
        return float("inf") if value is None else value  # never synced: infinitely stale

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"sync-{self.lane_id}", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and wait for the thread; safe to call twice."""
        self._stop.set()
        self._cancel_call()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _cancel_call(self) -> None:
        with self._call_lock:
            if self._call is not None:
                self._call.cancel()

    def _request(self) -> sync_pb2.SubscribeRequest:
        direction = common_pb2.IMPORT if self.cache.direction.value == "import" else common_pb2.EXPORT
        return sync_pb2.SubscribeRequest(
            lane_id=self.lane_id,
            control_point=self.cache.control_point,
            direction=direction,
            cursor=self.cache.cursor(),
        )

    def _run(self) -> None:
        watchdog = threading.Thread(target=self._watchdog, name=f"sync-watchdog-{self.lane_id}", daemon=True)
        watchdog.start()
        while not self._stop.is_set():
            delivered = self._one_stream()
            if self._stop.is_set():
                break
            if not delivered:
                self._stop.wait(self.backoff.next())

    def _one_stream(self) -> bool:
        """Subscribe once and apply until the stream ends; True if anything arrived.

        Two threads per stream: this one receives and builds each message's rows, an
        applier commits them in order, so Python work on message N+1 overlaps SQLite's
        work on message N (a 50,000-trip cold start is bound by exactly that). The queue
        is drained before resubscribing, so the cursor sent is the last one committed.
        """
        delivered = False
        try:
            credentials = self.tls.credentials()
        except TlsConfigError as exc:
            self.availability.set_unavailable(str(exc))
            return False
        channel = grpc.secure_channel(
            self.target, credentials, options=[*KEEPALIVE_OPTIONS, *self.tls.channel_options()]
        )
        pending: queue.Queue[tuple[Prepared, sync_pb2.SyncMessage] | None] = queue.Queue(maxsize=4)
        failures: list[CacheError] = []
        applier = threading.Thread(
            target=self._apply_all, args=(pending, failures), name=f"sync-apply-{self.lane_id}", daemon=True
        )
        applier.start()
        try:
            call = sync_pb2_grpc.LaneSyncStub(channel).Subscribe(self._request())
            with self._call_lock:
                self._call = call  # type: ignore[assignment]
            self._last_message = time.monotonic()
            for message in call:
                if failures:
                    break
                pending.put((self.cache.prepare(message), message))
                self._last_message = time.monotonic()
                delivered = True
                self.backoff.reset()
                self.availability.set_available()
            log.debug("sync stream ended; resuming from the stored cursor")
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            reason = f"{getattr(code, 'name', code)}: {exc.details() if hasattr(exc, 'details') else exc}"
            if not self._stop.is_set() and not failures:
                self.availability.set_unavailable(reason)
        finally:
            pending.put(None)
            applier.join()
            with self._call_lock:
                self._call = None
            channel.close()
        if failures:
            # A message that does not fit the cache (e.g. a snapshot chunk after a broken
            # stream): nothing of it was applied; resubscribe from the stored cursor.
            log.warning("sync message refused by the cache: %s", failures[0])
            self.availability.set_unavailable(f"cache refused a message: {failures[0]}")
            return False
        return delivered

    def _apply_all(
        self, pending: queue.Queue[tuple[Prepared, sync_pb2.SyncMessage] | None], failures: list[CacheError]
    ) -> None:
        while (item := pending.get()) is not None:
            if failures:
                continue  # drain: nothing after a refused message may be applied
            prepared, message = item
            try:
                self.cache.commit(prepared)
            except CacheError as exc:
                failures.append(exc)
                self._cancel_call()
                continue
            self.messages_applied += 1
            MESSAGES.labels(self.lane_id, _KIND_NAMES.get(message.kind, "unknown")).inc()
            if self.on_message is not None:
                self.on_message(message)

    def _watchdog(self) -> None:
        while not self._stop.wait(min(1.0, self.silence_timeout_s / 4)):
            with self._call_lock:
                live = self._call is not None
            if live and time.monotonic() - self._last_message > self.silence_timeout_s:
                log.warning("sync feed silent for %.0f s; reconnecting", self.silence_timeout_s)
                self.availability.set_unavailable("feed silent (no heartbeat)")
                self._cancel_call()
