"""Central cargo-submission benchmark: concurrent clients file consignments over real
gRPC to rocars-central on SQLite; in the same run, the same server answers the
cheapest authenticated call (Diagnostics.Echo) as the ceiling of its stack.

The server runs as it ships (systemd/rocars-central.service): its own process tree,
``--processes auto``, one server process per CPU (two here: a supervisor and two children
sharing the port with SO_REUSEPORT and the SQLite file through the cross-process writer
lock). A diagnostic row measures one process in the same run. The clients run
in this process: ``CONCURRENCY`` clients, each with its own channel and so its own TCP
connection (a local subchannel pool: gRPC Python otherwise shares one connection between
channels with equal arguments, and the kernel could put every client on one child), each
keeping one call in flight. Both phases go through the same listeners, interceptor
(token look-up included), thread pools and logging level, so ``ratio_vs_echo`` says how
much of the stack's capacity filing a consignment costs: validation, the CCRN, the write
transaction with its version row and change hooks, and risk profiling.

Targets on a 2-core machine: ratio >= 0.35 and p99 <= 50 ms at this load. (Hong Kong's
whole daily road-cargo traffic is a few submissions per second.)

Diagnostic runs, in the same invocation: the same measurement with the other process
count (``other_processes_*``: 1 when the headline is several; the effect of
``--processes``), and against a
single-process server whose risk-profiling hook is switched off inside that process
(``core_only_*``, to show where the time goes; a supervisor's children are fresh
interpreters the switch cannot reach, hence one process).

``server_cpu_ms_per_*``: CPU time of the whole server process tree (supervisor and
children, user + system, from /proc) per call answered during a phase, warm-up included.

Where the time goes (measured with py-spy and by timing the write lock, two processes,
this machine shared with other work at load 4-8): a submission costs the server about
1.2 ms of CPU against about 0.33 ms for an echo, where the service alone costs about
0.45 ms; the difference is gRPC's Python layer (a poller thread hands every call to the
pool, all under one GIL per process) and thread switches. Every submission's write
transaction (insert, version row, change log, risk assessment) runs under the one SQLite
write lock, held about 0.45 ms at the median and 0.7 ms on average; with eight calls in
flight the lock is busy about 60 % of the time, so more processes speed up everything
around the write but not the write itself, and a lock holder descheduled by other load
holds up every writer of both processes. On a host loaded by other work (load 4-8) the
p99 of two processes was worse than one's (60-86 ms against 19-26 ms in six runs); on a
quiet host two processes give the better ratio with the same p99 (two runs after the cuts
below: ratio 0.348 and 0.411, p99 21 and 17 ms, against one process's 0.263 and 0.280,
p99 18 and 15 ms). One process is CPU-bound under its GIL at about 1.2 ms of server CPU per
submission against 0.30 ms per echo, a ratio near 0.28 whatever the load.
WAL checkpoints moved out of the write lock (central.store.db.WalCheckpointer) and a
shorter poll of the cross-process lock each gave 5-10 % more submissions per second;
kernel hand-off of the lock and a give-way rule between processes gave nothing.

Later cuts, each measured on its own (in-process CPU per submission with risk; server
figures from full runs of this benchmark in one session, before: 1.32 and 1.33 ms of
server CPU per submission, ratio 0.26 and 0.24; after: 1.06 and 0.98 ms, ratio 0.35 and
0.34; the in-process figure with risk went from 0.41 to 0.34 ms, core only 0.23 to 0.20):
- SQLite inserts take the new id from the cursor (``lastrowid``; ``rowcount`` for
  ``ON CONFLICT DO NOTHING``) instead of fetching a ``RETURNING`` row: a fetch is one more
  sqlite3 step, and every step releases and re-takes the GIL, a thread hand-off whenever
  other threads wait for it. Four steps fewer per submission; 0.41 -> 0.38 ms.
- Rows just written are built without peewee's per-field attribute protocol
  (``fast.instance``), and values already of their field's plain type skip ``db_value``:
  -> 0.35 ms.
- The cargo's JSON text is encoded once, for the request hash (byte for byte the form
  stored hashes were made from) and the version row; ``to_db(now)`` once per submission.
- New databases lack the version table's single-column index on ``consignment_id`` (the
  unique (consignment, version) index leads with it): one WAL frame fewer per commit.
- The token listener has its own small thread pool (``[central] call_workers``, auto: 4
  on SQLite), apart from the lane listener's pool sized for lanes' streams; before, every
  call ran on the one pool of 16 here (64 by default). One process under this load, 2 or
  4 threads against 16: about 20 % less server CPU per submission (system time halved:
  fewer interpreter-lock hand-offs) and 15-25 % more submissions per second. Two
  processes on a quiet host, same code otherwise: ratio 0.389 and 0.401 with 4 threads,
  0.34 and 0.39 with 16.
- Every write transaction of a process runs on one writer connection (central.store.db),
  whose page cache then survives from one write to the next: 3-5 % less CPU per
  submission in process with 4 threads.
After both, three runs on a quiet host: ratio 0.419, 0.405, 0.427 (p99 14.9, 16.7,
15.5 ms), 1227-1299 submissions/s against 930-943 before; one process 0.28-0.31.
Tried and dropped: one writer connection per process lent to every write (to keep
SQLite's page cache from being reset between writers on rotating pool connections): no
change in CPU in process with 8 threads; dropping consignment's own ``company_id`` index:
listing a company's consignments by id would then need a sort.
Where the rest goes: the commit itself (~0.11 ms in process: about 20 WAL frames, two
``pwrite`` calls each), and in the server the thread hand-offs of gRPC's pool and the GIL
(strace under load: about 70 futex calls per submission). The interceptor and gRPC path
cost the same per echo, so making them cheaper would lower ``ratio_vs_echo``, not raise it.

Last, the service alone (no gRPC) files ``INPROC_N`` consignments in this process and
reports the CPU milliseconds per submission, core only and with risk profiling
(``inproc_*``): CPU time, unlike the rates above, hardly moves with other load on a
shared machine, so it is the figure to compare between versions.

Method: the machine is shared, and other load comes and goes within seconds, so one
echo phase followed by one submit phase could compare a quiet moment with a busy one.
Each server therefore runs ``ROUNDS`` rounds of an echo phase and a submit phase of
``SECONDS / ROUNDS`` each (after a one-second warm-up each), alternating which phase
goes first; ``ratio_vs_echo`` is the median of the per-round ratios (each round compares
two phases seconds apart on the same server), and ``ratio_per_round`` and
``ratio_pooled`` (all submissions over all echoes) are reported beside it. Rates and
latency percentiles pool every round. Both phases see the same server, connections,
concurrency and warm-up; nothing is tuned for either.

Environment: BENCH_SECONDS (default 9 per phase, split over the rounds), BENCH_ROUNDS
(default 3), BENCH_CONCURRENCY (default 8 clients), BENCH_PROCESSES (default: one per CPU, as ``auto``),
BENCH_INPROC_N (default 2000 submissions per in-process measurement).
"""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from central.api.convert import ts_of
from central.client import open_channel, stubs_for
from proto.rocars.v1 import cargo_pb2, common_pb2, diagnostics_pb2, registration_pb2

SECONDS = float(os.environ.get("BENCH_SECONDS", "9"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))
PROCESSES = int(os.environ.get("BENCH_PROCESSES", "0")) or (os.cpu_count() or 1)
OTHER_PROCESSES = 1 if PROCESSES > 1 else 2
WARMUP_S = 1.0
INPROC_N = int(os.environ.get("BENCH_INPROC_N", "2000"))


# Diagnostic only: the same server with the risk-profiling hook switched off inside
# that process, to show how the submission cost splits between the core and risk.
# This is not a product setting; nothing in central can turn profiling off.
NO_RISK = (
    "import sys; from central.services import hooks; hooks._modules['central.risk.hooks'] = None; "
    "from central.server import main; sys.exit(main())"
)


def start_server(
    database: Path, processes: int, without_risk: bool = False
) -> tuple[subprocess.Popen[str], str]:
    launcher = ["-c", NO_RISK] if without_risk else ["-m", "central.server"]
    proc = subprocess.Popen(
        [
            sys.executable,
            *launcher,
            "--listen",
            "127.0.0.1:0",
            "--database",
            f"sqlite:///{database}",
            "--log-level",
            "warning",
            "--processes",
            str(processes),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
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
        [
            sys.executable,
            "-m",
            "central.cli.app",
            "bootstrap",
            "--database",
            f"sqlite:///{database}",
            "--badge",
            "BENCH-1",
            "--name",
            "Bench Officer",
            "--json",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return str(json.loads(out.stdout)["api_token"])


def server_cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server process and its children so far."""
    pids = [pid]
    with contextlib.suppress(FileNotFoundError):
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0
    for each in pids:
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (children: reaped ones only)
    return total / os.sysconf("SC_CLK_TCK")


def drive(make_call: Callable[[int, int], Any], seconds: float, concurrency: int, server_pid: int) -> Phase:
    """``concurrency`` clients (client ``c`` calls ``make_call(c, i)`` on its own
    channel) each keep one call in flight for ``seconds`` after a warm-up."""
    lock = threading.Lock()
    done = threading.Event()
    latencies: list[float] = []
    errors = [0]
    counter = [0]
    answered = [0]
    t_start = time.perf_counter()
    cpu_start = server_cpu_s(server_pid)
    measure_from = t_start + WARMUP_S
    stop_at = measure_from + seconds
    outstanding = [0]

    def launch(client: int) -> None:
        with lock:
            i = counter[0]
            counter[0] += 1
            outstanding[0] += 1
        started = time.perf_counter()
        future = make_call(client, i)

        def finished(f: Any) -> None:
            now = time.perf_counter()
            failed = f.exception() is not None
            with lock:
                outstanding[0] -= 1
                answered[0] += 1
                if failed:
                    errors[0] += 1
                elif started >= measure_from and now <= stop_at:
                    latencies.append((now - started) * 1000)
            if now < stop_at:
                launch(client)
            else:
                with lock:
                    if outstanding[0] == 0:
                        done.set()

        future.add_done_callback(finished)

    for client in range(concurrency):
        launch(client)
    done.wait(timeout=seconds + WARMUP_S + 60)
    cpu = server_cpu_s(server_pid) - cpu_start
    return Phase(latencies, errors[0], seconds, cpu * 1000 / answered[0] if answered[0] else float("nan"))


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Phase:
    latencies: list[float]
    errors: int
    seconds: float
    server_cpu_ms: float  # server CPU per call answered (warm-up included)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds


@dataclass
class Rounds:
    """Echo and submit phases measured in alternation on one server."""

    pairs: list[tuple[Phase, Phase]]

    @property
    def echo(self) -> Phase:
        return _pooled([e for e, _ in self.pairs])

    @property
    def submit(self) -> Phase:
        return _pooled([s for _, s in self.pairs])

    @property
    def ratios(self) -> list[float]:
        return [s.rate / e.rate for e, s in self.pairs if e.rate]

    @property
    def ratio(self) -> float | None:
        """Median of the per-round ratios: one round disturbed by other load on the
        machine (in either phase) cannot move it much."""
        return statistics.median(self.ratios) if self.ratios else None


def _pooled(phases: list[Phase]) -> Phase:
    return Phase(
        [x for p in phases for x in p.latencies],
        sum(p.errors for p in phases),
        sum(p.seconds for p in phases),
        statistics.median(p.server_cpu_ms for p in phases),
    )


def profiled_counts(database: Path) -> tuple[int, int]:
    """(consignments stored, consignments with a risk assessment) in the bench database:
    proof that the measured run profiled every submission it counted."""
    import sqlite3

    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        stored = con.execute("SELECT COUNT(*) FROM consignment").fetchone()[0]
        assessed = con.execute(
            "SELECT COUNT(*) FROM consignment c JOIN risk_assessment r "
            "ON r.subject = 'consignment' AND r.reference = c.ccrn"
        ).fetchone()[0]
    finally:
        con.close()
    return int(stored), int(assessed)


def client_channel(address: str) -> grpc.Channel:
    # Its own subchannel pool, so its own TCP connection: one client, one connection.
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


def measure(processes: int, without_risk: bool = False) -> tuple[Rounds, tuple[int, int]]:
    """(echo and submit rounds, (stored, profiled)) on a fresh database and a fresh
    server."""
    with tempfile.TemporaryDirectory(prefix="rocars-bench-") as tmp:
        database = Path(tmp) / "central.db"
        officer_token = bootstrap(database)
        proc, address = start_server(database, processes, without_risk)
        channels = [client_channel(address) for _ in range(CONCURRENCY)]
        try:
            with open_channel(address) as channel:
                officer = stubs_for(channel, officer_token)
                company = officer.registration.RegisterCompany(
                    registration_pb2.RegisterCompanyRequest(
                        company=registration_pb2.Company(
                            kind=common_pb2.SHIPPER,
                            brn="10000001",
                            name="Bench Shipper",
                            address="1 Bench Road",
                            contact_name="B",
                            contact_phone="+852 2000 0000",
                        )
                    ),
                    timeout=10,
                )
                clients = [stubs_for(ch, company.api_token) for ch in channels]
                expected = ts_of(datetime.now(UTC) + timedelta(hours=6))
                run_id = os.getpid()

                def echo(c: int, i: int) -> Any:
                    return clients[c].diagnostics.Echo.future(
                        diagnostics_pb2.EchoRequest(message=f"ping {i}"), timeout=10
                    )

                def submit(c: int, i: int) -> Any:
                    return clients[c].cargo.SubmitConsignment.future(
                        cargo_pb2.SubmitConsignmentRequest(
                            idempotency_key=f"bench-{run_id}-{i:08d}",
                            direction=common_pb2.IMPORT,
                            control_point="LMC",
                            cargo=cargo_pb2.CargoDetails(
                                packages_count=1 + i % 500,
                                package_description="cartons",
                                article_description=f"assorted household goods lot {i}",
                                consignor_name="Shenzhen Bright Home Co",
                                consignor_address="18 Futian Road, Shenzhen",
                                consignee_name="Kowloon Household Retail Ltd",
                                consignee_address="2 Canton Road, Tsim Sha Tsui",
                                expected_at=expected,
                                gross_weight_kg=f"{100 + i % 900}.5",
                                declared_value="12000.00",
                                currency="HKD",
                                hs_code="940521",
                            ),
                        ),
                        timeout=10,
                    )

                rounds: list[tuple[Phase, Phase]] = []

                def numbered(call: Callable[[int, int], Any], base: int) -> Callable[[int, int], Any]:
                    # drive() numbers its calls from 0 each time: offset them per round so
                    # every submission keeps a fresh idempotency key (no cheap replays).
                    return lambda c, i: call(c, base + i)

                def phase(call: Callable[[int, int], Any], base: int) -> Phase:
                    return drive(numbered(call, base), SECONDS / ROUNDS, CONCURRENCY, proc.pid)

                for r in range(ROUNDS):
                    base = (r + 1) * 10_000_000
                    # Alternate which phase goes first, so neither always meets the
                    # fresher database or the quieter moment of the machine.
                    if r % 2 == 0:
                        e = phase(echo, base)
                        s = phase(submit, base)
                    else:
                        s = phase(submit, base)
                        e = phase(echo, base)
                    rounds.append((e, s))
                stored = officer.cargo.ListConsignments(
                    cargo_pb2.ListConsignmentsRequest(page=common_pb2.PageRequest(page_size=1)), timeout=30
                )
                assert stored.consignments, "no consignment stored"
        finally:
            for ch in channels:
                ch.close()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        counts = profiled_counts(database)
    return Rounds(rounds), counts


def in_process_cpu_ms(with_risk: bool) -> float:
    """CPU ms per submission of the cargo service on a fresh SQLite file, in this process
    (best of three rounds, after a warm-up), with or without the risk-profiling hook."""
    import secrets

    from central.clock import SystemClock
    from central.risk import runtime
    from central.services import cargo, hooks
    from central.services.principal import COMPANY, Principal
    from central.store import models
    from central.store.db import close_all, to_db
    from central.store.schema import init_database

    runtime.configure(SystemClock(), runtime.RiskKeys(secrets.token_bytes(32), secrets.token_bytes(32)))
    saved = dict(hooks._modules)
    if with_risk:
        hooks._modules.pop("central.risk.hooks", None)
    else:
        hooks._modules["central.risk.hooks"] = None  # the same switch as the diagnostic server
    best = float("inf")
    try:
        with tempfile.TemporaryDirectory(prefix="rocars-bench-inproc-") as tmp:
            db = init_database(f"sqlite:///{tmp}/central.db")
            now = datetime.now(UTC)
            models.ControlPoint.get_or_create(code="LMC", defaults={"name": "Lok Ma Chau"})
            company = models.Company.create(
                kind=common_pb2.SHIPPER,
                brn="10000001",
                name="Bench Shipper",
                address="1 Bench Road",
                contact_name="B",
                contact_phone="+852 2000 0000",
                created_at=to_db(now),
            )
            principal = Principal(COMPANY, int(company.id), "Bench Shipper")
            window = cargo.Window(timedelta(minutes=30), timedelta(days=14))
            serial = [0]

            def one() -> None:
                i = serial[0] = serial[0] + 1
                data = cargo.CargoInput(
                    packages_count=1 + i % 500,
                    package_description="cartons",
                    article_description=f"assorted household goods lot {i}",
                    consignor_name="Shenzhen Bright Home Co",
                    consignor_address="18 Futian Road, Shenzhen",
                    consignee_name="Kowloon Household Retail Ltd",
                    consignee_address="2 Canton Road, Tsim Sha Tsui",
                    expected_at=now + timedelta(hours=6),
                    gross_weight_kg=f"{100 + i % 900}.5",
                    declared_value="12000.00",
                    currency="HKD",
                    hs_code="940521",
                )
                cargo.submit(principal, f"inproc-{i:08d}", common_pb2.IMPORT, "LMC", data, now, window)

            for _ in range(200):
                one()
            for _ in range(3):
                started = time.process_time()
                for _ in range(INPROC_N):
                    one()
                best = min(best, (time.process_time() - started) / INPROC_N * 1000)
            close_all()
            db.close()
    finally:
        hooks._modules.clear()
        hooks._modules.update(saved)
    return best


def _r(value: float | None, digits: int = 3) -> float | None:
    return round(value, digits) if value is not None and value == value else None  # NaN -> None


def main() -> int:
    main_run, (stored, profiled) = measure(PROCESSES)
    other_run, (other_stored, other_profiled) = measure(OTHER_PROCESSES)
    core_run, _ = measure(1, without_risk=True)
    echo, sub = main_run.echo, main_run.submit
    other_echo, other_sub = other_run.echo, other_run.submit
    core_echo, core_sub = core_run.echo, core_run.submit
    ratio = main_run.ratio
    inproc_core = in_process_cpu_ms(with_risk=False)
    inproc_risk = in_process_cpu_ms(with_risk=True)
    figures = {
        "submissions_per_s": round(sub.rate, 1),
        "p50_ms": round(pct(sub.latencies, 50), 2),
        "p99_ms": round(pct(sub.latencies, 99), 2),
        "mean_ms": round(statistics.fmean(sub.latencies), 2) if sub.latencies else None,
        "submission_errors": sub.errors,
        # Every consignment the profiled runs stored has its risk assessment (checked below).
        "consignments_stored": stored,
        "consignments_profiled": profiled,
        "echo_calls_per_s": round(echo.rate, 1),
        "echo_p50_ms": round(pct(echo.latencies, 50), 2),
        "echo_p99_ms": round(pct(echo.latencies, 99), 2),
        "echo_errors": echo.errors,
        "ratio_vs_echo": _r(ratio),
        "ratio_per_round": [round(x, 3) for x in main_run.ratios],
        "ratio_pooled": _r(sub.rate / echo.rate if echo.rate else None),
        "processes": PROCESSES,
        "server_cpu_ms_per_submission": _r(sub.server_cpu_ms),
        "server_cpu_ms_per_echo": _r(echo.server_cpu_ms),
        # Diagnostic: the same measurement with the other process count.
        "other_processes": OTHER_PROCESSES,
        "other_processes_submissions_per_s": round(other_sub.rate, 1),
        "other_processes_p99_ms": round(pct(other_sub.latencies, 99), 2),
        "other_processes_echo_calls_per_s": round(other_echo.rate, 1),
        "other_processes_ratio_vs_echo": _r(other_run.ratio),
        "other_processes_server_cpu_ms_per_submission": _r(other_sub.server_cpu_ms),
        # Diagnostic: one process with the risk-profiling hook off in the server.
        "core_only_submissions_per_s": round(core_sub.rate, 1),
        "core_only_p99_ms": round(pct(core_sub.latencies, 99), 2),
        "core_only_ratio_vs_echo": _r(core_run.ratio),
        # Stable figures: CPU ms per submission of the service alone, in this process.
        "inproc_core_cpu_ms": round(inproc_core, 3),
        "inproc_with_risk_cpu_ms": round(inproc_risk, 3),
        "inproc_risk_cpu_ms": round(inproc_risk - inproc_core, 3),
        "concurrency": CONCURRENCY,
        "seconds_per_phase": SECONDS,
        "rounds": ROUNDS,
        "targets": {"ratio_vs_echo": ">= 0.35", "p99_ms": "<= 50"},
    }
    print(
        f"central_submit: {CONCURRENCY} clients (a connection each, one call in flight each), "
        f"{SECONDS:.0f} s per phase in {ROUNDS} alternating rounds, SQLite, server in its own processes"
    )
    row = "{:<44}{:>10}{:>10}{:>10}{:>8}{:>14}"
    print(row.format("phase", "calls/s", "p50 ms", "p99 ms", "errors", "srv CPU ms"))
    for name, phase in (
        (f"echo (ceiling), {PROCESSES} processes", echo),
        (f"submit consignment, {PROCESSES} processes", sub),
        (f"echo (ceiling), {OTHER_PROCESSES} processes (diag.)", other_echo),
        (f"submit, {OTHER_PROCESSES} processes (diagnostic)", other_sub),
        ("echo (ceiling), 1 process, risk-off run", core_echo),
        ("submit, 1 process, risk hook off (diag.)", core_sub),
    ):
        print(
            row.format(
                name,
                f"{phase.rate:.1f}",
                f"{pct(phase.latencies, 50):.2f}",
                f"{pct(phase.latencies, 99):.2f}",
                phase.errors,
                f"{phase.server_cpu_ms:.3f}",
            )
        )
    print(
        f"ratio vs echo ({PROCESSES} processes): {figures['ratio_vs_echo']} (target >= 0.35); "
        f"p99 {figures['p99_ms']} ms (target <= 50); per round {figures['ratio_per_round']}"
    )
    print(
        f"{OTHER_PROCESSES} processes: ratio {figures['other_processes_ratio_vs_echo']}, "
        f"p99 {figures['other_processes_p99_ms']} ms; "
        f"core only (risk hook off): ratio {figures['core_only_ratio_vs_echo']}, "
        f"p99 {figures['core_only_p99_ms']} ms"
    )
    print(
        f"in process, CPU per submission: core {inproc_core:.3f} ms, with risk profiling "
        f"{inproc_risk:.3f} ms (risk {inproc_risk - inproc_core:.3f} ms)"
    )
    ok = profiled == stored and other_profiled == other_stored
    if not ok:
        print(
            f"ERROR: stored consignments without a risk assessment: {stored - profiled} of {stored} "
            f"({PROCESSES} processes), {other_stored - other_profiled} of {other_stored} "
            f"({OTHER_PROCESSES} processes)"
        )
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
