"""Fixtures for the RFID reader and lane I/O module contract tests: simulators on real ptys.

Each simulator runs on a pseudo-terminal behind a symlink in the test's temp dir, as a
real adapter sits behind ``/dev/serial/by-id``; the driver opens that path, so unplug and
replug work the way they do with a USB adapter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.base import Backoff
from drivers.io import LaneIO
from drivers.rfid import RfidReader
from simulators.io_module import IoModuleSim
from simulators.rfid import RfidReaderSim

# One pcscd for every test module here: libpcsclite binds this process to the first socket
# it is given, so a second session pcscd (a fixture alias per module makes one each) would
# be started and stopped by tests while the drivers still talk to the first.
from tests.support.pcscd import card_files, card_slot, pcscd_daemon, pcscd_running  # noqa: F401


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails the test after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)
    return time.monotonic() - start


@pytest.fixture
def rfid_sim(tmp_path: Path) -> Iterator[RfidReaderSim]:
    sim = RfidReaderSim(str(tmp_path / "rfid0"), address=1, seed=7).start()
    yield sim
    sim.close()


@pytest.fixture
def rfid_reader(rfid_sim: RfidReaderSim) -> Iterator[RfidReader]:
    reader = RfidReader(rfid_sim.path, hold_time=0.3, command_timeout=0.2, backoff=Backoff(0.02, 0.2))
    yield reader
    reader.close()


@pytest.fixture
def io_sim(tmp_path: Path) -> Iterator[IoModuleSim]:
    sim = IoModuleSim(str(tmp_path / "io0"), unit=1, motion_time=0.2, seed=7).start()
    yield sim
    sim.close()


@pytest.fixture
def lane_io(io_sim: IoModuleSim) -> Iterator[LaneIO]:
    io = LaneIO(
        io_sim.path, unit=1, watchdog_ms=400, timeout=0.1, poll_interval=0.02, backoff=Backoff(0.02, 0.2)
    )
    yield io
    io.close()
