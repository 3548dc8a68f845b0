"""The drivers open any pyserial URL: both run over ``socket://`` to a serial device server.

socat plays the device server (as a Moxa-style box on the lane would), bridging a TCP port
to the simulator's pseudo-terminal; the drivers are the same code as on a local port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from drivers.io import LaneIO
from drivers.rfid import RfidReader, TagSeen
from simulators.io_module import IoModuleSim
from simulators.rfid import RfidReaderSim


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bridge(tty_name: str) -> Iterator[str]:
    socat = shutil.which("socat")
    assert socat, "Debian package socat is required for this test (apt-get install socat)"
    assert shutil.which("ss"), "ss (Debian package iproute2) is required for this test"
    port = _free_port()
    proc = subprocess.Popen(
        [socat, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr", f"FILE:{tty_name},raw,echo=0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 5
        while not _listening(port):  # no probe connection: socat serves exactly one session
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("socat did not start listening")
            time.sleep(0.02)
        yield f"socket://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)


def _listening(port: int) -> bool:
    out = subprocess.run(["ss", "-ltn", f"sport = :{port}"], capture_output=True, text=True, check=False)
    return f":{port}" in out.stdout


@pytest.fixture
def rfid_socket_url(rfid_sim: RfidReaderSim) -> Iterator[str]:
    yield from _bridge(rfid_sim.tty_name)


@pytest.fixture
def io_socket_url(io_sim: IoModuleSim) -> Iterator[str]:
    yield from _bridge(io_sim.tty_name)


def test_rfid_over_socket(rfid_sim: RfidReaderSim, rfid_socket_url: str) -> None:
    with RfidReader(rfid_socket_url, hold_time=0.3, command_timeout=0.3) as reader:
        assert reader.open() == "3.07"
        rfid_sim.tag_enter("E2801170000002AA00009999")
        reader.start()
        event = reader.get_event(2)
        assert isinstance(event, TagSeen) and event.epc == "E2801170000002AA00009999"


def test_io_over_socket(io_sim: IoModuleSim, io_socket_url: str) -> None:
    with LaneIO(io_socket_url, watchdog_ms=1500, timeout=0.3) as io:
        assert io.open() == "2.04"
        io.set_light(red=False, green=True)
        assert io.read_outputs()["light_green"] is True
        assert io_sim.watchdog_ms == 1500
