"""A simulated lane (pseudo-terminal RFID reader and I/O module, private pcscd with a virtual
card slot, optional MJPEG camera) and the kiosk daemon run against it as a subprocess.

The daemon is started as systemd would start it: ``NOTIFY_SOCKET`` points at a datagram
socket the test reads, so READY, STATUS and WATCHDOG are observed for real.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from kiosk.cache import LaneCache
from proto.rocars.v1 import common_pb2, sync_pb2
from simulators.lane import LaneSimulation, render_toml

REPO = Path(__file__).resolve().parents[2]

KNOWN_PLATE = "AB1234"
KNOWN_EPC = "E2000017221101441890ABCD"
UNKNOWN_EPC = "E2000017221101441890FFFF"
GOOD_CARD_NUMBER = "4000123456789012"  # simulators.card.issuer.standard_cards "good"
GOOD_DRIVER = "K123456(0)"  # ... and its holder's HKID


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    interval: float = 0.05,
    detail: Callable[[], str] | None = None,
) -> Any:
    """``predicate()``'s first true value; fails the test after ``timeout`` (with ``detail()``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{detail()}" if detail is not None else ""
            pytest.fail(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(interval)


def _stamp(epoch_s: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(epoch_s * 1e9))
    return ts


def prefill_cache(
    path: Path,
    *,
    verdict: common_pb2.Verdict = common_pb2.CLEAR,
    driver: tuple[str, str, str] = (GOOD_DRIVER, GOOD_CARD_NUMBER, "CHAN Tai Man"),
) -> None:
    """One registered vehicle, its driver (document, card number, name) and one bundled trip
    now, through the cache's own apply path (as if central's feed had sent them)."""
    now = time.time()
    document, card_number, name = driver
    batch = sync_pb2.SyncBatch(
        vehicles=[sync_pb2.SyncVehicle(registration_mark=KNOWN_PLATE, tag_epc=KNOWN_EPC, active=True)],
        drivers=[
            sync_pb2.SyncDriver(
                document_number=document, card_number=card_number, name=name, active=True
            )
        ],
        trips=[
            sync_pb2.SyncTrip(
                reference="TRIP-0001",
                registration_mark=KNOWN_PLATE,
                driver_document_number=document,
                control_point="LMC",
                direction=common_pb2.IMPORT,
                slot_start=_stamp(now - 600),
                slot_end=_stamp(now + 1800),
                expected_arrival=_stamp(now),
                status=common_pb2.TRIP_BUNDLED,
                verdict=verdict,
                consignments=[sync_pb2.SyncConsignment(ccrn="CCRN0000001", verdict=verdict)],
            )
        ],
    )
    cache = LaneCache.open(path, "LMC", "import")
    try:
        cache.apply(sync_pb2.SyncMessage(kind=sync_pb2.CHANGES, cursor="c1", batch=batch))
    finally:
        cache.close()


@dataclass
class LaneRig:
    sim: LaneSimulation
    lane_id: str
    config_path: Path
    state_dir: Path

    @property
    def cache_path(self) -> Path:
        return self.state_dir / "cache.sqlite3"

    @property
    def officer_socket(self) -> Path:
        return self.config_path.parent / f"officer-{self.lane_id}.sock"

    @property
    def journal_path(self) -> Path:
        return self.state_dir / "journal" / f"{self.lane_id}.jsonl"

    def cmd(self, cmd: str, **kw: Any) -> dict[str, Any]:
        reply = self.sim.handle({"cmd": cmd, "lane": self.lane_id, **kw})
        assert reply["ok"], reply
        return reply

    def insert_card(self, kiosk: Kiosk, card: str = "good") -> None:
        """Insert a card and check that the kiosk counts it for the truck at the kiosk (its
        display says "Checking"), even when the card is read before the arming loop has
        reported the truck (seen here: about 1 insertion in 20 right after the arrival)."""
        seen = f"lane {self.lane_id} display: Checking"
        before = kiosk.full_log().count(seen)
        self.cmd("insert_card", card=card)
        wait_for(
            lambda: kiosk.full_log().count(seen) > before, 5.0, "the kiosk to take the card", detail=kiosk.log
        )

    def state(self) -> dict[str, Any]:
        return self.cmd("state")["state"]

    def outputs(self) -> dict[str, bool]:
        return dict(self.state()["outputs"])

    def crossings(self) -> list[tuple[str, str]]:
        """(idempotency key, outcome) of every decision in the lane's outbox (read only: a
        second writer would contend with the running kiosk)."""
        if not self.cache_path.exists():
            return []
        with contextlib.closing(
            sqlite3.connect(f"file:{self.cache_path}?mode=ro", uri=True, timeout=10)
        ) as db:
            rows = db.execute("SELECT idempotency_key, outcome FROM lane_crossing ORDER BY seq").fetchall()
            keys = db.execute("SELECT idempotency_key FROM outbox_event ORDER BY seq").fetchall()
        assert [k for (k,) in keys] == [k for k, _ in rows], "every lane record has exactly one outbox event"
        return [(str(k), str(o)) for k, o in rows]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths are limited to 108 bytes: pytest's tmp_path is too deep for them."""
    path = Path(tempfile.mkdtemp(prefix="rk-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_rig(
    short_dir: Path,
    *,
    camera: bool = False,
    lane: dict[str, Any] | None = None,
    lanes: int = 1,
    card_dir: Path | None = None,
) -> LaneRig:
    """The simulated lane(s) and the first lane's kiosk configuration (``lane_config`` for more)."""
    if shutil.which("pcscd") is None and not Path("/usr/sbin/pcscd").exists():
        pytest.fail("pcscd is needed for the lane's card reader (apt-get install pcscd vsmartcard-vpcd)")
    sim = LaneSimulation(short_dir / "sim", lanes=lanes, camera=camera, motion_time=0.4, card_dir=card_dir)
    try:
        sim.start()
    except RuntimeError as exc:
        pytest.fail(f"simulated lane did not start (pcscd/vpcd installed?): {exc}")
    return lane_config(sim, 0, short_dir, camera=camera, lane=lane)


def lane_config(
    sim: LaneSimulation,
    index: int,
    short_dir: Path,
    *,
    camera: bool = False,
    lane: dict[str, Any] | None = None,
) -> LaneRig:
    """A kiosk configuration for the simulation's lane ``index``: its devices as the simulator
    wrote them, quick lane timings, its own state directory, metrics on any free port."""
    lane_id = sim.lane_ids[index]
    tables = tomllib.loads(sim.lanes[lane_id].config_path.read_text())
    state_dir = short_dir / f"state-{lane_id}"
    config: dict[str, dict[str, object]] = {
        "lane": {
            **tables["lane"],
            "plate_wait_s": 0.3 if not camera else 6.0,
            "tag_wait_s": 0.5,
            "vacate_s": 1.0,
            "identify_timeout_s": 20.0,
            **(lane or {}),
        },
        "cache": {"path": str(state_dir / "cache.sqlite3")},
        "journal": {"path": str(state_dir / "journal")},
        "metrics": {"listen": "127.0.0.1:0"},
        "officer": {"socket": str(short_dir / f"officer-{lane_id}.sock")},
    }
    for name, table in tables.get("devices", {}).items():
        config[f"devices.{name}"] = table
    if camera:
        config["anpr"] = {"frames_per_vehicle": 4, "frame_interval_ms": 150, "frame_time_limit_ms": 1500}
    config_path = short_dir / f"{lane_id}.toml"
    config_path.write_text(render_toml(config))
    return LaneRig(sim, lane_id, config_path, state_dir)


@pytest.fixture
def rig(short_dir: Path) -> Iterator[LaneRig]:
    rig = make_rig(short_dir)
    prefill_cache(rig.cache_path)
    yield rig
    rig.sim.close()


@dataclass
class Kiosk:
    """``rocars-kiosk daemon`` in its own process group, with systemd's notify socket."""

    config: Path
    workdir: Path
    watchdog_usec: int = 0
    more_configs: tuple[Path, ...] = ()  # further lanes in the same process
    log_level: str = "INFO"
    proc: subprocess.Popen[bytes] | None = None
    notify: socket.socket | None = None
    messages: list[str] = field(default_factory=list)
    log_path: Path | None = None

    def start(self, ready_timeout: float = 30.0) -> Kiosk:
        sock_path = self.workdir / f"notify-{time.monotonic_ns()}.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(sock_path))
        self.notify.settimeout(0.2)
        env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), PYTHONUNBUFFERED="1")
        env.pop("PCSCLITE_CSOCK_NAME", None)  # the kiosk takes its pcscd from its config
        if self.watchdog_usec:
            env["WATCHDOG_USEC"] = str(self.watchdog_usec)
        self.log_path = self.workdir / f"kiosk-{time.monotonic_ns()}.log"
        command = [sys.executable, "-m", "kiosk.cli", "daemon", "--config", str(self.config)]
        for more in self.more_configs:
            command += ["--config", str(more)]
        with self.log_path.open("wb") as log_fh:
            self.proc = subprocess.Popen(
                [*command, "--stop-grace", "2", "--log-level", self.log_level],
                cwd=REPO,
                env=env,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_message("READY=1", ready_timeout)
        return self

    def read_messages(self) -> None:
        assert self.notify is not None
        while True:
            try:
                data = self.notify.recv(4096)
            except (TimeoutError, BlockingIOError):
                return
            self.messages.extend(data.decode().splitlines())
            self.notify.settimeout(0.0)
        self.notify.settimeout(0.2)

    def wait_message(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.notify is not None
        while time.monotonic() < deadline:
            for m in self.messages:
                if m.startswith(prefix):
                    return m
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"kiosk exited with {self.proc.returncode} before {prefix}:\n{self.log()}")
            self.notify.settimeout(0.2)
            with contextlib.suppress(TimeoutError):
                self.messages.extend(self.notify.recv(4096).decode().splitlines())
        pytest.fail(f"kiosk sent no {prefix} within {timeout} s:\n{self.log()}")

    def full_log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path else ""

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"kiosk did not exit within {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        """Safe to call twice; kills the process group if it ignores SIGTERM."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if self.notify is not None:
            self.notify.close()
            self.notify = None


@pytest.fixture
def kiosk_factory(short_dir: Path) -> Iterator[Callable[..., Kiosk]]:
    started: list[Kiosk] = []

    def start(rig: LaneRig, **kw: Any) -> Kiosk:
        k = Kiosk(rig.config_path, short_dir, **kw).start()
        started.append(k)
        return k

    yield start
    for k in started:
        k.stop()
