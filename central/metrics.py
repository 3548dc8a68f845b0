"""Central's Prometheus metrics (``rocars_central_*``) and the HTTP endpoint serving them.

One process: the default registry, served as it is. Several processes on one port
(``rocars-central --processes N``): the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``
before it starts the children, so prometheus_client writes every value to a per-process
file there (the value class is chosen when prometheus_client is first imported, which is
why the variable must be set before the process starts, not later). ``serve_metrics``
then answers from a fresh registry with a ``MultiProcessCollector`` that adds up every
process's files, the dead ones' counters included, and the supervisor calls
``mark_process_dead(pid)`` when a child exits so its live gauges drop out.

Gauge modes are chosen per gauge, since a gauge means something different summed:
- open sync streams: ``livesum`` (streams on every live process add up; a dead
  process's streams ended with it);
- change-log head and cache epoch: ``livemax`` (every process reads the same shared
  counter; the freshest reading is the truth, a dead process's stale one is not).

Labels are bounded sets: the RPC method (from the proto, ~60), the gRPC status code
name (17), a fixed list of authentication-failure reasons. Never a token, a name or an
id: a label value is stored forever and shown to whoever can scrape.
"""

from __future__ import annotations

import logging
import os
import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# RPCs take ~0.3 ms (a cached read) to tens of ms (a bundling under contention); a
# sync stream lasts up to its maximum age, so the top buckets reach minutes.
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 600.0)

RPCS = Counter(
    "rocars_central_rpcs_total", "RPCs finished, by method and gRPC status code", ["method", "code"]
)
RPC_LATENCY = Histogram(
    "rocars_central_rpc_duration_seconds",
    "Seconds from a call's start to its end (streams: the whole stream), by method",
    ["method"],
    buckets=RPC_BUCKETS,
)
# reason: one of AUTH_FAILURE_REASONS.
AUTH_FAILURES = Counter(
    "rocars_central_auth_failures_total",
    "Calls refused by authentication or authorisation, by reason",
    ["reason"],
)
AUTH_FAILURE_REASONS = (
    "missing_credentials",  # neither a bearer token nor a client certificate
    "malformed_token",  # not "Bearer rcs_..." or too long
    "unknown_token",  # unknown, revoked, or its account inactive
    "certificate",  # a client certificate not naming a registered, active lane where it says
    "role",  # authenticated, but the method does not allow the caller's role
    "method_closed",  # the method declares no roles (fail closed)
    "other",
)
SUBMISSIONS = Counter(
    "rocars_central_submissions_total", "Consignments filed (a replayed retry is not counted)"
)
AMENDMENTS = Counter("rocars_central_amendments_total", "Consignment amendments stored")
CANCELLATIONS = Counter("rocars_central_cancellations_total", "Consignments cancelled")
# action: bundle (a new trip), rebundle (a trip changed), unbundle.
BUNDLES = Counter(
    "rocars_central_bundles_total", "Trips bundled, changed or unbundled, by action", ["action"]
)
WRONG_CODES = Counter(
    "rocars_central_wrong_security_codes_total", "Driver security codes refused as wrong, reused or malformed"
)
LOCKOUTS = Counter(
    "rocars_central_security_code_lockouts_total", "Times a driver's codes were locked out after wrong codes"
)
CROSSINGS_INGESTED = Counter(
    "rocars_central_crossings_ingested_total",
    "Lane crossing events stored (duplicates of stored ones not counted)",
)
SYNC_STREAMS = Gauge(
    "rocars_central_sync_streams_open", "Lane sync streams open now", multiprocess_mode="livesum"
)
CHANGELOG_HEAD = Gauge(
    "rocars_central_changelog_head", "Highest committed change-log id seen", multiprocess_mode="livemax"
)
CACHE_EPOCH = Gauge(
    "rocars_central_cache_epoch",
    "Shared cache epoch last seen (moves when tokens, accounts or control points change)",
    multiprocess_mode="livemax",
)
# subject: consignment or trip; verdict: clear, inspect or hold. Counted when a stored
# assessment's effective verdict or reasons change (a first profile included), after its
# transaction commits: the changes the lanes are sent, not every re-score.
RISK_VERDICTS = Counter(
    "rocars_central_risk_verdicts_total",
    "Risk verdicts issued or changed, by subject and effective verdict",
    ["subject", "verdict"],
)
CACHE_INVALIDATIONS = Counter(
    "rocars_central_cache_invalidations_total",
    "Times this process dropped its token and control-point caches because the shared epoch moved",
)


def multiprocess_dir() -> str | None:
    """The multiprocess directory, or None in single-process mode."""
    return os.environ.get(MULTIPROC_ENV) or None


def mark_process_dead(pid: int) -> None:
    """Drop a dead child's live gauges (its counters and histograms stay in the sums).
    A no-op in single-process mode. Called by the supervisor when a child exits."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)


def _registry() -> CollectorRegistry:
    path = multiprocess_dir()
    if path is None:
        return REGISTRY
    if not os.path.isdir(path):
        raise ValueError(f"{MULTIPROC_ENV}: {path!r} is not a directory")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


class MetricsServer:
    """``/metrics`` over HTTP on one address. ``port`` is the bound port (useful with
    port 0); ``stop()`` is safe to call twice."""

    def __init__(self, server: WSGIServer, thread: threading.Thread, host: str) -> None:
        self._server: WSGIServer | None = server
        self._thread: threading.Thread | None = thread
        self._lock = threading.Lock()
        self.host = host
        self.port = int(server.server_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(2.0)


def parse_address(address: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (loopback) -> (host, port)."""
    host, sep, port_text = address.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"--metrics-listen: {address!r} must be host:port with a port of 0 to 65535")
    return host.strip("[]") or "127.0.0.1", int(port_text)


def serve_metrics(address: str) -> MetricsServer:
    """Serve ``/metrics`` on ``address`` from a daemon thread; every process's values
    when ``PROMETHEUS_MULTIPROC_DIR`` is set, this process's otherwise."""
    host, port = parse_address(address)
    server, thread = start_http_server(port, addr=host, registry=_registry())
    handle = MetricsServer(server, thread, host)
    log.info("metrics on %s (%s)", handle.url, "all processes" if multiprocess_dir() else "this process")
    return handle
