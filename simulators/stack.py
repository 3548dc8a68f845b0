"""The processes of a simulated checkpoint: central, the lane simulators, the kiosks.

Each part runs as its own process, started from its console script exactly as an
operator would (``rocars-central``, ``rocars-sim lane``, ``rocars-kiosk daemon``), with
its output in ``DIR/logs/NAME.log``. ``Stack`` starts them in order, waits for each to be
ready (every wait has a timeout), and ``close()`` stops every process it started, by
its own process id, SIGTERM first then SIGKILL; ``close()`` is safe to call twice and is
what Ctrl-C runs.

The mutual-TLS material comes from ``rocars pki``; the first officer from
``rocars bootstrap`` (straight on the new database, before central starts).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

log = logging.getLogger(__name__)

BIN = Path(sys.executable).parent  # the venv's console scripts sit beside its python


class StackError(RuntimeError):
    """A part of the checkpoint did not start or answer in time; the message says which."""


def free_port() -> int:
    """A port free now (the kernel's choice). Fixed ports are needed where a restarted
    process must come back on the same address (central, which lanes dial)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; StackError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the part is still coming up; keep the last reason
            last = exc
        time.sleep(interval)
    raise StackError(f"{what}: not ready after {timeout:g} s" + (f" (last error: {last})" if last else ""))


def subprocess_run_module(args: Sequence[str], timeout: float = 120.0) -> str:
    """``python -m MODULE ARGS`` of this project, to completion; its stdout."""
    try:
        done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"python -m {args[0]}: no answer within {timeout:g} s") from exc
    if done.returncode != 0:
        raise StackError(f"python -m {' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-800:]}")
    return done.stdout


def run_tool(args: Sequence[str], timeout: float = 60.0, cwd: Path | None = None) -> str:
    """Run one of the project's command-line tools to completion; its stdout."""
    try:
        done = subprocess.run(
            [str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{' '.join(args[:3])}: no answer within {timeout:g} s") from exc
    if done.returncode != 0:
        raise StackError(f"{' '.join(args[:3])} failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    return done.stdout


class Proc:
    """One child process with its log file. ``stop()`` is safe to call twice."""

    def __init__(
        self,
        name: str,
        args: Sequence[object],
        log_dir: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = [str(BIN / str(args[0])), *map(str, args[1:])]
        self.log_path = log_dir / f"{name}.log"
        self.env = env
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Each child picks its own pcscd from its configuration; a PC/SC socket set in
        # this process (libpcsclite binds a process to one pcscd for good) must not leak.
        inherited = {k: v for k, v in os.environ.items() if k != "PCSCLITE_CSOCK_NAME"}
        env = {**inherited, "PYTHONUNBUFFERED": "1", "OMP_THREAD_LIMIT": "1", **(self.env or {})}
        with self.log_path.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1}: {' '.join(self.args)}\n".encode())
            out.flush()
            # A session of its own: Ctrl-C on the terminal reaches only us, and we stop
            # the child ourselves, in order.
            self.popen = subprocess.Popen(
                self.args,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        self.starts += 1
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def wait_for_log(self, pattern: str, timeout: float) -> re.Match[str]:
        regex = re.compile(pattern)
        # Only what this start wrote: the log keeps earlier starts.
        marker = f"=== start {self.starts}:"

        def check() -> re.Match[str] | None:
            if not self.alive:
                raise StackError(
                    f"{self.name} exited ({self.popen and self.popen.returncode}):\n{self.log_tail()}"
                )
            text = self.log_text()
            return regex.search(text[text.rfind(marker) :])

        try:
            return wait_until(f"{self.name} ({pattern})", check, timeout)  # type: ignore[no-any-return]
        except StackError as exc:
            raise StackError(f"{exc}\n--- {self.log_path} (last lines):\n{self.log_tail()}") from None

    def stop(self, timeout: float = 10.0, sig: int = signal.SIGTERM) -> int | None:
        popen = self.popen
        if popen is None or popen.poll() is not None:
            return None if popen is None else popen.returncode
        with contextlib.suppress(ProcessLookupError):
            os.kill(popen.pid, sig)
        try:
            return popen.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %g s; killing it", self.name, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGKILL)
            return popen.wait(5.0)

    def kill(self) -> None:
        """SIGKILL: a power cut for this process (no shutdown path runs)."""
        self.stop(timeout=5.0, sig=signal.SIGKILL)


@dataclass
class LaneProcs:
    lane_id: str
    device_config: Path
    kiosk_config: Path
    journal: Path
    metrics_port: int
    kiosk: Proc
    officer_socket: Path | None = None


# A Unix socket path holds at most 107 bytes; deeper working directories (pytest's) put
# the kiosks' officer sockets in a short temporary directory instead.
SOCKET_PATH_MAX = 100


@dataclass
class Stack:
    """Central + lane simulators + one kiosk per lane, under ``directory``."""

    directory: Path
    lanes: int = 2
    control_point: str = "LMC"
    direction: str = "import"
    kiosk_settings: dict[str, Any] = field(default_factory=dict)  # extra [lane] settings
    driver_cards: int = 0  # good driver cards beyond the simulator's standard two
    central_workers: int = 8  # each lane's sync stream holds one of central's RPC threads
    procs: list[Proc] = field(default_factory=list)
    lane_procs: dict[str, LaneProcs] = field(default_factory=dict)
    central: Proc | None = None
    sim: Proc | None = None
    officer_token: str = ""
    socket_dir: Path | None = None  # short directory for officer sockets, when needed
    port: int = 0
    lane_port: int = 0
    closed: bool = False

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def certs(self) -> Path:
        return self.directory / "certs"

    @property
    def database_path(self) -> Path:
        return self.directory / "central.db"

    @property
    def control_socket(self) -> Path:
        return self.directory / "sim" / "control.sock"

    @property
    def central_address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self) -> grpc.Channel:
        """A channel to central's token listener (TLS, trusting the checkpoint's CA)."""
        creds = grpc.ssl_channel_credentials(root_certificates=(self.certs / "ca.pem").read_bytes())
        return grpc.secure_channel(self.central_address, creds)

    # --- start-up -----------------------------------------------------------------------

    def start_central_side(self) -> None:
        """PKI, database with the first officer, and central listening."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not (self.certs / "ca.pem").exists():
            run_tool(["rocars", "pki", "init-ca", "--dir", str(self.certs)])
            run_tool(
                [
                    "rocars",
                    "pki",
                    "server",
                    "--dir",
                    str(self.certs),
                    "--host",
                    "localhost",
                    "--host",
                    "127.0.0.1",
                ]
            )
        if not self.officer_token:
            out = run_tool(
                [
                    "rocars",
                    "bootstrap",
                    "--database",
                    f"sqlite:///{self.database_path}",
                    "--badge",
                    "CP0001",
                    "--name",
                    "Checkpoint Supervisor",
                    "--json",
                ]
            )
            self.officer_token = str(json.loads(out.strip().splitlines()[-1])["api_token"])
        self.port, self.lane_port = free_port(), free_port()
        self.central = Proc(
            "central",
            [
                "rocars-central",
                "--listen",
                f"127.0.0.1:{self.port}",
                "--lane-listen",
                f"127.0.0.1:{self.lane_port}",
                "--database",
                f"sqlite:///{self.database_path}",
                "--tls-cert",
                self.certs / "server.pem",
                "--tls-key",
                self.certs / "server.key",
                "--client-ca",
                self.certs / "ca.pem",
                "--plain-logs",
                "--lane-workers",
                str(self.central_workers),
            ],
            self.logs,
            cwd=self.directory,
        )
        self.procs.append(self.central)
        self.start_central()

    def start_central(self, timeout: float = 60.0) -> None:
        assert self.central is not None
        self.central.start()
        self.central.wait_for_log(r"LISTENING port=(\d+) lane_port=(\d+)", timeout)

    def stop_central(self) -> None:
        if self.central is not None:
            self.central.stop(timeout=20.0)  # its own grace for calls in flight is 10 s

    @property
    def card_holders(self) -> dict[str, dict[str, str]]:
        """Card label -> card number, document number, name: what the simulator's cards say."""
        summary = _read_json(self.directory / "sim" / "lanes.json") or {}
        return dict(summary.get("holders", {}))

    def start_lane_side(self, timeout: float = 60.0) -> list[str]:
        """The lane simulators (all lanes in one process), then their lane ids."""
        sim_dir = self.directory / "sim"
        args: list[object] = [
            "rocars-sim", "lane", "--dir", sim_dir, "--lanes", self.lanes,
            "--control-point", self.control_point, "--direction", self.direction,
        ]
        if self.driver_cards:
            card_dir = self.directory / "driver-cards"
            if not (card_dir / "issuer" / "issuer.pem").exists():
                subprocess_run_module(
                    ["simulators.card", "drivers", str(card_dir), "--count", str(self.driver_cards)]
                )
            args += ["--cards", card_dir]
        self.sim = Proc("sim", args, self.logs, cwd=self.directory)
        self.procs.append(self.sim)
        with contextlib.suppress(FileNotFoundError):
            (sim_dir / "lanes.json").unlink()
        self.sim.start()
        summary = wait_until(
            "lane simulators (lanes.json)",
            lambda: self._alive_or_fail(self.sim) and _read_json(sim_dir / "lanes.json"),
            timeout,
        )
        return list(summary["lanes"])

    def _alive_or_fail(self, proc: Proc | None) -> bool:
        if proc is not None and not proc.alive:
            raise StackError(f"{proc.name} exited:\n{proc.log_tail()}")
        return True

    def write_kiosk_config(self, lane_id: str, device_config: Path) -> LaneProcs:
        """The kiosk's file: the simulator's [lane] and [devices] as written, plus central,
        cache, journal and metrics."""
        run_tool(
            [
                "rocars",
                "pki",
                "lane",
                "--dir",
                str(self.certs),
                "--lane",
                lane_id,
                "--control-point",
                self.control_point,
                "--direction",
                self.direction,
            ]
        )
        with device_config.open("rb") as fh:
            tables = tomllib.load(fh)
        lane_dir = self.directory / "kiosks" / lane_id
        lane_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        tables["lane"].update(self.kiosk_settings)
        tables["central"] = {
            "address": f"127.0.0.1:{self.lane_port}",
            "server_name": "localhost",
            "ca": str(self.certs / "ca.pem"),
            "cert": str(self.certs / "lanes" / f"{lane_id}.pem"),
            "key": str(self.certs / "lanes" / f"{lane_id}.key"),
            "connect_timeout_s": 2.0,
            "rpc_timeout_s": 3.0,
        }
        tables["cache"] = {"path": str(lane_dir / "cache.sqlite3")}
        tables["journal"] = {"path": str(lane_dir / "journal")}
        tables["metrics"] = {"enabled": True, "listen": f"127.0.0.1:{port}"}
        officer_socket = lane_dir / "officer.sock"
        if len(str(officer_socket).encode()) > SOCKET_PATH_MAX:
            if self.socket_dir is None:
                self.socket_dir = Path(tempfile.mkdtemp(prefix="rocars-officer-"))
            officer_socket = self.socket_dir / f"{lane_id}.sock"
        tables["officer"] = {"socket": str(officer_socket)}
        path = lane_dir / "kiosk.toml"
        path.write_text(render_toml(tables))
        kiosk = Proc(
            f"kiosk-{lane_id}", ["rocars-kiosk", "daemon", "--config", path], self.logs, cwd=lane_dir
        )
        self.procs.append(kiosk)
        # The kiosk keeps one journal file per lane in its journal directory.
        journal = lane_dir / "journal" / f"{lane_id}.jsonl"
        lp = LaneProcs(lane_id, device_config, path, journal, port, kiosk, officer_socket)
        self.lane_procs[lane_id] = lp
        return lp

    def start_kiosk(self, lane_id: str, timeout: float = 60.0, synced: bool = True) -> None:
        lp = self.lane_procs[lane_id]
        lp.kiosk.start()

        def ready() -> bool:
            self._alive_or_fail(lp.kiosk)
            metrics = scrape(lp.metrics_port)
            if not synced:
                return True
            staleness = metric(metrics, "rocars_kiosk_cache_staleness_seconds", lane=lane_id)
            return staleness is not None and staleness < 60

        try:
            wait_until(f"kiosk {lane_id} (metrics, cache synced)", ready, timeout, interval=0.2)
        except StackError as exc:
            raise StackError(f"{exc}\n--- {lp.kiosk.log_path}:\n{lp.kiosk.log_tail()}") from None

    def start(self) -> Stack:
        try:
            self.start_central_side()
            for lane_id, config in self.lane_configs().items():
                self.write_kiosk_config(lane_id, config)
        except BaseException:
            self.close()
            raise
        return self

    def lane_configs(self) -> dict[str, Path]:
        return {
            lane_id: self.directory / "sim" / f"lane-{lane_id}.toml" for lane_id in self.start_lane_side()
        }

    def start_kiosks(self, timeout: float = 90.0) -> None:
        for lane_id in self.lane_procs:
            self.start_kiosk(lane_id, timeout)

    # --- shutdown ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop everything started, kiosks first (they bring their lanes to a safe
        state), then simulators, then central. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        order = [p for p in self.procs if p.name.startswith("kiosk-")]
        order += [p for p in self.procs if p not in order and p is not self.central]
        order += [self.central] if self.central is not None else []
        for proc in order:
            try:
                proc.stop()
            except Exception:  # one stuck child must not keep the others running
                log.exception("stopping %s", proc.name)
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- small helpers ----------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def render_toml(tables: dict[str, Any], prefix: str = "") -> str:
    """Nested dicts as TOML tables (enough for a kiosk file)."""
    out: list[str] = []
    scalars = {k: v for k, v in tables.items() if not isinstance(v, dict)}
    if prefix and scalars:
        out.append(f"[{prefix}]")
    out += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for key, value in tables.items():
        if isinstance(value, dict):
            sub = render_toml(value, f"{prefix}.{key}" if prefix else key)
            out.append(("\n" if out else "") + sub.rstrip("\n"))
    return "\n".join(out) + "\n"


def scrape(port: int, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as reply:
        return str(reply.read().decode())


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of metric ``name`` in a Prometheus text page."""
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m["name"] == name:
            out.append((dict(_LABEL.findall(m["labels"] or "")), float(m["value"])))
    return out


def metric(text: str, name: str, **labels: str) -> float | None:
    for have, value in samples(text, name):
        if all(have.get(k) == v for k, v in labels.items()):
            return value
    return None
