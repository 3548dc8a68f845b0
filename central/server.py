"""``rocars-central``: the central gRPC server.

    rocars-central --listen 127.0.0.1:50051 --database sqlite:///var/lib/rocars/central.db
    rocars-central --listen 0.0.0.0:443 --tls-cert s.pem --tls-key s.key \
                   --lane-listen 0.0.0.0:8443 --client-ca lanes-ca.pem \
                   --database postgresql://rocars@db/rocars

Two listeners because gRPC's server TLS either requires a client certificate or does
not ask for one: ``--listen`` serves people and their systems (bearer tokens; TLS
optional, for a terminating proxy or a loopback test), ``--lane-listen`` serves lanes
and e-lock gateways with mutual TLS required. The same servicers answer on both; the
auth interceptor decides by role.

Tests and other areas start it in-process with :func:`start_server`, which returns a
handle with ``.port``, ``.lane_port`` and ``.stop()``.

Workers: each listener has its own gRPC server object and thread pool (the servicers
are shared), because their calls differ:
- the lane listener's pool is ``expected_lanes + 16`` (``[central].expected_lanes``,
  default 48): every subscribed lane's sync stream holds one thread for as long as it
  lasts (up to the feed's ``max_stream_age_s``), plus headroom for posted crossing
  events. ``--lane-workers`` overrides it; a value below that is accepted with a
  warning, because lanes beyond it would queue behind each other's streams.
- the token listener serves only short unary calls, which on SQLite are CPU work under
  one interpreter lock: more threads than calls that can run only add lock hand-offs.
  Measured with ``bench/central_submit.py``'s load in one process, 2 threads instead of
  16 took about 20 % less server CPU per submission (half the system time) and filed
  15-25 % more per second; echo gained too. The default (``[central].call_workers``,
  0 = auto) is 4 on SQLite and 16 on PostgreSQL, where a call mostly waits for the
  database server; ``--call-workers`` overrides it. Calls beyond the pool queue in
  gRPC (up to 64 per thread, at least 1024; then RESOURCE_EXHAUSTED).

Shutdown: SIGTERM (or ``stop()``) first marks the server as stopping, which ends every
lane stream at once with a normal end (the lane resumes from its cursor on another
replica), then drains the remaining calls within the grace. Connections are recycled
after the feed's maximum stream age (``grpc.max_connection_age_ms``, with a grace one
stream age long) so a load balancer that holds TCP connections still rebalances lanes.

Processes: ``--processes N`` (or ``auto``: one per CPU) runs N copies of this server on
the same port under a small supervisor (central.supervisor); the default, 1, is one
process as before. ``--metrics-listen ADDRESS`` serves Prometheus metrics
(central.metrics; from the supervisor, aggregated over its children, with N > 1).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import tomllib
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from central import logs, supervisor
from central.api.auth import AuthInterceptor
from central.api.registry import ServerConfig, ServerContext, add_servicers
from central.clock import Clock, SystemClock
from central.services import registration, tokens
from central.services.epoch import shared_epoch
from central.store.db import WalCheckpointer, close_all, is_sqlite, release_connection
from central.store.schema import SCHEMA_VERSION, current_version, init_database
from central.sync.feed import FeedConfig

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: far above any real request, far below harm

GRPC_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", 16 * MAX_MESSAGE_BYTES),
    # Lanes keep a stream open for hours and ping it; accept their keepalives.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
]
HEADROOM_WORKERS = 16  # lane-listener threads for unary calls beyond the lanes' streams
CALL_WORKERS_SQLITE = 4
CALL_WORKERS_OTHER = 16


def default_workers(config: ServerConfig) -> int:
    """The lane listener's pool: a thread per expected lane's stream, plus headroom."""
    return config.expected_lanes + HEADROOM_WORKERS


def _sqlite_url(database_url: str) -> bool:
    return "://" not in database_url or database_url.startswith("sqlite://")


def default_call_workers(config: ServerConfig, database_url: str) -> int:
    """The token listener's pool: ``[central].call_workers``, or by database when 0."""
    if config.call_workers:
        return config.call_workers
    return CALL_WORKERS_SQLITE if _sqlite_url(database_url) else CALL_WORKERS_OTHER


class _AllServers:
    """Hands every servicer registration to each listener's server: the generated
    ``add_*_to_server`` functions, health and reflection call only these two methods,
    so the servicers (and their background threads) exist once."""

    def __init__(self, servers: list[grpc.Server]) -> None:
        self.servers = servers

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        for server in self.servers:
            server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        for server in self.servers:
            server.add_registered_method_handlers(service_name, method_handlers)  # type: ignore[attr-defined]  # grpcio >= 1.63; not in grpc-stubs


def server_options(config: ServerConfig, reuse_port: bool = False) -> list[tuple[str, Any]]:
    """The fixed options plus connection ageing matched to the feed's stream age.

    A lane's stream ends by itself after ``max_stream_age_s``; the connection under it
    is then sent GOAWAY at about the same age (gRPC adds +-10 % jitter), and the grace
    of one more stream age lets a stream that began just before finish normally. The
    lane reconnects, and the load balancer may place it on another replica.

    SO_REUSEPORT only for a supervised child: otherwise a second server started on the
    same port by mistake would silently share its traffic instead of failing to bind.
    """
    sync = config.extra.get("sync", {})
    age_s = float(sync.get("max_stream_age_s", FeedConfig.max_stream_age_s))
    return [
        *GRPC_OPTIONS,
        ("grpc.so_reuseport", int(reuse_port)),
        ("grpc.max_connection_age_ms", int(age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(age_s * 1000) + 30_000),
    ]


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None = None

    def server_credentials(self, require_client_cert: bool) -> grpc.ServerCredentials:
        if require_client_cert and self.client_ca is None:
            raise ValueError("--client-ca is required for the lane listener (mutual TLS)")
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.client_ca.read_bytes() if require_client_cert and self.client_ca else None,
            require_client_auth=require_client_cert,
        )


class ServerHandle:
    """A running server. ``stop()`` is safe to call twice."""

    def __init__(
        self,
        servers: list[grpc.Server],
        ctx: ServerContext,
        port: int,
        lane_port: int | None,
        health_servicer: health.HealthServicer,
    ) -> None:
        self.servers = servers  # the token listener's, then the lane listener's if any
        self.ctx = ctx
        self.port = port
        self.lane_port = lane_port
        self._health = health_servicer
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, grace: float = 5.0) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        # Tell load balancers first, then let calls in flight finish within the grace.
        self._health.enter_graceful_shutdown()
        # Streams end first (they would otherwise hold the whole grace), then calls drain.
        self.ctx.stopping.set()
        for callback in self.ctx.stopping_callbacks:
            try:
                callback()
            except Exception:
                log.exception("stopping callback %r failed", callback)
        stopped = [server.stop(grace) for server in self.servers]  # both drain at once
        for event in stopped:
            event.wait(grace + 5)
        for callback in reversed(self.ctx.shutdown_callbacks):
            try:
                callback()
            except Exception:  # one area's failure must not keep the others running
                log.exception("shutdown callback %r failed", callback)
        close_all()
        log.info("server stopped")

    def wait(self) -> None:
        for server in self.servers:
            server.wait_for_termination()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# Settings with a range (inclusive); the type is checked for every setting.
CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "token_cache_seconds": (0, 3600),
    "cache_epoch_poll_seconds": (0, 60),
    "expected_lanes": (0, 10_000),
    "call_workers": (0, 1024),
}


def check_config(config: ServerConfig) -> None:
    """Raise ValueError naming the first setting outside its range."""
    for name, (low, high) in CONFIG_RANGES.items():
        value = getattr(config, name)
        if not low <= value <= high:
            raise ValueError(f"config [central].{name}: must be between {low:g} and {high:g}, not {value!r}")


def load_config(path: Path | None) -> ServerConfig:
    config = ServerConfig()
    if path is None:
        return config
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    table = data.get("central", {})
    known = {f.name: f for f in fields(ServerConfig)}
    for key, value in table.items():
        if key not in known or key == "extra":
            raise ValueError(f"config [central].{key}: unknown setting")
        expected = type(getattr(config, key))
        if not isinstance(value, expected) and not (expected is float and isinstance(value, int)):
            raise ValueError(f"config [central].{key}: must be {expected.__name__}")
        setattr(config, key, value)
    config.extra = {k: v for k, v in data.items() if k != "central"}
    check_config(config)
    return config


def _bind(server: grpc.Server, address: str, credentials: grpc.ServerCredentials | None) -> int:
    port = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return port


def start_server(
    database_url: str,
    *,
    listen: str = "127.0.0.1:0",
    lane_listen: str | None = None,
    tls: TlsFiles | None = None,
    clock: Clock | None = None,
    config: ServerConfig | None = None,
    call_workers: int | None = None,
    lane_workers: int | None = None,
    modules: list[str] | None = None,
    reuse_port: bool = False,
    migrate: bool = True,
) -> ServerHandle:
    """Open (and migrate) the database, register every servicer, start listening.

    One process serves one database: the models bind to a process-wide proxy.
    ``call_workers`` (the token listener's threads) defaults to
    :func:`default_call_workers`, ``lane_workers`` to :func:`default_workers`.
    ``reuse_port`` binds with SO_REUSEPORT (a supervised child: siblings share the
    port); ``migrate=False`` only checks that the schema is current (its supervisor
    migrated it).
    """
    config = config or ServerConfig()
    check_config(config)
    if call_workers is None:
        call_workers = default_call_workers(config, database_url)
    elif call_workers < 1:
        raise ValueError("--call-workers: must be at least 1")
    wanted = default_workers(config)
    if lane_workers is None:
        lane_workers = wanted
    elif lane_workers < 1:
        raise ValueError("--lane-workers: must be at least 1")
    elif lane_workers < wanted and lane_listen is not None:
        log.warning(
            "%d lane workers for %d expected lanes: lanes beyond %d will wait for a thread "
            "(each sync stream holds one); use at least %d",
            lane_workers,
            config.expected_lanes,
            max(0, lane_workers - HEADROOM_WORKERS),
            wanted,
        )
    tokens.token_cache.ttl_s = config.token_cache_seconds
    shared_epoch.poll_s = config.cache_epoch_poll_seconds
    tokens.token_cache.clear()
    registration.reset_caches()
    database = init_database(database_url, create=migrate)
    if not migrate and (version := current_version(database)) != SCHEMA_VERSION:
        raise ValueError(f"database schema is at version {version}, this server needs {SCHEMA_VERSION}")
    release_connection()  # the start-up thread's connection goes back to the pool
    ctx = ServerContext(database=database, clock=clock or SystemClock(), config=config)
    if is_sqlite(database) and database.database != ":memory:":
        checkpointer = WalCheckpointer(str(database.database))
        checkpointer.start()
        ctx.on_shutdown(checkpointer.stop)
    if lane_listen is not None and tls is None:
        raise ValueError("--lane-listen needs --tls-cert, --tls-key and --client-ca (mutual TLS)")
    interceptor = AuthInterceptor()
    pools = [("rpc", call_workers)] + ([("lane-rpc", lane_workers)] if lane_listen is not None else [])
    servers = [
        grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=prefix),
            interceptors=[interceptor],
            options=server_options(config, reuse_port),
            maximum_concurrent_rpcs=max(workers * 64, 1024),
        )
        for prefix, workers in pools
    ]
    server = _AllServers(servers)
    add_servicers(server, ctx, modules)  # type: ignore[arg-type]  # duck-typed: see _AllServers
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ["", *ctx.service_names]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [
            *ctx.service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,  # type: ignore[arg-type]
    )
    port = _bind(servers[0], listen, tls.server_credentials(False) if tls else None)
    lane_port = None
    if lane_listen is not None:
        assert tls is not None
        lane_port = _bind(servers[1], lane_listen, tls.server_credentials(True))
    for each in servers:
        each.start()
    log.info(
        "central listening",
        extra={
            "port": port,
            "lane_port": lane_port,
            "services": ctx.service_names,
            "call_workers": call_workers,
            "lane_workers": lane_workers if lane_listen is not None else 0,
        },
    )
    return ServerHandle(servers, ctx, port, lane_port, health_servicer)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rocars-central", description="ROCARS central gRPC server")
    p.add_argument(
        "--listen", default="127.0.0.1:50051", help="address for token clients (default %(default)s)"
    )
    p.add_argument("--lane-listen", help="address for lanes and e-lock gateways (mutual TLS)")
    p.add_argument(
        "--database", default="sqlite:///rocars-central.db", help="sqlite:///path or postgresql://..."
    )
    p.add_argument("--tls-cert", type=Path)
    p.add_argument("--tls-key", type=Path)
    p.add_argument("--client-ca", type=Path, help="CA that issues lane and gateway certificates")
    p.add_argument("--config", type=Path, help="TOML file; settings in its [central] table")
    p.add_argument(
        "--call-workers",
        type=int,
        help="threads answering the token listener (default [central].call_workers; 0: 4 on SQLite, 16 else)",
    )
    p.add_argument(
        "--lane-workers",
        type=int,
        help="threads answering the lane listener (default [central].expected_lanes + 16: one per stream)",
    )
    p.add_argument("--log-level", default="info")
    p.add_argument("--plain-logs", action="store_true", help="human-readable logs instead of JSON lines")
    p.add_argument(
        "--processes",
        default="1",
        help="server processes sharing the port(s), or 'auto' for one per CPU (default %(default)s)",
    )
    p.add_argument("--metrics-listen", help="address for Prometheus /metrics (e.g. 127.0.0.1:9464)")
    # A child of the supervisor: binds with SO_REUSEPORT, leaves migration and metrics to
    # the supervisor, and stops when the supervisor goes away.
    p.add_argument("--supervised", type=int, metavar="SUPERVISOR_PID", help=argparse.SUPPRESS)
    return p


class _WorkerPid(logging.Filter):
    """Adds ``worker_pid`` to every record: which of the supervisor's children logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.worker_pid = os.getpid()
        return True


def _shared_keys_problem(database: str, config: ServerConfig) -> str | None:
    """Several processes must share the risk keys (random selection must not depend on
    which process took the call, and the audit chain needs one key). On SQLite the key
    file defaults to one beside the database; elsewhere it must be configured, or every
    process would invent its own throw-away keys."""
    from central.risk.runtime import KEY_FILE_ENV, configured_key_file

    configured = configured_key_file(config.extra)
    if configured or (_sqlite_url(database) and ":memory:" not in database):
        return None
    return (
        f"--processes: several processes need one risk key file: set [risk] key_file in "
        f"--config or ${KEY_FILE_ENV}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level, json_lines=not args.plain_logs)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("rocars-central: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    tls = TlsFiles(args.tls_cert, args.tls_key, args.client_ca) if args.tls_cert else None
    try:
        processes = supervisor.resolve_processes(args.processes)
    except ValueError as exc:
        print(f"rocars-central: {exc}", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)  # before any child starts: a bad file fails at once
    except (OSError, ValueError) as exc:
        print(f"rocars-central: {exc}", file=sys.stderr)
        return 1
    supervised = args.supervised is not None
    if processes > 1 or supervised:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_WorkerPid())
    if processes > 1 and not supervised:
        problem = _shared_keys_problem(args.database, config)
        if problem:
            print(f"rocars-central: {problem}", file=sys.stderr)
            return 2
        return supervisor.run(
            argv, processes, args.database, args.listen, args.lane_listen, args.metrics_listen
        )
    metrics = None
    try:
        handle = start_server(
            args.database,
            listen=args.listen,
            lane_listen=args.lane_listen,
            tls=tls,
            config=config,
            call_workers=args.call_workers,
            lane_workers=args.lane_workers,
            reuse_port=supervised,
            migrate=not supervised,
        )
    except (OSError, ValueError) as exc:
        print(f"rocars-central: {exc}", file=sys.stderr)
        return 1
    if args.metrics_listen and not supervised:  # a supervisor serves its children's
        from central import metrics as metrics_module  # lazily: only with the flag

        try:
            metrics = metrics_module.serve_metrics(args.metrics_listen)
        except (OSError, ValueError) as exc:
            handle.stop(grace=0)
            print(f"rocars-central: --metrics-listen {args.metrics_listen}: {exc}", file=sys.stderr)
            return 1
    done = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # Machine-readable start-up line for supervisors and tests that pass port 0.
    extra = f" metrics_port={metrics.port}" if metrics is not None else ""
    print(f"LISTENING port={handle.port} lane_port={handle.lane_port or 0}{extra}", flush=True)
    # A timed wait keeps the main thread responsive to signals; a supervised child also
    # stops when its supervisor is gone (it was killed and cannot forward a signal).
    while not done.wait(1.0):
        if supervised and os.getppid() != args.supervised:
            log.error("supervisor %d gone: shutting down", args.supervised)
            break
    handle.stop(grace=10.0)
    if metrics is not None:
        metrics.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
