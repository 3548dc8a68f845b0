"""The card simulators' own contract: private pcscd instances, issuer files, the CLI."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from drivers.card.config import CardConfigError, CardReaderConfig
from simulators import pcscd as pcscd_module
from simulators.card import Issuer, load_card, save_card, standard_cards
from simulators.card.__main__ import main as card_cli
from simulators.card.vpcd import VirtualCardServer
from simulators.pcscd import Pcscd, PcscdError
from tests.support import pcscd as card_fixtures
from tests.support.pcscd import wait_until


@pytest.mark.pcscd
def test_a_second_private_pcscd_runs_beside_the_first(
    tmp_path: Path, pcscd_running: Pcscd, card_files: card_fixtures.CardFiles
) -> None:
    system_socket = Path("/run/pcscd/pcscd.comm")
    system_socket_before = system_socket.exists()
    other = Pcscd(tmp_path / "other", "Other Lane Pair")
    try:
        other.start()
        other.start()  # already running: no-op
        assert other.socket_path.is_socket()
        assert other.port is not None and other.port != pcscd_running.port
        assert other.list_readers() == ["Other Lane Pair 00 00", "Other Lane Pair 00 01"]
        assert pcscd_running.list_readers() == [s.reader for s in pcscd_running.slots]
        assert system_socket.exists() == system_socket_before, "the system pcscd's socket is not touched"
        # A card on the other pcscd's slot is seen there, and only there.
        with VirtualCardServer("127.0.0.1", other.slots[1].port) as slot:
            slot.insert(card_files.profile("good"))
            wait_until(slot.connected.is_set, 5, "card connected to vpcd")
    finally:
        other.stop()
        other.stop()  # safe twice
    assert not other.running
    with pytest.raises(PcscdError):
        other.list_readers(timeout=5)


def test_pcscd_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="without quotes"):
        Pcscd(tmp_path, 'bad"name')
    with pytest.raises(ValueError, match=r"port must be 1024\.\.65534"):
        Pcscd(tmp_path, "x", port=65535)
    with pytest.raises(PcscdError, match="start"):
        _ = Pcscd(tmp_path, "x").slots


def test_issuer_and_cards_round_trip_through_files(tmp_path: Path) -> None:
    issuer = Issuer.create()
    issuer.save(tmp_path / "issuer")
    again = Issuer.load(tmp_path / "issuer")
    assert again.certificate == issuer.certificate
    assert stat.S_IMODE((tmp_path / "issuer" / "issuer_key.pem").stat().st_mode) == 0o600
    cards = standard_cards(issuer)
    for label, profile in cards.items():
        loaded = load_card(save_card(profile, tmp_path / label))
        assert loaded.identity_record == profile.identity_record
        assert loaded.certificate_der == profile.certificate_der
        assert stat.S_IMODE((tmp_path / label / "card_key.pem").stat().st_mode) == 0o600
    assert cards["cloned"].certificate_der == cards["good"].certificate_der
    assert cards["cloned"].private_key.public_key() != cards["good"].private_key.public_key()
    foreign = x509.load_der_x509_certificate(cards["foreign"].certificate_der)
    assert foreign.issuer != issuer.certificate.subject
    with pytest.raises(ValueError, match="incomplete or damaged"):
        load_card(tmp_path / "missing")


def test_cli_writes_the_standard_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert card_cli(["standard-set", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for label in ("issuer", "good", "second", "expired", "foreign", "cloned"):
        assert label in out
    assert load_card(tmp_path / "cards" / "expired").label == "expired"
    with pytest.raises(SystemExit):
        card_cli(["personalise", str(tmp_path / "issuer"), str(tmp_path / "x"), "--card-number", "12",
                  "--document-number", "A1", "--name", "X", "--expiry", "2030-01-01"])  # fmt: skip
    assert "card_number must be 8 to 19 digits" in capsys.readouterr().err


def test_pcsc_socket_conflict_in_one_process_is_an_error(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "from pathlib import Path\n"
        "from drivers.card.config import CardReaderConfig, CardConfigError\n"
        "os.environ['PCSCLITE_CSOCK_NAME'] = '/tmp/a/pcscd.comm'\n"
        "CardReaderConfig('r', (Path('k'),), pcsc_socket='/tmp/a/pcscd.comm').apply_pcsc_socket()\n"
        "try:\n"
        "    CardReaderConfig('r', (Path('k'),), pcsc_socket='/tmp/b/pcscd.comm').apply_pcsc_socket()\n"
        "except CardConfigError as exc:\n"
        "    print(exc)\n"
    )
    # In a child: this test process is bound to the session's pcscd.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert "one pcscd per process" in out.stdout
    assert CardReaderConfig("r", (tmp_path,)).pcsc_socket is None
    with pytest.raises(CardConfigError, match="read_attempts"):
        CardReaderConfig("r", (tmp_path,), read_attempts=0)


@pytest.mark.pcscd
def test_without_mount_namespaces_pcscd_falls_back_to_the_shared_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stand-in for an unprivileged container, where unshare --mount is refused: no real
    # part here can take that permission away from a root test process.
    monkeypatch.setattr(pcscd_module, "_namespaces_work", lambda userns: False)
    shared_in_use = pcscd_module._socket_answers(pcscd_module.SHARED_SOCKET)
    daemon = Pcscd(tmp_path / "shared", "Shared Fallback")
    try:
        if shared_in_use:  # e.g. a systemd-activated system pcscd: refuse, never take it over
            with pytest.raises(PcscdError, match="another pcscd owns"):
                daemon.start()
            return
        daemon.start()
        assert daemon.socket_path == pcscd_module.SHARED_SOCKET
        assert daemon.list_readers() == ["Shared Fallback 00 00", "Shared Fallback 00 01"]
        second = Pcscd(tmp_path / "second", "Second")
        with pytest.raises(PcscdError, match="another pcscd owns"):
            second.start()
    finally:
        daemon.stop()
