"""``rocars-sim lane``: whole simulated lanes, their config files and the technician's commands.

In-process tests drive ``LaneSimulation`` (RFID + I/O only) with the real drivers over the
ptys it creates; the end-to-end test starts ``rocars-sim lane`` as a process with all four
devices (private pcscd + virtual card, MJPEG camera), talks to its control socket and checks
every device with ``rocars-kiosk selftest`` in a child process (libpcsclite binds a process
to one pcscd for good, so the card is checked outside the test process).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.base import Backoff
from drivers.io import InputChanged, LaneIO
from drivers.rfid import RfidReader, TagGone, TagSeen
from kiosk.config import load_config
from simulators.lane import LaneSimulation, parse_command_line

TAG = "E2801170000002AA00001234"
VENV_BIN = Path(sys.executable).parent


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[LaneSimulation]:
    with LaneSimulation(tmp_path, lanes=2, card=False, camera=False, motion_time=0.2) as s:
        yield s


def ok(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply["ok"], reply
    return reply


def test_config_files_have_the_shared_shape(sim: LaneSimulation, tmp_path: Path) -> None:
    listing = json.loads((tmp_path / "lanes.json").read_text())
    assert sorted(listing["lanes"]) == ["LMC-I-01", "LMC-I-02"]
    config = tomllib.loads(Path(listing["lanes"]["LMC-I-02"]).read_text())
    assert config["lane"] == {"id": "LMC-I-02", "control_point": "LMC", "direction": "import"}
    rfid, io = config["devices"]["rfid"], config["devices"]["io"]
    assert rfid["baudrate"] == 115200 and rfid["reader_address"] == 1
    assert io["baudrate"] == 19200 and io["unit"] == 1 and io["watchdog_ms"] == 2000
    assert os.path.realpath(rfid["url"]).startswith("/dev/pts/")
    assert os.path.realpath(io["url"]).startswith("/dev/pts/")
    assert "card" not in config["devices"] and "camera" not in config["devices"]
    loaded = load_config(listing["lanes"]["LMC-I-02"])  # the kiosk takes the file as it is
    assert loaded.devices.rfid is not None and loaded.devices.rfid.reader_address == 1


def test_a_truck_passes_through_with_the_real_drivers(sim: LaneSimulation) -> None:
    config = tomllib.loads(sim.lanes["LMC-I-01"].config_path.read_text())["devices"]
    reader = RfidReader(config["rfid"]["url"], address=config["rfid"]["reader_address"], hold_time=0.3)
    io = LaneIO(config["io"]["url"], unit=config["io"]["unit"], watchdog_ms=1000, poll_interval=0.02)
    with reader, io:
        reader.start()
        io.start()
        wait_until(lambda: io.availability.available and reader.availability.available, 3, "drivers up")
        ok(sim.handle({"cmd": "arrive", "plate": "FU1234", "tag": TAG, "length": 6, "speed": 12}))
        seen = reader.get_event(2)
        assert isinstance(seen, TagSeen) and seen.epc == TAG
        wait_until(lambda: bool(io.inputs and io.inputs["arming_loop"]), 2, "arming loop")
        ok(sim.handle({"cmd": "drive"}))
        time.sleep(0.3)
        assert sim.lanes["LMC-I-01"].io.trucks_passed == 0  # the arm is down: the truck waits
        io.raise_barrier()
        wait_until(lambda: sim.lanes["LMC-I-01"].io.trucks_passed == 1, 5, "truck through")
        gone = reader.get_event(2)
        assert isinstance(gone, TagGone) and gone.epc == TAG
        io.lower_barrier()
        wait_until(lambda: bool(io.inputs and io.inputs["barrier_down_limit"]), 2, "arm down")
        names = set()
        while (event := io.get_event(0.01)) is not None:
            if isinstance(event, InputChanged) and event.value:
                names.add(event.name)
        assert {"safety_loop", "closing_loop", "barrier_up_limit"} <= names
    assert sim.handle({"cmd": "state", "lane": "LMC-I-02"})["state"]["trucks_passed"] == 0


def test_a_turned_away_truck_leaves_by_reversing_out(sim: LaneSimulation) -> None:
    """``leave``: the truck backs away with the arm down; the drivers see its tag go and the
    arming loop clear, and the lane takes the next truck."""
    config = tomllib.loads(sim.lanes["LMC-I-01"].config_path.read_text())["devices"]
    reader = RfidReader(config["rfid"]["url"], address=config["rfid"]["reader_address"], hold_time=0.3)
    io = LaneIO(config["io"]["url"], unit=config["io"]["unit"], watchdog_ms=1000, poll_interval=0.02)
    with reader, io:
        reader.start()
        io.start()
        wait_until(lambda: io.availability.available and reader.availability.available, 3, "drivers up")
        ok(sim.handle({"cmd": "arrive", "plate": "FU1234", "tag": TAG}))
        assert isinstance(reader.get_event(2), TagSeen)
        wait_until(lambda: bool(io.inputs and io.inputs["arming_loop"]), 2, "arming loop")
        state = ok(sim.handle({"cmd": "leave"}))["state"]
        assert state["truck"] is None and state["tags"] == [] and state["trucks_passed"] == 0
        gone = reader.get_event(2)
        assert isinstance(gone, TagGone) and gone.epc == TAG
        wait_until(lambda: io.inputs is not None and not any(
            io.inputs[n] for n in ("arming_loop", "safety_loop", "closing_loop")), 2, "loops clear")
        assert not sim.lanes["LMC-I-01"].io.coils["barrier_raise"]  # nobody raised the arm for it
        assert "no truck" in sim.handle({"cmd": "leave"})["error"]
        ok(sim.handle({"cmd": "arrive", "plate": "FU5678"}))  # the lane is free again


class SlowCamera:
    """Stands in for the MJPEG camera's scene rendering at its slowest on a busy host (a
    second or more): no real part can be made reliably that slow on demand."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.cleared = 0

    def show_vehicle(self, plate: str) -> None:
        pass

    def clear(self) -> None:
        time.sleep(self.seconds)
        self.cleared += 1


def test_the_io_module_keeps_answering_while_the_lane_scene_changes(sim: LaneSimulation) -> None:
    """A truck leaving changes the scene (tag, camera, card); that must not silence the I/O
    module's Modbus answers, or the kiosk reports an I/O fault that no real lane has (seen
    in checkpoint runs as 'FAULT io' right after a crossing)."""
    lane = sim.lanes["LMC-I-01"]
    lane.camera = camera = SlowCamera(1.5)
    config = tomllib.loads(lane.config_path.read_text())["devices"]
    lost: list[str] = []
    io = LaneIO(config["io"]["url"], unit=config["io"]["unit"], watchdog_ms=1000, poll_interval=0.02,
                timeout=0.2, fail_after=2,
                on_availability=lambda up, why: lost.append(why) if not up else None)
    with io:
        io.start()
        wait_until(lambda: io.availability.available, 3, "I/O module up")
        ok(sim.handle({"cmd": "arrive", "plate": "FU1234", "length": 6, "speed": 12}))
        io.raise_barrier()
        ok(sim.handle({"cmd": "drive"}))
        wait_until(lambda: lane.io.trucks_passed == 1, 5, "truck through")
        wait_until(lambda: camera.cleared == 1, 5, "the empty lane on camera")
        assert lost == [] and io.availability.available


def test_fault_commands_and_recovery(sim: LaneSimulation) -> None:
    config = tomllib.loads(sim.lanes["LMC-I-02"].config_path.read_text())["devices"]
    reader = RfidReader(config["rfid"]["url"], command_timeout=0.2, backoff=Backoff(0.02, 0.2))
    with reader:
        reader.start()
        wait_until(lambda: reader.availability.available, 3, "reader up")
        for kind in ("garbage", "bad_checksum"):
            ok(sim.handle({"cmd": "fault", "lane": "LMC-I-02", "device": "rfid", "kind": kind}))
        ok(sim.handle({"cmd": "fault", "lane": "LMC-I-02", "device": "rfid", "kind": "unplug"}))
        wait_until(lambda: not reader.availability.available, 3, "unplug seen")
        assert not os.path.exists(config["rfid"]["url"])
        ok(sim.handle({"cmd": "fault", "lane": "LMC-I-02", "device": "rfid", "kind": "replug"}))
        wait_until(lambda: reader.availability.available, 3, "reader back")
        ok(
            sim.handle(
                {"cmd": "fault", "lane": "LMC-I-02", "device": "rfid", "kind": "silence", "seconds": 0.6}
            )
        )
        wait_until(lambda: not reader.availability.available, 3, "silence seen")
        wait_until(lambda: reader.availability.available, 3, "reader back after silence")


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ({"cmd": "arrive", "lane": "XX-9"}, "lane: unknown lane 'XX-9'"),
        ({"cmd": "fly"}, "cmd: unknown command 'fly'"),
        (
            {"cmd": "fault", "device": "rfid", "kind": "fire"},
            "kind: 'fire' is not a fault of the rfid device",
        ),
        ({"cmd": "fault", "device": "toaster"}, "device: must be rfid, io, card or camera"),
        ({"cmd": "arrive", "card": "good"}, "card: this simulation runs without a card reader"),
        ({"cmd": "fault", "device": "camera", "kind": "stall"}, "without a camera"),
        ({"cmd": "arrive", "length": "long"}, "length: must be a number 2..25 (got 'long')"),
        ({"cmd": "fault", "device": "io", "kind": "silence", "seconds": -1}, "seconds: must be a number"),
    ],
)
def test_bad_commands_name_the_field(sim: LaneSimulation, command: dict[str, Any], message: str) -> None:
    reply = sim.handle(command)
    assert not reply["ok"] and message in reply["error"]
    assert sim.lanes["LMC-I-01"].io.truck is None  # nothing half-done


def test_second_truck_is_refused_while_the_lane_is_occupied(sim: LaneSimulation) -> None:
    ok(sim.handle({"cmd": "arrive", "plate": "AB1"}))
    reply = sim.handle({"cmd": "arrive", "plate": "AB2"})
    assert not reply["ok"] and "lane occupied by truck AB1" in reply["error"]


def test_command_line_parsing() -> None:
    assert parse_command_line("arrive plate=AB1234 tag=E2 card=good") == {
        "cmd": "arrive",
        "plate": "AB1234",
        "tag": "E2",
        "card": "good",
    }
    with pytest.raises(ValueError, match="arguments are key=value"):
        parse_command_line("arrive AB1234")


# --- the whole thing, as a process -------------------------------------------------------------


def _request(sock_path: str, command: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(json.dumps(command).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply


def _child_env() -> dict[str, str]:
    """This process's environment without its pcscd socket: run with other test files,
    ``PCSCLITE_CSOCK_NAME`` points at the session's pcscd, and the child must take the
    lane's own pcscd from its config (the kiosk refuses a conflicting one)."""
    env = dict(os.environ)
    env.pop("PCSCLITE_CSOCK_NAME", None)
    return env


def _selftest(config: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "rocars-kiosk"), "selftest", "--config", config, "--width", "200"],
        env=_child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def lane_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    proc = subprocess.Popen(
        [str(VENV_BIN / "rocars-sim"), "lane", "--dir", str(tmp_path), "--motion-time", "0.2"],
        env=_child_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "sim.log", "wb"),  # noqa: SIM115 - the child owns it
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "lanes.json").exists():
            if proc.poll() is not None:
                pytest.fail(f"rocars-sim lane exited: {(tmp_path / 'sim.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("rocars-sim lane not ready within 30 s")
            time.sleep(0.05)
        yield proc, tmp_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.mark.pcscd
@pytest.mark.slow
def test_rocars_sim_lane_end_to_end(lane_process: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, directory = lane_process
    listing = json.loads((directory / "lanes.json").read_text())
    config_path = listing["lanes"]["LMC-I-01"]
    config = tomllib.loads(Path(config_path).read_text())
    assert set(config["devices"]) == {"rfid", "io", "card", "camera"}
    loaded = load_config(config_path)  # the kiosk takes the file as it is
    assert loaded.devices.card is not None and loaded.devices.camera is not None
    assert loaded.devices.io.url == config["devices"]["io"]["url"]
    sock = listing["control_socket"]

    result = _selftest(config_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" OK ") == 4 and "reader ready, no card" in result.stdout, result.stdout
    assert "unavailable" not in result.stderr, result.stderr  # closing a driver is not a fault

    reply = _request(sock, {"cmd": "arrive", "plate": "FV88", "tag": TAG, "card": "good"})
    assert reply["ok"] and reply["state"]["tags"] == [TAG], reply
    time.sleep(0.8)  # pcscd polls for cards about every 400 ms
    result = _selftest(config_path)
    assert result.returncode == 0 and "card present" in result.stdout and "ATR 3B" in result.stdout, (
        result.stdout
    )
    assert "1 tag(s) in field" in result.stdout

    assert _request(sock, {"cmd": "pull_card"})["state"]["card"] is None
    assert _request(sock, {"cmd": "fault", "device": "io", "kind": "unplug"})["ok"]
    result = _selftest(config_path)
    assert result.returncode == 1, result.stdout
    assert "io" in result.stdout and "FAIL" in result.stdout and "cannot open io port" in result.stdout
    assert _request(sock, {"cmd": "fault", "device": "io", "kind": "replug"})["ok"]
    assert _request(sock, {"cmd": "fault", "device": "camera", "kind": "stall", "seconds": 0.5})["ok"]
    assert _request(sock, {"cmd": "quit"})["ok"]
    assert proc.wait(15) == 0
    assert not (directory / "control.sock").exists()


def test_a_card_directory_without_cards_or_issuer_is_refused_naming_it(tmp_path: Path) -> None:
    from simulators.card import load_card_directory, write_driver_set

    with pytest.raises(ValueError, match=r"^cards: .* has no issuer/issuer.pem"):
        load_card_directory(tmp_path)
    write_driver_set(tmp_path / "set", 2)
    issuer_pem, cards = load_card_directory(tmp_path / "set")
    assert sorted(cards) == ["driver-01", "driver-02"] and issuer_pem.is_file()
    for card in (tmp_path / "set" / "cards").iterdir():
        (card / "card.json").unlink()
    with pytest.raises(ValueError, match=r"^cards: .* has no cards/<label>/card.json"):
        load_card_directory(tmp_path / "set")
