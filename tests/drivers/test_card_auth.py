"""Card authentication and the APDU channel, against the real virtual card application
in process (no PC/SC): every refusal reason, 61xx/6Cxx handling, named status words,
configuration rules. The same paths through pcscd + vpcd are in test_card_reader.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import DriverError
from drivers.card.apdu import CommandApdu, StatusWordError
from drivers.card.application import AID, FID_CERTIFICATE, FID_IDENTITY, Identity
from drivers.card.auth import CardVerifier, certificate_record_digest
from drivers.card.channel import CardChannel
from drivers.card.config import CardConfigError, CardReaderConfig, load_issuer_keys
from drivers.card.errors import CardRefused, RejectReason
from simulators.card import CardProfile, Issuer, VirtualCard, clone, personalise, standard_cards

TODAY = dt.date(2026, 11, 29)


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.create()


@pytest.fixture(scope="module")
def cards(issuer: Issuer) -> dict[str, CardProfile]:
    return standard_cards(issuer, TODAY)


def at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12, 0), dt.UTC)


def verifier(issuer: Issuer, day: dt.date = TODAY) -> CardVerifier:
    return CardVerifier([issuer.certificate.public_key()], clock=lambda: at(day))  # type: ignore[list-item]


class Recorder:
    """The card, and a log of the exchanges the reader made with it."""

    def __init__(self, profile: CardProfile) -> None:
        self.card = VirtualCard(profile)
        self.log: list[tuple[bytes, bytes]] = []

    def __call__(self, apdu: bytes) -> bytes:
        response = self.card.process(apdu)
        self.log.append((apdu, response))
        return response

    def status_words(self) -> list[int]:
        return [int.from_bytes(r[-2:], "big") for _, r in self.log]


def test_good_card_is_authenticated_and_uses_61xx_and_6cxx(
    issuer: Issuer, cards: dict[str, CardProfile]
) -> None:
    recorder = Recorder(cards["good"])
    identity = verifier(issuer).authenticate(CardChannel(recorder))
    assert identity == Identity(
        "4000123456789012", "K123456(0)", "CHAN Tai Man", TODAY + dt.timedelta(days=5 * 365)
    )
    sws = recorder.status_words()
    assert any(sw >> 8 == 0x61 for sw in sws), "SELECT/INTERNAL AUTHENTICATE should answer 61xx"
    assert any(sw >> 8 == 0x6C for sw in sws), "READ BINARY of EF.ID with Le=00 should answer 6Cxx"
    reads = [CommandApdu.decode(c) for c, _ in recorder.log if c[1] == 0xB0]
    offsets = [(a.p1 << 8) | a.p2 for a in reads]
    assert len(cards["good"].certificate_der) > 256 and 256 in offsets, (
        "certificate read in chunks at offsets"
    )


def test_each_challenge_is_fresh(issuer: Issuer, cards: dict[str, CardProfile]) -> None:
    recorder = Recorder(cards["good"])
    v = verifier(issuer)
    v.authenticate(CardChannel(recorder))
    v.authenticate(CardChannel(recorder))
    challenges = [c[5:37] for c, _ in recorder.log if c[1] == 0x88]
    assert len(challenges) == 2 and challenges[0] != challenges[1]


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("expired", RejectReason.EXPIRED),
        ("foreign", RejectReason.UNTRUSTED_ISSUER),
        ("cloned", RejectReason.AUTHENTICATION_FAILED),
    ],
)
def test_bad_cards_are_refused(
    issuer: Issuer, cards: dict[str, CardProfile], label: str, reason: RejectReason
) -> None:
    with pytest.raises(CardRefused) as refused:
        verifier(issuer).authenticate(CardChannel(VirtualCard(cards[label]).process))
    assert refused.value.reason is reason


def test_expiry_follows_the_injected_clock(issuer: Issuer, cards: dict[str, CardProfile]) -> None:
    good = cards["good"]
    expiry = Identity.decode(good.identity_record).expiry
    assert verifier(issuer, expiry).authenticate(CardChannel(VirtualCard(good).process)).expiry == expiry
    with pytest.raises(CardRefused) as refused:
        verifier(issuer, expiry + dt.timedelta(days=1)).authenticate(CardChannel(VirtualCard(good).process))
    assert refused.value.reason is RejectReason.EXPIRED
    before = x509.load_der_x509_certificate(good.certificate_der).not_valid_before_utc.date()
    with pytest.raises(CardRefused) as refused:
        verifier(issuer, before - dt.timedelta(days=1)).authenticate(CardChannel(VirtualCard(good).process))
    assert refused.value.reason is RejectReason.NOT_YET_VALID


def test_identity_record_swapped_under_a_genuine_certificate_is_refused(
    issuer: Issuer, cards: dict[str, CardProfile]
) -> None:
    good = cards["good"]
    forged = Identity(
        "4000123456789012", "K123456(0)", "SOMEONE Else", TODAY + dt.timedelta(days=900)
    ).encode()
    tampered = CardProfile("tampered", forged, good.certificate_der, good.private_key)
    with pytest.raises(CardRefused) as refused:
        verifier(issuer).authenticate(CardChannel(VirtualCard(tampered).process))
    assert refused.value.reason is RejectReason.DATA_MISMATCH
    cert = x509.load_der_x509_certificate(good.certificate_der)
    assert certificate_record_digest(cert) == hashlib.sha256(good.identity_record).digest()


def test_certificate_of_another_card_is_refused(issuer: Issuer, cards: dict[str, CardProfile]) -> None:
    good, second = cards["good"], cards["second"]
    mixed = CardProfile("mixed", good.identity_record, second.certificate_der, second.private_key)
    with pytest.raises(CardRefused) as refused:
        verifier(issuer).authenticate(CardChannel(VirtualCard(mixed).process))
    assert refused.value.reason is RejectReason.DATA_MISMATCH


def test_clone_with_its_own_key_still_fails(issuer: Issuer, cards: dict[str, CardProfile]) -> None:
    copy = clone(cards["second"])
    with pytest.raises(CardRefused) as refused:
        verifier(issuer).authenticate(CardChannel(VirtualCard(copy).process))
    assert refused.value.reason is RejectReason.AUTHENTICATION_FAILED


def test_garbage_files_are_unreadable(issuer: Issuer, cards: dict[str, CardProfile]) -> None:
    good = cards["good"]
    for profile in (
        CardProfile("bad-record", b"\xe1\x03\x80\x01\x02", good.certificate_der, good.private_key),
        CardProfile("bad-cert", good.identity_record, b"\x30\x03\x02\x01\x00", good.private_key),
    ):
        with pytest.raises(CardRefused) as refused:
            verifier(issuer).authenticate(CardChannel(VirtualCard(profile).process))
        assert refused.value.reason is RejectReason.UNREADABLE, profile.label


def test_status_words_are_raised_by_name(cards: dict[str, CardProfile]) -> None:
    channel = CardChannel(VirtualCard(cards["good"]).process)
    with pytest.raises(StatusWordError, match=r"6A82 \(file or application not found\)"):
        channel.select_application(b"\xa0\x00\x00\x00\x03")
    with pytest.raises(StatusWordError, match="6986"):
        channel.read_binary(0, 16)
    with pytest.raises(StatusWordError, match="6985"):
        channel.internal_authenticate(bytes(32))
    channel.select_application(AID)
    with pytest.raises(StatusWordError, match="6B00"):
        channel.select_file(FID_IDENTITY, want_size=False)
        channel.read_binary(4000, 1)
    size = channel.select_file(FID_CERTIFICATE, want_size=True)
    assert size == len(cards["good"].certificate_der)
    assert channel.read_file(FID_CERTIFICATE) == cards["good"].certificate_der


def test_get_response_chains_when_the_card_hands_out_part(cards: dict[str, CardProfile]) -> None:
    card = VirtualCard(cards["good"])
    card.process(CommandApdu(0, 0xA4, 4, 0, AID, le=256).encode())
    first = card.process(bytes.fromhex("00C0000005"))
    assert first[-2] == 0x61 and len(first) == 7  # 5 bytes, then "more available"
    second = card.process(CommandApdu(0, 0xC0, 0, 0, le=first[-1]).encode())
    assert second[-2:] == b"\x90\x00"


def test_config_rules_name_the_field(tmp_path: Path, issuer: Issuer) -> None:
    pem = issuer.save(tmp_path)
    good = CardReaderConfig.from_mapping({"reader": "Virtual PCD 00 00", "issuer_public_keys": [str(pem)]})
    assert good.issuer_public_keys == (pem,)
    assert load_issuer_keys(list(good.issuer_public_keys))
    public_only = tmp_path / "issuer_pub.pem"
    public_only.write_bytes(
        issuer.certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert len(load_issuer_keys([public_only, pem])) == 2
    with pytest.raises(CardConfigError, match=r"devices\.card\.reader is required"):
        CardReaderConfig.from_mapping({"issuer_public_keys": [str(pem)]})
    with pytest.raises(CardConfigError, match="unknown keys"):
        CardReaderConfig.from_mapping({"reader": "x", "issuer_public_keys": [str(pem)], "readr": 1})
    with pytest.raises(CardConfigError, match="backoff_cap must be >="):
        CardReaderConfig("x", (pem,), backoff_initial=2, backoff_cap=1)
    with pytest.raises(CardConfigError, match="is not a PEM public key"):
        load_issuer_keys([tmp_path / "issuer_key.pem"])
    with pytest.raises(CardConfigError, match="cannot read"):
        load_issuer_keys([tmp_path / "missing.pem"])


@given(st.lists(st.binary(max_size=260), min_size=1, max_size=40))
@settings(max_examples=200, deadline=None)
def test_any_card_answers_end_in_a_verdict_or_a_driver_error(answers: list[bytes]) -> None:
    """Whatever a (broken or hostile) card answers, the reader raises only its own errors."""
    issuer_key = _ISSUER.certificate.public_key()
    replies = iter(answers)

    def transmit(_: bytes) -> bytes:
        return next(replies, b"\x6f\x00")

    verifier_ = CardVerifier([issuer_key], clock=lambda: at(TODAY))  # type: ignore[list-item]
    with pytest.raises(DriverError):
        verifier_.authenticate(CardChannel(transmit))


@given(st.sampled_from(["identity_record", "certificate_der"]), st.data())
@settings(max_examples=150, deadline=None)
def test_no_single_byte_change_to_a_genuine_card_is_accepted(field: str, data: st.DataObject) -> None:
    good = _CARDS["good"]
    content = bytearray(getattr(good, field))
    index = data.draw(st.integers(0, len(content) - 1), label="index")
    content[index] ^= data.draw(st.integers(1, 255), label="xor")
    if field == "identity_record":
        changed = dataclasses.replace(good, identity_record=bytes(content))
    else:
        changed = dataclasses.replace(good, certificate_der=bytes(content))
    with pytest.raises(CardRefused):
        verifier(_ISSUER).authenticate(CardChannel(VirtualCard(changed).process))


@pytest.mark.parametrize("version", [1, 3, 0x7F])
def test_a_certificate_with_an_unknown_x509_version_is_refused(version: int) -> None:
    """Found by the property above: DER offset 12 is the version INTEGER of the TBS
    certificate (v3 = 2); other values made cryptography raise InvalidVersion, which is not
    a ValueError, so the verifier crashed instead of refusing the card."""
    good = _CARDS["good"]
    der = bytearray(good.certificate_der)
    assert der[8:13] == bytes([0xA0, 0x03, 0x02, 0x01, 0x02])  # [0] { INTEGER 2 }
    der[12] = version
    changed = dataclasses.replace(good, certificate_der=bytes(der))
    with pytest.raises(CardRefused, match=r"not usable X\.509"):
        verifier(_ISSUER).authenticate(CardChannel(VirtualCard(changed).process))


_ISSUER = Issuer.create()
_CARDS = standard_cards(_ISSUER, TODAY)


identities = st.builds(
    Identity,
    card_number=st.from_regex(r"[0-9]{8,19}", fullmatch=True),
    document_number=st.from_regex(r"[A-Z0-9()/-]{1,20}", fullmatch=True),
    name=st.text(min_size=1, max_size=80).filter(lambda s: s.isprintable() and s == s.strip()),
    expiry=st.dates(TODAY, dt.date(2099, 12, 31)),
)


@given(identities)
@settings(max_examples=40, deadline=None)
def test_any_valid_identity_reads_back_through_the_card(identity: Identity) -> None:
    """Records of any length the rules allow (up to 80 four-byte characters, over 256
    bytes) are read whole: 6Cxx for the tail, more READ BINARY at offsets past 256."""
    profile = personalise(_ISSUER, identity)
    assert verifier(_ISSUER).authenticate(CardChannel(VirtualCard(profile).process)) == identity


def test_a_long_record_needs_more_than_one_read(cards: dict[str, CardProfile]) -> None:
    long_name = "\U0001f600" * 80  # 320 bytes of UTF-8
    identity = Identity("4000123456789012", "K1", long_name, TODAY)
    recorder = Recorder(personalise(_ISSUER, identity))
    assert verifier(_ISSUER).authenticate(CardChannel(recorder)).name == long_name
    record_reads = [c for c, _ in recorder.log if c[1] == 0xB0 and c[4] == 0x00]
    assert len(record_reads) >= 2
