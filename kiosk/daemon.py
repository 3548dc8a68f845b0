"""``rocars-kiosk daemon --config FILE [--config FILE ...]``: run one lane (or several).

Each lane gets its own control loop (``kiosk.runner``); this module is the process around
them: configuration checked whole before anything is touched (errors name the key, exit
2), structured logs, the Prometheus endpoint, systemd's notify protocol (READY once every
lane's loop runs, STATUS with each lane's phase and health, WATCHDOG only while every
control loop is turning: the ping is sent from a control loop, never from a timer), and
the one shutdown path: SIGTERM or SIGINT -> each lane goes red and lowers its arm only
when it is safe -> drivers closed (the I/O module left red) -> exit 0. A control loop
that dies makes the process exit 1 so that ``Restart=on-failure`` brings the lane back
through its journal.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from drivers.card import CardConfigError
from kiosk.config import ConfigError, KioskConfig, load_config
from kiosk.metrics import MetricsServer
from kiosk.officer import OfficerServer, Submit
from kiosk.runner import LaneError, LaneRunner
from kiosk.sdnotify import SystemdNotifier

log = logging.getLogger("kiosk.daemon")

EXIT_CONFIG = 2
EXIT_FAILED = 1
# A control loop that has not turned for this long is wedged: the lane is made safe from
# outside it and the process exits for a restart (systemd's watchdog would kill it too,
# but the I/O driver's own poll thread keeps the module's watchdog fed meanwhile).
LOOP_STALL_S = 5.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "daemon",
        help="run the lane(s): devices, plate recognition, lane logic, cache, outbox",
        description="Run one lane per --config file in this process until SIGTERM.",
    )
    parser.add_argument(
        "--config",
        action="append",
        required=True,
        type=Path,
        help="lane configuration (TOML); repeat for several lanes in one process",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--log-format",
        default="text",
        choices=("text", "json"),
        help="json: one JSON object per line (for a log shipper)",
    )
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=15.0,
        help="seconds to wait on SIGTERM for a vehicle to clear the arm before exiting",
    )
    parser.set_defaults(func=run)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "thread": record.threadName,
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def load_all(paths: list[Path]) -> list[KioskConfig]:
    """Every file checked; errors of all of them raised together."""
    configs: list[KioskConfig] = []
    errors: list[str] = []
    for path in paths:
        try:
            configs.append(load_config(path))
        except ConfigError as exc:
            errors.append(str(exc))
    seen: set[tuple[str, str]] = set()
    for cfg in configs:
        # Two lanes on one cache file would each send the other's outbox events.
        for what, key in (("lane.id", cfg.lane.id), ("cache.path", str(cfg.cache.path))):
            if (what, key) in seen:
                errors.append(f"{cfg.source}: {what}: {key} is used by another lane of this process")
            seen.add((what, key))
    if errors:
        raise ConfigError(errors)
    return configs


class Daemon:
    def __init__(
        self,
        configs: list[KioskConfig],
        *,
        stop_grace_s: float = 15.0,
        notifier: SystemdNotifier | None = None,
    ) -> None:
        self.configs = configs
        self.notifier = notifier or SystemdNotifier()
        self.stop_event = threading.Event()
        self.runners = [LaneRunner(c, on_alive=self._loop_alive, stop_grace_s=stop_grace_s) for c in configs]
        self.metrics: MetricsServer | None = None
        self.officer_servers: list[OfficerServer] = []
        self._last_ping = 0.0
        self._ping_lock = threading.Lock()
        self._status = ""

    def _loop_alive(self, runner: LaneRunner) -> None:
        """Called by every control loop each turn: the watchdog is fed only while all turn."""
        interval = self.notifier.watchdog_interval
        if interval is None:
            return
        now = time.monotonic()
        with self._ping_lock:
            if now - self._last_ping < interval / 4:
                return
            if any(r.done.is_set() or now - r.last_alive > interval / 2 for r in self.runners):
                return
            self._last_ping = now
        self.notifier.watchdog()

    def start(self) -> None:
        first = self.configs[0]
        if first.metrics.enabled:
            self.metrics = MetricsServer(first.metrics.listen)
            self.metrics.start()
        for runner in self.runners:
            runner.start()
        by_socket: dict[Path, dict[str, Submit]] = {}
        for runner in self.runners:
            if runner.config.officer is not None:
                by_socket.setdefault(runner.config.officer.socket, {})[runner.lane_id] = runner.submit
        for path, lanes in by_socket.items():
            server = OfficerServer(path, lanes)
            server.start()
            self.officer_servers.append(server)
        self._status = self.status()
        self.notifier.ready(self._status)
        log.info("kiosk ready: %s", self._status)

    def status(self) -> str:
        return "; ".join(r.status() for r in self.runners)

    def wait(self) -> int:
        """Until a stop signal (0) or a control loop died (1)."""
        while not self.stop_event.wait(1.0):
            dead = [r.lane_id for r in self.runners if r.done.is_set()]
            if dead:
                log.error("control loop of lane(s) %s ended; exiting for a restart", ", ".join(dead))
                return EXIT_FAILED
            now = time.monotonic()
            stalled = [r for r in self.runners if now - r.last_alive > LOOP_STALL_S]
            if stalled:
                for runner in stalled:
                    log.error(
                        "control loop of lane %s stalled for %.0f s; making the lane safe and exiting",
                        runner.lane_id,
                        now - runner.last_alive,
                    )
                    runner.fail_safe()
                return EXIT_FAILED
            status = self.status()
            if status != self._status:
                self._status = status
                self.notifier.status(status)
        return 0

    def shutdown(self) -> None:
        """Safe to call twice."""
        self.notifier.stopping("stopping: lanes closing")
        servers, self.officer_servers = self.officer_servers, []
        for server in servers:
            server.stop()
        for runner in self.runners:
            runner.request_stop()
        for runner in self.runners:
            runner.close()
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None


def run(args: argparse.Namespace) -> int:
    setup_logging(args.log_level, args.log_format)
    try:
        configs = load_all(list(args.config))
    except ConfigError as exc:
        print(f"rocars-kiosk daemon: configuration refused:\n{exc}", file=sys.stderr)
        return EXIT_CONFIG
    daemon = Daemon(configs, stop_grace_s=args.stop_grace)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: stopping", signal.Signals(signum).name)
        daemon.stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    try:
        daemon.start()
        code = daemon.wait()
    except (LaneError, CardConfigError, OSError) as exc:
        log.error("cannot run the lane: %s", exc)
        code = EXIT_FAILED
    finally:
        daemon.shutdown()
    log.info("kiosk stopped (exit %d)", code)
    return code
