"""The shared driver base: availability reported once per transition, capped backoff, errors."""

from __future__ import annotations

import logging

import pytest

from drivers.base import Availability, Backoff, DeviceTimeout, DeviceUnavailable, DriverError, ProtocolError


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_availability_logs_and_notifies_once_per_transition(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    heard: list[tuple[bool, str]] = []
    logger = logging.getLogger("test.availability")
    av = Availability("rfid", logger=logger, listener=lambda a, r: heard.append((a, r)), clock=clock)
    assert not av.available and av.reason == "not connected"
    with caplog.at_level(logging.INFO, logger="test.availability"):
        clock.now = 101.0
        assert av.set_available() is True
        assert av.set_available() is False
        clock.now = 102.0
        assert av.set_unavailable("no answer") is True
        assert av.set_unavailable("no answer") is False
        assert av.set_unavailable("port gone") is False  # same fault, new detail: not re-reported
        clock.now = 103.0
        assert av.set_available() is True
    messages = [r.getMessage() for r in caplog.records if r.name == "test.availability"]
    assert messages == ["rfid available", "rfid unavailable: no answer", "rfid available again"]
    assert heard == [(True, ""), (False, "no answer"), (True, "")]
    assert av.available and av.since == 103.0 and av.reason == ""


def test_availability_survives_a_broken_listener(caplog: pytest.LogCaptureFixture) -> None:
    def broken(available: bool, reason: str) -> None:
        raise RuntimeError("listener bug")

    av = Availability("io", listener=broken)
    with caplog.at_level(logging.ERROR):
        assert av.set_available() is True
    assert av.available
    assert any("listener failed" in r.getMessage() for r in caplog.records)


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    b = Backoff(0.1, 1.0)
    assert [b.next() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    b.reset()
    assert b.next() == pytest.approx(0.1)


@pytest.mark.parametrize(("initial", "cap", "field"), [(0, 1, "initial"), (1, 0.5, "cap")])
def test_backoff_rejects_bad_settings(initial: float, cap: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Backoff(initial, cap)


def test_exception_tree() -> None:
    for cls in (DeviceTimeout, DeviceUnavailable, ProtocolError):
        assert issubclass(cls, DriverError)
    assert not issubclass(DeviceTimeout, DeviceUnavailable)


def test_close_is_unavailability_logged_at_info_and_not_a_fault(caplog: pytest.LogCaptureFixture) -> None:
    heard: list[tuple[bool, str]] = []
    av = Availability(
        "camera", logger=logging.getLogger("test.close"), listener=lambda a, r: heard.append((a, r))
    )
    with caplog.at_level(logging.DEBUG, logger="test.close"):
        assert av.set_closed() is False  # never available: no transition, nothing logged
        assert av.set_available() is True
        assert av.set_closed() is True
        assert av.set_closed() is False
        assert av.set_unavailable("no frame for 1 s") is False  # a late fault from a dying thread
        assert av.closed and av.reason == "closed"
        assert av.set_available() is True  # started again
        assert not av.closed
        assert av.set_unavailable("no answer") is True
        assert av.set_closed() is False  # closing a faulty device: already reported
        assert av.closed and av.reason == "closed"
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "test.close"]
    assert records == [
        (logging.INFO, "camera available"),
        (logging.INFO, "camera closed"),
        (logging.INFO, "camera available again"),
        (logging.WARNING, "camera unavailable: no answer"),
    ]
    assert heard == [(True, ""), (False, "closed"), (True, ""), (False, "no answer")]
    assert "closed" in repr(av)
