"""Contract tests of the RFID reader driver against the simulator, through a real pseudo-terminal.

Reads, events, every fault the simulator can inject (garbage, bad checksums, silence,
unplug and replug, a missing antenna, a wrong reader address), and recovery after each.
"""

from __future__ import annotations

import logging
import threading

import pytest

from drivers.base import Backoff, DeviceTimeout, DeviceUnavailable
from drivers.rfid import ReaderError, RfidEvent, RfidReader, TagGone, TagSeen
from simulators.rfid import RfidReaderSim
from tests.drivers.conftest import wait_until

EPC = "E28011700000020D1A2B3C4D"
EPC2 = "300833B2DDD9014000000001"


def next_event(reader: RfidReader, timeout: float = 1.0) -> RfidEvent:
    event = reader.get_event(timeout)
    if event is None:
        pytest.fail(f"no rfid event within {timeout} s")
    return event


def test_hello_gives_the_firmware_version(rfid_reader: RfidReader) -> None:
    assert rfid_reader.open() == "3.07"
    assert rfid_reader.firmware_version() == "3.07"


def test_tag_seen_once_then_gone(rfid_sim: RfidReaderSim, rfid_reader: RfidReader) -> None:
    rfid_reader.start()
    wait_until(lambda: rfid_reader.availability.available, 2, "reader available")
    rfid_sim.tag_enter(EPC, antenna=2, rssi_dbm=-48)
    seen = next_event(rfid_reader)
    assert isinstance(seen, TagSeen)
    assert (seen.epc, seen.antenna) == (EPC, 2)
    assert -51 <= seen.rssi <= -45
    wait_until(lambda: rfid_reader.presence.reads(EPC) >= 5, 2, "repeated reads")
    assert rfid_reader.get_event(0.05) is None  # repeated reads are not new arrivals
    rfid_sim.tag_leave(EPC)
    gone = next_event(rfid_reader)
    assert gone == TagGone(EPC, gone.at)
    assert gone.at - seen.at >= rfid_reader.presence.hold_time


def test_two_tags_and_callback_delivery(rfid_sim: RfidReaderSim) -> None:
    events: list[RfidEvent] = []
    got = threading.Event()

    def on_event(event: RfidEvent) -> None:
        events.append(event)
        if len(events) == 2:
            got.set()

    reader = RfidReader(rfid_sim.path, hold_time=0.3, command_timeout=0.2, on_event=on_event)
    try:
        rfid_sim.tag_enter(EPC)
        rfid_sim.tag_enter(EPC2)
        reader.start()
        assert got.wait(2), f"events so far: {events}"
        assert sorted(e.epc for e in events if isinstance(e, TagSeen)) == sorted([EPC, EPC2])
    finally:
        reader.close()


def test_garbage_and_bad_checksums_are_survived(rfid_sim: RfidReaderSim, rfid_reader: RfidReader) -> None:
    rfid_reader.start()
    wait_until(lambda: rfid_reader.availability.available, 2, "reader available")
    for _ in range(5):
        rfid_sim.inject_garbage(64)
    rfid_sim.corrupt_checksums(4)
    rfid_sim.tag_enter(EPC)
    assert isinstance(next_event(rfid_reader, 2), TagSeen)
    assert rfid_sim.corrupt_next == 0
    wait_until(lambda: rfid_reader.presence.reads(EPC) >= 5, 2, "reads after the faults")
    assert rfid_reader.get_event(0.1) is None  # no spurious gone/seen from a lost frame


def test_silence_is_unavailability_reported_once_each_way(
    rfid_sim: RfidReaderSim, rfid_reader: RfidReader, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[bool] = []
    rfid_reader.availability.set_listener(lambda available, reason: heard.append(available))
    rfid_reader.start()
    wait_until(lambda: rfid_reader.availability.available, 2, "reader available")
    with caplog.at_level(logging.INFO, logger="drivers.rfid.reader"):
        rfid_sim.silence(0.8)
        wait_until(lambda: not rfid_reader.availability.available, 2, "silence detected")
        assert (
            "no answer" in rfid_reader.availability.reason or "not closed" in rfid_reader.availability.reason
        )
        wait_until(lambda: rfid_reader.availability.available, 3, "reader back after silence")
    assert heard == [True, False, True]
    lines = [r.getMessage() for r in caplog.records if r.name == "drivers.rfid.reader"]
    assert len([m for m in lines if "unavailable" in m]) == 1
    assert len([m for m in lines if "available again" in m]) == 1


def test_unplug_and_replug(rfid_sim: RfidReaderSim, rfid_reader: RfidReader) -> None:
    rfid_reader.start()
    rfid_sim.tag_enter(EPC)
    assert isinstance(next_event(rfid_reader), TagSeen)
    rfid_sim.unplug()
    wait_until(lambda: not rfid_reader.availability.available, 2, "unplug detected")
    gone = next_event(rfid_reader)  # nothing read any more: the tag goes after hold time
    assert isinstance(gone, TagGone)
    rfid_sim.replug()
    wait_until(lambda: rfid_reader.availability.available, 3, "reader back after replug")
    assert isinstance(next_event(rfid_reader), TagSeen)


def test_antenna_missing_is_a_device_fault(rfid_sim: RfidReaderSim, rfid_reader: RfidReader) -> None:
    rfid_reader.open()
    rfid_sim.antenna_missing = True
    with pytest.raises(ReaderError, match="antenna missing") as info:
        rfid_reader.inventory_once()
    assert info.value.code == 0x22
    rfid_reader.start()
    wait_until(lambda: "antenna missing" in rfid_reader.availability.reason, 2, "antenna fault reported")
    rfid_sim.antenna_missing = False
    wait_until(lambda: rfid_reader.availability.available, 3, "reader back with its antenna")


def test_another_reader_address_is_silence(rfid_sim: RfidReaderSim) -> None:
    reader = RfidReader(rfid_sim.path, address=7, command_timeout=0.15)
    with reader, pytest.raises(DeviceTimeout, match="no answer to command 0x72"):
        reader.open()
    assert rfid_sim.commands == []  # the simulator heard the request and, as on RS-485, kept quiet


def test_missing_port_is_unavailable(tmp_path: object) -> None:
    reader = RfidReader("/nonexistent/ttyRFID", command_timeout=0.1, backoff=Backoff(0.01, 0.05))
    with pytest.raises(DeviceUnavailable, match="cannot open rfid port") as info:
        reader.open()
    assert info.value.__cause__ is not None
    reader.close()
    reader.close()  # the shutdown path is safe twice


def test_close_is_idempotent_and_stops_the_loop(rfid_reader: RfidReader) -> None:
    rfid_reader.start()
    wait_until(lambda: rfid_reader.availability.available, 2, "reader available")
    rfid_reader.close()
    rounds = rfid_reader.rounds
    rfid_reader.close()
    assert not rfid_reader.availability.available
    assert rfid_reader.get_event(0.1) is None
    assert rfid_reader.rounds == rounds


def test_reader_error_codes_are_reported(rfid_sim: RfidReaderSim, rfid_reader: RfidReader) -> None:
    rfid_reader.open()
    rfid_reader.set_work_antenna(2)
    assert rfid_sim.work_antenna == 2
    with pytest.raises(ReaderError, match=r"command 0x74 with error 0x41 invalid parameter"):
        rfid_reader.set_work_antenna(4)
    assert rfid_sim.work_antenna == 2


def test_close_from_the_event_callback_does_not_deadlock(rfid_sim: RfidReaderSim) -> None:
    closed = threading.Event()
    holder: list[RfidReader] = []

    def on_event(event: RfidEvent) -> None:
        holder[0].close()
        closed.set()

    reader = RfidReader(rfid_sim.path, command_timeout=0.2, on_event=on_event)
    holder.append(reader)
    rfid_sim.tag_enter(EPC)
    reader.start()
    assert closed.wait(2), "callback never ran"
    wait_until(lambda: not reader.availability.available, 1, "reader closed")
    reader.close()
