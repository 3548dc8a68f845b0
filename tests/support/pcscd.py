"""A private pcscd with the vpcd driver for tests, and the standard test cards.

libpcsclite reads ``PCSCLITE_CSOCK_NAME`` once per process, so a test process talks to
one pcscd: the session fixture ``pcscd_daemon`` starts it (in a private mount namespace,
beside any system pcscd: see simulators/pcscd.py) and points this process at it. Its two
vpcd slots are two lanes' card readers. Tests that stop or restart it (fault tests) use
``pcscd_running``, which puts it back for the next test.

Use from a test module::

    from tests.support.pcscd import card_files, card_slot, pcscd_daemon, pcscd_running  # noqa: F401

If pcscd, vpcd or unshare is missing, the fixture fails with the package to install: a
missing system package must not look like a passing (skipped) test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from smartcard import scard

from drivers.card.pcsc import PcscClient
from simulators.card import CardProfile, VirtualCardServer, load_card, write_standard_set
from simulators.pcscd import SOCKET_ENV, Pcscd, PcscdError

__all__ = ["CardFiles", "card_files", "card_slot", "pcscd_daemon", "pcscd_running", "wait_until"]


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails the test after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture(scope="session")
def pcscd_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pcscd]:
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd"), "ROCARS test vpcd")
    try:
        daemon.start()
    except PcscdError as exc:
        pytest.fail(f"a private pcscd with vpcd is needed (apt-get install pcscd vsmartcard-vpcd): {exc}")
    previous = os.environ.get(SOCKET_ENV)
    os.environ[SOCKET_ENV] = str(daemon.socket_path)
    yield daemon
    daemon.stop()
    if previous is None:
        os.environ.pop(SOCKET_ENV, None)
    else:
        os.environ[SOCKET_ENV] = previous


@pytest.fixture
def pcscd_running(pcscd_daemon: Pcscd) -> Iterator[Pcscd]:
    """The session's pcscd, running; restarted after the test if the test stopped it."""
    pcscd_daemon.start()
    yield pcscd_daemon
    pcscd_daemon.start()


@dataclass(frozen=True)
class CardFiles:
    issuer_pem: Path
    cards: dict[str, Path]

    def profile(self, label: str) -> CardProfile:
        return load_card(self.cards[label])


@pytest.fixture(scope="session")
def card_files(tmp_path_factory: pytest.TempPathFactory) -> CardFiles:
    """An issuer and the standard cards (good, second, expired, foreign, cloned) on disk."""
    paths = write_standard_set(tmp_path_factory.mktemp("cards"))
    issuer = paths.pop("issuer")
    return CardFiles(issuer, paths)


@pytest.fixture
def card_slot(pcscd_running: Pcscd) -> Iterator[VirtualCardServer]:
    """Slot 0 of the test pcscd's vpcd reader, empty; closed after the test."""
    slot = VirtualCardServer("127.0.0.1", pcscd_running.slots[0].port)
    yield slot
    slot.close()
    wait_until(lambda: not slot_has_card(pcscd_running.slots[0].reader), 5, "pcscd to see the slot empty")


def slot_has_card(reader: str) -> bool:
    """What pcscd believes now (it notices a removal at its next presence poll)."""
    client = PcscClient(call_timeout=2.0)
    try:
        client.establish()
        ((_, state, _),) = client.get_status_change(0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return bool(state & scard.SCARD_STATE_PRESENT)
    finally:
        client.close()
