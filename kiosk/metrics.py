"""The kiosk's Prometheus metrics (``rocars_kiosk_*``) and the HTTP endpoint serving them.

Labelled by lane, so one process running several lanes exposes them all on one port.
Gauges that mirror state another object holds (cache staleness, outbox depth) read it at
scrape time through ``set_function``: a scrape never sees a value the lane forgot to push.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

CROSSINGS = Counter(
    "rocars_kiosk_crossings_total", "Lane decisions recorded, by outcome", ["lane", "outcome"]
)
# Decision latency: from the vehicle's arrival on the arming loop to the decision.
DECISION_LATENCY = Histogram(
    "rocars_kiosk_decision_latency_seconds",
    "Seconds from a vehicle's arrival to the lane's decision",
    ["lane"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 60.0, 120.0),
)
# Command handling: from an event being taken off the queue to its commands executed.
EVENT_LATENCY = Histogram(
    "rocars_kiosk_event_handling_seconds",
    "Seconds to journal one event and execute its commands",
    ["lane"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
DEVICE_AVAILABLE = Gauge(
    "rocars_kiosk_device_available", "1 while a lane device is available, 0 while faulty", ["lane", "device"]
)
CACHE_STALENESS = Gauge(
    "rocars_kiosk_cache_staleness_seconds",
    "Seconds since the local cache last heard from central (+Inf: never)",
    ["lane"],
)
OUTBOX_DEPTH = Gauge(
    "rocars_kiosk_outbox_depth", "Crossing events recorded but not yet acknowledged by central", ["lane"]
)
ALARMS = Counter("rocars_kiosk_alarms_total", "Lane alarms raised, by kind", ["lane", "kind"])
OUTPUT_FAILURES = Counter(
    "rocars_kiosk_output_failures_total", "Barrier/light/sign commands the I/O module did not take", ["lane"]
)
LOOP_ALIVE = Gauge(
    "rocars_kiosk_control_loop_heartbeat_timestamp_seconds",
    "Wall-clock time of the lane control loop's last turn",
    ["lane"],
)
PHASE = Gauge("rocars_kiosk_lane_phase", "1 for the lane's current phase", ["lane", "phase"])


def bind_lane(lane: str, staleness: Callable[[], float], outbox_depth: Callable[[], float]) -> None:
    CACHE_STALENESS.labels(lane).set_function(staleness)
    OUTBOX_DEPTH.labels(lane).set_function(outbox_depth)


class MetricsServer:
    """``/metrics`` on ``host:port`` (port 0: any free port, logged). ``stop()`` safe twice."""

    def __init__(self, listen: str) -> None:
        host, _, port = listen.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self.requested_port = int(port)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def start(self) -> int:
        server, thread = start_http_server(self.requested_port, addr=self.host)
        self._server, self._thread = server, thread
        self.port = int(server.server_port)
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self.port

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(2.0)
