"""``rocars-central --processes N``: N server processes sharing one port.

One Python process serialises the write path (one GIL), so a machine with more cores
than that runs several children, each a complete server started by re-executing
``python -m central.server`` with the same arguments (never a fork of a process that has
imported gRPC, which gRPC does not support). Each child binds the same address with
``SO_REUSEPORT`` and the kernel spreads incoming connections over them.

The supervisor
- migrates the database once, before any child opens it;
- reserves each listen address with an ``SO_REUSEPORT`` socket that is bound but never
  listens: port 0 is resolved to a real port every child then binds, and the port stays
  ours while children restart. The kernel hands connections only to listening sockets,
  so the reservation never receives one;
- starts the first child alone (one-time set-up such as the risk key file happens once),
  then the others, and prints ``LISTENING port=P lane_port=L`` when all are up;
- forwards SIGTERM/SIGINT (children drain as a single server does; killed after
  ``STOP_TIMEOUT_S``);
- restarts a child that dies, after a delay doubling from 0.5 s to 30 s that resets
  once a child has run 60 s (:class:`RestartPolicy`); a child's loss and its return
  are each logged once;
- exits 1 when a child fails before it is up at the first start, or 5 times in a row
  later;
- with ``--metrics-listen``, serves the children's aggregated metrics itself from a
  private ``PROMETHEUS_MULTIPROC_DIR`` (removed on exit).

Children are in their own sessions so a terminal's Ctrl-C reaches only the supervisor,
and each child stops by itself when its supervisor disappears (it watches its parent).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from central.store.db import close_all
from central.store.schema import init_database

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 25.0  # children drain within 10 s (+5 s wait); systemd allows 30 s
TICK_S = 0.1
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LISTENING = re.compile(r"^LISTENING port=(\d+) lane_port=(\d+)")


class SupervisorError(RuntimeError):
    """The supervisor cannot start (a listen address, a child failing at start)."""


class StopRequested(SupervisorError):
    """A signal arrived while the children were starting: not a failure."""


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise SupervisorError(f"listen address {address!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class PortReservation:
    """Bound, never listening, ``SO_REUSEPORT`` sockets holding one address's port."""

    def __init__(self, address: str) -> None:
        host, port = split_address(address)
        self.host = host
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as exc:
            raise SupervisorError(f"listen address {address!r}: {exc}") from exc
        if port != 0:
            _check_free(address, infos)
        self.sockets: list[socket.socket] = []
        for family, kind, proto, _name, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                # The first bind picks the port (when 0); the other families take the same.
                sock.bind((sockaddr[0], port, *sockaddr[2:]))
            except OSError as exc:
                sock.close()
                if not self.sockets:
                    self.close()
                    raise SupervisorError(f"listen address {address!r}: {exc}") from exc
                continue  # e.g. ::1 absent on this host; gRPC skips it the same way
            port = sock.getsockname()[1]
            self.sockets.append(sock)
        self.port = port

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


def _check_free(address: str, infos: list[Any]) -> None:
    """Refuse a fixed port another server listens on. Joining its SO_REUSEPORT group
    (an old instance of ours, same user) would silently share its traffic; a probe
    without SO_REUSEPORT conflicts with any listener (SO_REUSEADDR only skips
    TIME_WAIT leftovers)."""
    for family, kind, proto, _name, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == 98:  # EADDRINUSE; other errors: the reservation reports them
                    raise SupervisorError(f"listen address {address!r}: port in use") from exc


@dataclass(frozen=True)
class RestartPolicy:
    start_timeout_s: float = 60.0  # a child must print its LISTENING line within this
    first_delay_s: float = 0.5  # before the first restart; doubles per death
    max_delay_s: float = 30.0
    stable_after_s: float = 60.0  # a child that ran this long resets the delay
    max_start_failures: int = 5  # in a row, before the child was up: give up


@dataclass
class Child:
    """One slot of the pool and the process currently filling it."""

    slot: int
    proc: subprocess.Popen[str] | None = None
    started_at: float = 0.0
    ready: threading.Event = field(default_factory=threading.Event)
    ports: tuple[int, int] = (0, 0)
    up: bool = False  # availability as state: logged once when lost, once when back
    start_failures: int = 0
    delay_s: float = 0.0  # set from the policy
    restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


class Supervisor:
    def __init__(
        self,
        child_argv: list[str],
        processes: int,
        env: dict[str, str] | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.child_argv = child_argv
        self.env = env
        self.policy = policy or RestartPolicy()
        self.children = [Child(i, delay_s=self.policy.first_delay_s) for i in range(processes)]
        self.stopping = threading.Event()
        self._stopped = False
        self._stop_lock = threading.Lock()
        self.on_child_exit: list[Callable[[int], None]] = []  # called with the pid of an exited child

    # -- children -------------------------------------------------------------------
    def _spawn(self, child: Child) -> None:
        child.ready.clear()
        child.proc = subprocess.Popen(
            self.child_argv,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        child.started_at = time.monotonic()
        threading.Thread(
            target=self._read_stdout, args=(child, child.proc), name=f"child-{child.slot}-out", daemon=True
        ).start()

    @staticmethod
    def _read_stdout(child: Child, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = _LISTENING.match(line)
            if match and proc is child.proc:
                child.ports = (int(match.group(1)), int(match.group(2)))
                child.ready.set()
            else:
                sys.stderr.write(line)  # a child prints nothing else; never lose it
        proc.stdout.close()  # EOF: the child has exited (or closed its stdout)

    def _await_ready(self, batch: list[Child]) -> None:
        deadline = time.monotonic() + self.policy.start_timeout_s
        for child in batch:
            while not child.ready.wait(TICK_S):
                assert child.proc is not None
                if self.stopping.is_set():
                    raise StopRequested("stopped while starting")
                code = child.proc.poll()
                if code is not None:
                    raise SupervisorError(f"child {child.slot} exited with code {code} while starting")
                if time.monotonic() > deadline:
                    raise SupervisorError(
                        f"child {child.slot} not up within {self.policy.start_timeout_s:g} s"
                    )
            child.up = True
            log.info("child up", extra={"slot": child.slot, "pid": child.pid})

    def start(self) -> tuple[int, int]:
        """Start every child (the first alone); returns the ports they listen on."""
        first, rest = self.children[0], self.children[1:]
        self._spawn(first)
        self._await_ready([first])
        for child in rest:
            self._spawn(child)
        self._await_ready(rest)
        return first.ports

    def _exited(self, child: Child, code: int) -> None:
        assert child.proc is not None
        pid, ran_s = child.proc.pid, time.monotonic() - child.started_at
        for callback in self.on_child_exit:
            try:
                callback(pid)
            except Exception:
                log.exception("child exit callback failed")
        if child.ready.is_set():
            child.start_failures = 0
            if ran_s >= self.policy.stable_after_s:
                child.delay_s = self.policy.first_delay_s
        if child.up:
            log.error(
                "child died; restarting",
                extra={
                    "slot": child.slot,
                    "pid": pid,
                    "exit_code": code,
                    "ran_s": round(ran_s, 1),
                    "restart_in_s": child.delay_s,
                },
            )
            child.up = False
        if not child.ready.is_set():
            child.start_failures += 1
            log.debug("child failed before it was up", extra={"slot": child.slot, "exit_code": code})
        child.restart_at = time.monotonic() + child.delay_s
        child.delay_s = min(child.delay_s * 2, self.policy.max_delay_s)
        child.proc = None

    def tick(self) -> None:
        """One pass of the monitor: reap, restart, notice readiness."""
        now = time.monotonic()
        for child in self.children:
            if child.proc is not None:
                code = child.proc.poll()
                if code is not None:
                    self._exited(child, code)
                elif not child.up and child.ready.is_set():
                    child.up = True
                    child.start_failures = 0
                    log.warning("child back", extra={"slot": child.slot, "pid": child.pid})
                elif not child.ready.is_set() and now - child.started_at > self.policy.start_timeout_s:
                    child.proc.kill()  # reaped (and counted as a start failure) next tick
            if child.start_failures >= self.policy.max_start_failures:
                raise SupervisorError(
                    f"child {child.slot} failed {child.start_failures} times in a row before it was up"
                )
            if child.proc is None and child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                try:
                    self._spawn(child)
                except OSError as exc:  # e.g. EAGAIN from fork: a start failure, retried
                    log.debug("cannot start child %d: %s", child.slot, exc)
                    child.start_failures += 1
                    child.restart_at = now + child.delay_s
                    child.delay_s = min(child.delay_s * 2, self.policy.max_delay_s)

    def run(self) -> None:
        """Monitor until ``stopping`` is set (by a signal or :meth:`stop`)."""
        while not self.stopping.wait(TICK_S):
            self.tick()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM every child, SIGKILL those still running after ``timeout_s``. Safe to
        call twice."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.stopping.set()
        running = [c.proc for c in self.children if c.proc is not None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("child did not stop within %.0f s; killing it", timeout_s, extra={"pid": proc.pid})
                proc.kill()
                proc.wait(timeout=10)
            for callback in self.on_child_exit:
                with contextlib.suppress(Exception):
                    callback(proc.pid)


def resolve_processes(value: str) -> int:
    """``--processes``: a positive count or ``auto`` (one per CPU)."""
    if value == "auto":
        return os.cpu_count() or 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"--processes: must be a positive number or 'auto', not {value!r}")
    return int(value)


def run(
    argv: Sequence[str],
    processes: int,
    database: str,
    listen: str,
    lane_listen: str | None,
    metrics_listen: str | None,
) -> int:
    """Supervise ``processes`` children started with ``argv`` (the server's own
    arguments); returns the exit status."""
    metrics_dir = None
    metrics = None
    reservations: list[PortReservation] = []
    supervisor: Supervisor | None = None
    try:
        if metrics_listen:
            # Before anything imports prometheus_client, here or in a child.
            metrics_dir = tempfile.mkdtemp(prefix="rocars-central-metrics-")
            os.environ[METRICS_DIR_ENV] = metrics_dir
        init_database(database)  # migrate once, before any child opens the database
        close_all()
        reservations.append(PortReservation(listen))
        overrides = ["--listen", reservations[0].address]
        if lane_listen:
            reservations.append(PortReservation(lane_listen))
            overrides += ["--lane-listen", reservations[1].address]
        child_argv = [sys.executable, "-m", "central.server", *argv, *overrides, "--processes", "1"]
        supervisor = Supervisor(
            [*child_argv, "--supervised", str(os.getpid())], processes, env=dict(os.environ)
        )
        if metrics_listen:
            from central import metrics as metrics_module  # lazily: only with the flag

            metrics = metrics_module.serve_metrics(metrics_listen)
            supervisor.on_child_exit.append(metrics_module.mark_process_dead)
        _install_signals(supervisor)
        port, lane_port = supervisor.start()
        log.info("central supervisor up", extra={"processes": processes, "port": port})
        extra = f" metrics_port={metrics.port}" if metrics is not None else ""
        print(f"LISTENING port={port} lane_port={lane_port}{extra}", flush=True)
        supervisor.run()
        return 0
    except StopRequested:
        return 0
    except (SupervisorError, OSError, ValueError, RuntimeError, peewee.PeeweeException) as exc:
        # A listen address, the metrics address, the database, a child failing at start.
        log.error("central supervisor: %s", exc)
        print(f"rocars-central: {exc}", file=sys.stderr)
        return 1
    finally:
        if supervisor is not None:
            supervisor.stop()
        if metrics is not None:
            metrics.stop()
        for reservation in reservations:
            reservation.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        log.info("central supervisor stopped")


def _install_signals(supervisor: Supervisor) -> None:
    def on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping children", signal.Signals(signum).name)
        supervisor.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
