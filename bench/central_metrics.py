"""What Prometheus metrics cost central per call, measured in one run against the same
path without them.

1. Interceptor path alone: the wrapped handler of an authenticated method (token from a
   warm cache, epoch check, authorisation, metrics) called directly, with and without
   metrics, in this process (single-process mode) and in a child process with
   ``PROMETHEUS_MULTIPROC_DIR`` set (values in mmap files). A real ``ServicerContext``
   cannot be built outside a call, so a minimal stand-in supplies the three methods the
   interceptor reads.
2. End to end: the authenticated Echo RPC over a real gRPC channel, two servers on one
   SQLite file, one interceptor with metrics and one without, alternated.

Prints a table, then one JSON line. Figures are ratios "with / without" (1.0 = free).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from central.api.auth import AuthInterceptor
from central.api.registry import ServerConfig, ServerContext, add_servicers
from central.client import open_channel, stubs_for
from central.clock import SystemClock
from central.services import tokens
from central.services.bootstrap import bootstrap
from central.store.db import release_connection
from central.store.schema import init_database
from proto.rocars.v1 import diagnostics_pb2

METHOD = "/rocars.v1.Diagnostics/Echo"
CALLS = 20_000
ROUNDS = 5
RPC_CALLS = 1_500


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class _Context:
    """The three things the interceptor asks of a gRPC context."""

    def __init__(self, token: str) -> None:
        self._metadata = (("authorization", f"Bearer {token}"),)

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def code(self) -> None:
        return None


def _setup(directory: Path) -> str:
    init_database(f"sqlite:///{directory / 'bench.db'}")
    _officer, token, _ = bootstrap("OFF-001", "Officer Bench", datetime.now(UTC), seed_control_points=False)
    release_connection()
    tokens.token_cache.ttl_s = 60.0
    return token


def _wrapped(with_metrics: bool) -> Any:
    def behaviour(request: Any, context: Any) -> str:
        return "ok"

    handler = grpc.unary_unary_rpc_method_handler(behaviour)
    return AuthInterceptor(with_metrics=with_metrics).intercept_service(lambda d: handler, _Details(METHOD))


def interceptor_us_per_call() -> dict[str, float]:
    """Median microseconds per call over ROUNDS, with and without metrics, alternated."""
    with tempfile.TemporaryDirectory() as tmp:
        token = _setup(Path(tmp))
        context = _Context(token)
        handlers = {True: _wrapped(True).unary_unary, False: _wrapped(False).unary_unary}
        for h in handlers.values():
            h(None, context)  # warm the token cache
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(ROUNDS):
            for flag, h in handlers.items():
                started = time.perf_counter()
                for _ in range(CALLS):
                    h(None, context)
                times[flag].append((time.perf_counter() - started) / CALLS * 1e6)
    return {"with_us": statistics.median(times[True]), "without_us": statistics.median(times[False])}


def _server(ctx: ServerContext, with_metrics: bool) -> tuple[grpc.Server, int]:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8), interceptors=[AuthInterceptor(with_metrics=with_metrics)]
    )
    add_servicers(server, ctx, ["central.api.diagnostics"])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def rpc_calls_per_s() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        token = _setup(Path(tmp))
        from central.store.db import database_proxy

        ctx = ServerContext(database=database_proxy.obj, clock=SystemClock(), config=ServerConfig())
        servers = {flag: _server(ctx, flag) for flag in (True, False)}
        rates: dict[bool, list[float]] = {True: [], False: []}
        channels = []
        try:
            stubs = {}
            for flag, (_, port) in servers.items():
                channel = open_channel(f"127.0.0.1:{port}")
                channels.append(channel)
                stubs[flag] = stubs_for(channel, token).diagnostics
                stubs[flag].Echo(diagnostics_pb2.EchoRequest(), timeout=10)
            for _ in range(ROUNDS):
                for flag, stub in stubs.items():
                    started = time.perf_counter()
                    for _ in range(RPC_CALLS):
                        stub.Echo(diagnostics_pb2.EchoRequest(), timeout=10)
                    rates[flag].append(RPC_CALLS / (time.perf_counter() - started))
        finally:
            for channel in channels:
                channel.close()
            for server, _port in servers.values():
                server.stop(0)
    return {"with_per_s": statistics.median(rates[True]), "without_per_s": statistics.median(rates[False])}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-interceptor":
        print(json.dumps(interceptor_us_per_call()))
        return 0
    single = interceptor_us_per_call()
    with tempfile.TemporaryDirectory() as shared:
        out = subprocess.run(
            [sys.executable, __file__, "--child-interceptor"],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": shared},
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
    multi = json.loads(out.stdout.strip().splitlines()[-1])
    rpc = rpc_calls_per_s()
    rows = [
        ("interceptor path, one process", f"{single['without_us']:.1f} us", f"{single['with_us']:.1f} us"),
        ("interceptor path, multiprocess", f"{multi['without_us']:.1f} us", f"{multi['with_us']:.1f} us"),
        ("Echo over gRPC (calls/s)", f"{rpc['without_per_s']:.0f}", f"{rpc['with_per_s']:.0f}"),
    ]
    print(f"{'measure':40} {'without metrics':>16} {'with metrics':>14}")
    for name, without, with_ in rows:
        print(f"{name:40} {without:>16} {with_:>14}")
    figures = {
        "interceptor_us_without": round(single["without_us"], 2),
        "interceptor_us_with": round(single["with_us"], 2),
        "interceptor_ratio": round(single["with_us"] / single["without_us"], 3),
        "interceptor_added_us": round(single["with_us"] - single["without_us"], 2),
        "multiproc_interceptor_us_with": round(multi["with_us"], 2),
        "multiproc_interceptor_ratio": round(multi["with_us"] / multi["without_us"], 3),
        "multiproc_interceptor_added_us": round(multi["with_us"] - multi["without_us"], 2),
        "echo_calls_per_s_without": round(rpc["without_per_s"]),
        "echo_calls_per_s_with": round(rpc["with_per_s"]),
        "echo_ratio": round(rpc["with_per_s"] / rpc["without_per_s"], 3),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
