"""Card reader contract tests through the real stack: CardReader -> pyscard -> libpcsclite ->
a private pcscd -> vpcd -> the virtual card over TCP. Reads, events, every fault, and
recovery after each."""

from __future__ import annotations

import dataclasses
import datetime as dt
import queue
import threading
import time
from collections.abc import Iterator

import pytest

from drivers.base import DeviceTimeout
from drivers.card import (
    CardAuthenticated,
    CardEvent,
    CardInserted,
    CardReader,
    CardReaderConfig,
    CardRejected,
    CardRemoved,
    RejectReason,
)
from drivers.card.pcsc import PcscClient
from simulators.card import VirtualCardServer
from simulators.pcscd import Pcscd
from tests.support.pcscd import CardFiles, wait_until

pytestmark = pytest.mark.pcscd

EVENT_TIMEOUT = 5.0


class Lane:
    """A card reader under test, its events and its availability transitions."""

    def __init__(self, config: CardReaderConfig, clock: dt.datetime | None = None) -> None:
        self.events: queue.Queue[CardEvent] = queue.Queue()
        self.transitions: list[tuple[bool, str]] = []
        kwargs = {"clock": (lambda: clock)} if clock else {}
        self.reader = CardReader(
            config,
            self.events.put,
            availability_listener=lambda ok, why: self.transitions.append((ok, why)),
            **kwargs,  # type: ignore[arg-type]
        )

    def next(self, timeout: float = EVENT_TIMEOUT) -> CardEvent:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no card event within {timeout} s")

    def expect(self, *kinds: type) -> list[CardEvent]:
        got = [self.next() for _ in kinds]
        assert [type(e) for e in got] == list(kinds), got
        return got

    def quiet(self, seconds: float) -> None:
        time.sleep(seconds)
        assert self.events.empty(), f"unexpected event {self.events.queue[0]}"


def make_config(reader: str, cards: CardFiles, **overrides: float) -> CardReaderConfig:
    values: dict[str, object] = {
        "reader": reader,
        "issuer_public_keys": (cards.issuer_pem,),
        "poll_interval": 0.2,
        "call_timeout": 1.0,
        "backoff_initial": 0.05,
        "backoff_cap": 0.4,
    }
    values.update(overrides)
    return CardReaderConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def lane(pcscd_running: Pcscd, card_files: CardFiles) -> Iterator[Lane]:
    under_test = Lane(make_config(pcscd_running.slots[0].reader, card_files))
    under_test.reader.start()
    wait_until(lambda: under_test.reader.availability.available, 5, "reader available")
    yield under_test
    under_test.reader.stop()


def test_good_card_inserted_authenticated_removed(
    lane: Lane, card_slot: VirtualCardServer, card_files: CardFiles
) -> None:
    card_slot.insert(card_files.profile("good"))
    inserted, authenticated = lane.expect(CardInserted, CardAuthenticated)
    assert isinstance(inserted, CardInserted) and inserted.atr.startswith(b"\x3b")
    assert isinstance(authenticated, CardAuthenticated)
    assert authenticated.identity.card_number == "4000123456789012"
    assert authenticated.identity.name == "CHAN Tai Man"
    assert card_slot.card is not None and card_slot.card.commands >= 9  # selects, reads, chains, challenge
    card_slot.remove()
    lane.expect(CardRemoved)
    lane.quiet(0.5)
    assert lane.transitions == [(True, "")]


def test_bad_cards_refused_through_pcscd_then_a_good_one_passes(
    lane: Lane, card_slot: VirtualCardServer, card_files: CardFiles
) -> None:
    for label, reason in [
        ("expired", RejectReason.EXPIRED),
        ("foreign", RejectReason.UNTRUSTED_ISSUER),
        ("cloned", RejectReason.AUTHENTICATION_FAILED),
    ]:
        card_slot.insert(card_files.profile(label))
        _, rejected = lane.expect(CardInserted, CardRejected)
        assert isinstance(rejected, CardRejected) and rejected.reason is reason, (label, rejected)
        card_slot.remove()
        lane.expect(CardRemoved)
    card_slot.insert(card_files.profile("good"))
    lane.expect(CardInserted, CardAuthenticated)


def test_card_that_keeps_failing_is_rejected_as_unreadable_then_recovery(
    lane: Lane, card_slot: VirtualCardServer, card_files: CardFiles
) -> None:
    good = card_files.profile("good")
    oversized = dataclasses.replace(good, label="oversized", certificate_der=good.certificate_der * 20)
    card_slot.insert(oversized)
    _, rejected = lane.expect(CardInserted, CardRejected)
    assert isinstance(rejected, CardRejected) and rejected.reason is RejectReason.UNREADABLE
    assert "at most 8192 are read" in rejected.text
    assert lane.reader.availability.available, "a bad card is not a reader fault"
    card_slot.insert(good)
    lane.expect(CardRemoved, CardInserted, CardAuthenticated)


def test_card_swapped_without_a_pause_is_two_cards(
    lane: Lane, card_slot: VirtualCardServer, card_files: CardFiles
) -> None:
    card_slot.insert(card_files.profile("good"))
    lane.expect(CardInserted, CardAuthenticated)
    card_slot.insert(card_files.profile("second"))  # pulled and another pushed in at once
    events = [lane.next() for _ in range(3)]
    assert [type(e) for e in events] == [CardRemoved, CardInserted, CardAuthenticated]
    assert isinstance(events[2], CardAuthenticated) and events[2].identity.card_number == "4000987654321098"


@pytest.mark.parametrize(
    "ins", [0xA4, 0xB0, 0xC0, 0x88], ids=["SELECT", "READ_BINARY", "GET_RESPONSE", "INTERNAL_AUTHENTICATE"]
)
def test_card_pulled_mid_command_then_recovery(
    lane: Lane, card_slot: VirtualCardServer, card_files: CardFiles, ins: int
) -> None:
    card_slot.pull_mid_command(ins)
    card_slot.insert(card_files.profile("good"))
    lane.expect(CardInserted, CardRemoved)  # no verdict for a card that left mid-read
    assert card_slot.pulled.is_set()
    assert lane.reader.availability.available, "a pulled card is not a reader fault"
    card_slot.insert(card_files.profile("good"))
    lane.expect(CardInserted, CardAuthenticated)


def test_pcscd_gone_is_one_fault_and_recovers(
    lane: Lane, card_slot: VirtualCardServer, card_files: CardFiles, pcscd_running: Pcscd
) -> None:
    card_slot.insert(card_files.profile("good"))
    lane.expect(CardInserted, CardAuthenticated)
    pcscd_running.stop()
    lane.expect(CardRemoved)  # the lane must not keep trusting a card it can no longer see
    wait_until(lambda: not lane.reader.availability.available, 5, "reader unavailable")
    time.sleep(1.5)  # several reconnect attempts, each failing
    assert lane.transitions == [(True, ""), (False, lane.transitions[1][1])]
    # Service not available or RPC transport error; on a loaded machine libpcsclite has also
    # reported the daemon dying mid-call as 0x8010006A (seen in a full run with 2 busy cores).
    reason = lane.transitions[1][1].upper()
    assert any(code in reason for code in ("0X8010001D", "0X80100013", "0X8010006A")), reason
    pcscd_running.start()
    wait_until(lambda: lane.reader.availability.available, 10, "reader available again")
    lane.expect(CardInserted, CardAuthenticated)  # the card stayed in the reader
    assert [ok for ok, _ in lane.transitions] == [True, False, True]


def test_wedged_reader_call_times_out_and_recovers(
    lane: Lane, card_slot: VirtualCardServer, card_files: CardFiles
) -> None:
    card_slot.stall_mid_command(0x88)  # vpcd waits for the card for good, as a hung reader would
    card_slot.insert(card_files.profile("good"))
    lane.expect(CardInserted)
    wait_until(lambda: not lane.reader.availability.available, 5, "timeout reported as a reader fault")
    assert "longer than" in lane.reader.availability.reason
    lane.expect(CardRemoved)
    card_slot.remove()  # the technician pulls the card: vpcd's wait ends
    wait_until(lambda: lane.reader.availability.available, 10, "reader available again")
    card_slot.insert(card_files.profile("good"))
    lane.expect(CardInserted, CardAuthenticated)


def test_expiry_is_checked_against_the_injected_clock(
    pcscd_running: Pcscd, card_slot: VirtualCardServer, card_files: CardFiles
) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=6 * 365)
    lane = Lane(make_config(pcscd_running.slots[0].reader, card_files), clock=future)
    with lane.reader:
        card_slot.insert(card_files.profile("good"))
        _, rejected = lane.expect(CardInserted, CardRejected)
        assert isinstance(rejected, CardRejected) and rejected.reason is RejectReason.EXPIRED


def test_two_lanes_on_two_slots_of_one_pcscd(pcscd_running: Pcscd, card_files: CardFiles) -> None:
    lanes = [Lane(make_config(slot.reader, card_files)) for slot in pcscd_running.slots]
    slots = [VirtualCardServer("127.0.0.1", slot.port) for slot in pcscd_running.slots]
    try:
        for lane in lanes:
            lane.reader.start()
        slots[0].insert(card_files.profile("good"))
        slots[1].insert(card_files.profile("second"))
        numbers = []
        for lane in lanes:
            _, authenticated = lane.expect(CardInserted, CardAuthenticated)
            assert isinstance(authenticated, CardAuthenticated)
            numbers.append(authenticated.identity.card_number)
        assert numbers == ["4000123456789012", "4000987654321098"]
    finally:
        for lane in lanes:
            lane.reader.stop()
        for slot in slots:
            slot.close()


def test_missing_reader_is_unavailable_with_the_reason(pcscd_running: Pcscd, card_files: CardFiles) -> None:
    lane = Lane(make_config("No Such Reader", card_files))
    with lane.reader:
        wait_until(lambda: "no PC/SC reader named" in lane.reader.availability.reason, 5, "reason set")
        assert not lane.reader.availability.available
        time.sleep(0.5)
        assert lane.transitions == []  # never available: nothing to report as a transition
    started = time.monotonic()
    lane.reader.stop()  # second stop, after the context manager's
    assert time.monotonic() - started < 1


def test_listener_failure_does_not_stop_the_reader(
    pcscd_running: Pcscd, card_slot: VirtualCardServer, card_files: CardFiles
) -> None:
    seen: list[CardEvent] = []
    calls = threading.Event()

    def flaky(event: CardEvent) -> None:
        seen.append(event)
        calls.set()
        if isinstance(event, CardInserted):
            raise RuntimeError("consumer bug")

    reader = CardReader(make_config(pcscd_running.slots[0].reader, card_files), flaky)
    reader.stop()  # before start: harmless
    with reader:
        card_slot.insert(card_files.profile("good"))
        wait_until(
            lambda: any(isinstance(e, CardAuthenticated) for e in seen), EVENT_TIMEOUT, "authenticated"
        )


def test_pcsc_call_overrunning_its_timeout_is_abandoned(pcscd_running: Pcscd) -> None:
    client = PcscClient(call_timeout=0.2)
    client.establish()
    blocker = threading.Event()

    # A stuck call stands in for a wedged driver here: test_wedged_reader_call_times_out_and_recovers
    # shows the same through vpcd, this checks the client itself is usable right after.
    def stuck() -> None:
        blocker.wait(5)

    started = time.monotonic()
    with pytest.raises(DeviceTimeout, match=r"longer than 0\.2 s"):
        client._run(stuck)
    assert time.monotonic() - started < 1
    assert not client.established
    client.establish()
    assert pcscd_running.slots[0].reader in client.list_readers()
    blocker.set()
    client.close()
    client.close()


def test_stop_wakes_a_long_status_wait(pcscd_running: Pcscd, card_files: CardFiles) -> None:
    lane = Lane(make_config(pcscd_running.slots[0].reader, card_files, poll_interval=30.0))
    lane.reader.start()
    wait_until(lambda: lane.reader.availability.available, 5, "reader available")
    time.sleep(0.2)  # now inside a 30 s SCardGetStatusChange
    started = time.monotonic()
    lane.reader.stop()
    assert time.monotonic() - started < 2, "SCardCancel should end the wait at once"
