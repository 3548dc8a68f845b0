"""Central cargo-submission benchmark: concurrent clients file consignments over real
gRPC to rocars-central on SQLite; in the same run, the same server answers the
cheapest authenticated call (Diagnostics.Echo) as the ceiling of its stack.

The server runs as its own process (as in production); the clients run in this process
on gRPC futures, keeping ``CONCURRENCY`` calls in flight. Both phases go through the
same listener, interceptor (token look-up included), thread pool and logging level, so
``ratio_vs_echo`` says how much of the stack's capacity filing a consignment costs:
validation, the CCRN, the write transaction with its version row and change hooks, and
the risk profiling hook when the risk area is installed.

Targets on a 2-core machine: ratio >= 0.35 and p99 <= 50 ms at this load. (Hong Kong's
whole daily road-cargo traffic is a few submissions per second.)

Environment: BENCH_SECONDS (default 6 per phase), BENCH_CONCURRENCY (default 8).
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from central.api.convert import ts_of  # noqa: E402
from central.client import open_channel, stubs_for  # noqa: E402
from proto.rocars.v1 import cargo_pb2, common_pb2, diagnostics_pb2, registration_pb2  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
WARMUP_S = 1.0


def start_server(database: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "central.server", "--listen", "127.0.0.1:0", "--database", f"sqlite:///{database}",
         "--log-level", "warning", "--workers", "16"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        match = re.search(r"LISTENING port=(\d+)", line)
        if match:
            return proc, f"127.0.0.1:{match.group(1)}"
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("rocars-central did not start")


def bootstrap(database: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "central.cli.app", "bootstrap", "--database", f"sqlite:///{database}",
         "--badge", "BENCH-1", "--name", "Bench Officer", "--json"],
        check=True, capture_output=True, text=True, timeout=60,
    )
    return str(json.loads(out.stdout)["api_token"])


def drive(make_call: Callable[[int], Any], seconds: float, concurrency: int) -> tuple[list[float], int, float]:
    """Keep ``concurrency`` futures in flight for ``seconds`` (after a warm-up);
    returns (latencies in ms of measured calls, errors, measured wall time)."""
    lock = threading.Lock()
    done = threading.Event()
    latencies: list[float] = []
    errors = [0]
    counter = [0]
    t_start = time.perf_counter()
    measure_from = t_start + WARMUP_S
    stop_at = measure_from + seconds
    outstanding = [0]

    def launch() -> None:
        with lock:
            i = counter[0]
            counter[0] += 1
            outstanding[0] += 1
        started = time.perf_counter()
        future = make_call(i)

        def finished(f: Any) -> None:
            now = time.perf_counter()
            failed = f.exception() is not None
            with lock:
                outstanding[0] -= 1
                if failed:
                    errors[0] += 1
                elif started >= measure_from and now <= stop_at:
                    latencies.append((now - started) * 1000)
            if now < stop_at:
                launch()
            else:
                with lock:
                    if outstanding[0] == 0:
                        done.set()

        future.add_done_callback(finished)

    for _ in range(concurrency):
        launch()
    done.wait(timeout=seconds + WARMUP_S + 60)
    return latencies, errors[0], seconds


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="rocars-bench-") as tmp:
        database = Path(tmp) / "central.db"
        officer_token = bootstrap(database)
        proc, address = start_server(database)
        try:
            with open_channel(address) as channel:
                officer = stubs_for(channel, officer_token)
                company = officer.registration.RegisterCompany(registration_pb2.RegisterCompanyRequest(
                    company=registration_pb2.Company(kind=common_pb2.SHIPPER, brn="10000001", name="Bench Shipper",
                                                     address="1 Bench Road", contact_name="B",
                                                     contact_phone="+852 2000 0000")), timeout=10)
                client = stubs_for(channel, company.api_token)
                expected = ts_of(datetime.now(UTC) + timedelta(hours=6))
                run_id = os.getpid()

                def echo(i: int) -> Any:
                    return client.diagnostics.Echo.future(diagnostics_pb2.EchoRequest(message=f"ping {i}"),
                                                          timeout=10)

                def submit(i: int) -> Any:
                    return client.cargo.SubmitConsignment.future(cargo_pb2.SubmitConsignmentRequest(
                        idempotency_key=f"bench-{run_id}-{i:08d}", direction=common_pb2.IMPORT, control_point="LMC",
                        cargo=cargo_pb2.CargoDetails(
                            packages_count=1 + i % 500, package_description="cartons",
                            article_description=f"assorted household goods lot {i}",
                            consignor_name="Shenzhen Bright Home Co", consignor_address="18 Futian Road, Shenzhen",
                            consignee_name="Kowloon Household Retail Ltd",
                            consignee_address="2 Canton Road, Tsim Sha Tsui", expected_at=expected,
                            gross_weight_kg=f"{100 + i % 900}.5", declared_value="12000.00", currency="HKD",
                            hs_code="940521")), timeout=10)

                echo_lat, echo_err, echo_s = drive(echo, SECONDS, CONCURRENCY)
                sub_lat, sub_err, sub_s = drive(submit, SECONDS, CONCURRENCY)
                stored = officer.cargo.ListConsignments(cargo_pb2.ListConsignmentsRequest(
                    page=common_pb2.PageRequest(page_size=1)), timeout=30)
                assert stored.consignments, "no consignment stored"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    echo_rate = len(echo_lat) / echo_s
    sub_rate = len(sub_lat) / sub_s
    figures = {
        "submissions_per_s": round(sub_rate, 1),
        "p50_ms": round(pct(sub_lat, 50), 2),
        "p99_ms": round(pct(sub_lat, 99), 2),
        "mean_ms": round(statistics.fmean(sub_lat), 2) if sub_lat else None,
        "submission_errors": sub_err,
        "echo_calls_per_s": round(echo_rate, 1),
        "echo_p50_ms": round(pct(echo_lat, 50), 2),
        "echo_p99_ms": round(pct(echo_lat, 99), 2),
        "echo_errors": echo_err,
        "ratio_vs_echo": round(sub_rate / echo_rate, 3) if echo_rate else None,
        "concurrency": CONCURRENCY,
        "seconds_per_phase": SECONDS,
        "targets": {"ratio_vs_echo": ">= 0.35", "p99_ms": "<= 50"},
    }
    print(f"central_submit: {CONCURRENCY} calls in flight, {SECONDS:.0f} s per phase, SQLite, server in its own process")
    print(f"{'phase':<22}{'calls/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    print(f"{'echo (ceiling)':<22}{echo_rate:>10.1f}{figures['echo_p50_ms']:>10.2f}{figures['echo_p99_ms']:>10.2f}"
          f"{echo_err:>8}")
    print(f"{'submit consignment':<22}{sub_rate:>10.1f}{figures['p50_ms']:>10.2f}{figures['p99_ms']:>10.2f}"
          f"{sub_err:>8}")
    print(f"ratio vs echo: {figures['ratio_vs_echo']} (target >= 0.35); p99 {figures['p99_ms']} ms (target <= 50)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
