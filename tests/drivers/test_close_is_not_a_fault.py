"""Closing a driver on purpose marks it unavailable, once, but is logged as information.

The same check runs on all four lane drivers, each on its real transport (pty, HTTP,
pcscd + vpcd): a close after the device was available gives the listener one
``(False, "closed")``, one info line ending in "closed" and no warning; a second close
adds nothing; and a fault that was already being reported is not re-logged by the close.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.base import Availability, Backoff
from drivers.camera import CameraSettings, PlateCamera
from drivers.card import CardReader, CardReaderConfig
from drivers.io import LaneIO
from drivers.rfid import RfidReader
from simulators.camera_stream import MjpegCameraServer
from simulators.io_module import IoModuleSim
from simulators.pcscd import Pcscd
from simulators.rfid import RfidReaderSim
from tests.drivers.conftest import wait_until
from tests.support.pcscd import CardFiles


@dataclass
class Driver:
    """One started driver: its availability, how to close it, and how to make it fail."""

    availability: Availability
    close: Callable[[], None]
    break_device: Callable[[], None]
    logger: str


@pytest.fixture
def rfid_driver(tmp_path: Path) -> Iterator[Driver]:
    sim = RfidReaderSim(str(tmp_path / "rfid0"), address=1, seed=7).start()
    reader = RfidReader(sim.path, hold_time=0.3, command_timeout=0.2, backoff=Backoff(0.02, 0.2))
    reader.start()
    yield Driver(reader.availability, reader.close, sim.unplug, "drivers.rfid.reader")
    reader.close()
    sim.close()


@pytest.fixture
def io_driver(tmp_path: Path) -> Iterator[Driver]:
    sim = IoModuleSim(str(tmp_path / "io0"), unit=1, motion_time=0.2, seed=7).start()
    io = LaneIO(
        sim.path, unit=1, watchdog_ms=400, timeout=0.1, poll_interval=0.02, backoff=Backoff(0.02, 0.2)
    )
    io.start()
    yield Driver(io.availability, io.close, sim.unplug, "drivers.io.module")
    io.close()
    sim.close()


@pytest.fixture
def camera_driver() -> Iterator[Driver]:
    server = MjpegCameraServer(fps=20, seed=7)
    server.show_vehicle("AB1234")
    settings = CameraSettings(server.url, open_timeout=1.0, read_timeout=0.5, stale_after=0.3)
    camera = PlateCamera(settings).start()
    yield Driver(camera.availability, camera.close, lambda: server.stall(5.0), "drivers.camera")
    camera.close()
    server.close()


@pytest.fixture
def card_driver(pcscd_running: Pcscd, card_files: CardFiles) -> Iterator[Driver]:
    config = CardReaderConfig(
        reader=pcscd_running.slots[0].reader,
        issuer_public_keys=(card_files.issuer_pem,),
        poll_interval=0.2,
        call_timeout=1.0,
        backoff_initial=0.05,
        backoff_cap=0.4,
    )
    reader = CardReader(config, lambda event: None)
    reader.start()
    yield Driver(reader.availability, reader.stop, pcscd_running.stop, "drivers.card")
    reader.stop()


DRIVERS = ["rfid_driver", "io_driver", "camera_driver", pytest.param("card_driver", marks=pytest.mark.pcscd)]


def _records(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger]


@pytest.mark.parametrize("fixture", DRIVERS)
def test_close_is_logged_once_at_info_and_heard_as_unavailable(
    fixture: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    driver: Driver = request.getfixturevalue(fixture)
    heard: list[tuple[bool, str]] = []
    driver.availability.set_listener(lambda available, reason: heard.append((available, reason)))
    wait_until(lambda: driver.availability.available, 5, f"{fixture} available")
    assert heard in ([], [(True, "")])  # the listener may come before or after the first frame/answer
    heard.clear()
    caplog.set_level(logging.INFO, logger=driver.logger)
    caplog.clear()
    driver.close()
    driver.close()  # one shutdown path, safe to call twice
    assert not driver.availability.available
    assert driver.availability.closed and driver.availability.reason == "closed"
    assert heard == [(False, "closed")]
    records = _records(caplog, driver.logger)
    assert [r.levelno for r in records] == [logging.INFO], [r.getMessage() for r in records]
    assert records[0].getMessage().endswith(" closed")


@pytest.mark.parametrize("fixture", DRIVERS)
def test_close_during_a_fault_adds_no_line(
    fixture: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    driver: Driver = request.getfixturevalue(fixture)
    wait_until(lambda: driver.availability.available, 5, f"{fixture} available")
    caplog.set_level(logging.INFO, logger=driver.logger)
    caplog.clear()
    driver.break_device()
    wait_until(lambda: not driver.availability.available, 5, f"{fixture} fault noticed")
    assert not driver.availability.closed  # a fault, not a close

    def warnings() -> list[str]:
        lines = _records(caplog, driver.logger)
        return [
            r.getMessage() for r in lines if r.levelno >= logging.WARNING and "unavailable" in r.getMessage()
        ]

    # The state flips before the line is written (by the driver's thread): wait for the line.
    wait_until(lambda: bool(warnings()), 2, "the fault's log line")
    assert len(warnings()) == 1, warnings()
    caplog.clear()
    driver.close()
    assert driver.availability.closed and not driver.availability.available
    assert not [r for r in _records(caplog, driver.logger) if "closed" in r.getMessage()]
