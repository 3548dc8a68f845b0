"""Issuer tooling for test cards: an issuer key pair, card personalisation, files on disk.

A card directory holds ``identity.tlv`` (EF.ID), ``certificate.der`` (EF.CERT),
``card_key.pem`` (the card's private key, mode 0600) and ``card.json`` (label and identity,
for people). An issuer directory holds ``issuer.pem`` (the self-signed issuer certificate
the kiosk trusts: ``[devices.card] issuer_public_keys``) and ``issuer_key.pem``.

The standard set, for simulators and tests: ``good``, ``second`` (another good card),
``expired``, ``foreign`` (certificate signed by an issuer the kiosk does not trust) and
``cloned`` (good's data and certificate with a different private key).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from drivers.card.application import IDENTITY_DIGEST_OID, Identity
from simulators.card.applet import CardProfile

__all__ = [
    "Issuer",
    "clone",
    "driver_cards",
    "hkid",
    "load_card",
    "load_card_directory",
    "personalise",
    "save_card",
    "standard_cards",
    "write_driver_set",
    "write_standard_set",
]

_HKID_PREFIX_LETTERS = "ABCDEGHJKMNPRSTVWYZ"


def hkid(letters: str, digits: str) -> str:
    """A Hong Kong identity card number with its check digit, e.g. ``hkid("A", "123456")``
    is ``A123456(3)``: weights 9..2 over the (space-padded) letters, A=10 .. Z=35, space=36,
    and the six digits; the check makes the sum divisible by 11 (10 is written ``A``)."""
    if not (1 <= len(letters) <= 2 and letters.isascii() and letters.isalpha() and letters.isupper()):
        raise ValueError(f"letters: one or two capital letters (got {letters!r})")
    if not (len(digits) == 6 and digits.isascii() and digits.isdigit()):
        raise ValueError(f"digits: six digits (got {digits!r})")
    values = [36 if ch == " " else ord(ch) - 55 for ch in letters.rjust(2)] + [int(d) for d in digits]
    check = (11 - sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True)) % 11) % 11
    return f"{letters}{digits}({'A' if check == 10 else check})"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _pem_private(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} must hold an EC private key")
    return key


@dataclass(frozen=True)
class Issuer:
    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def create(cls, name: str = "ROCARS Test Card Issuer", *, years: int = 20) -> Issuer:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ROCARS"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365 * years))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    def save(self, directory: Path) -> Path:
        """Write issuer.pem and issuer_key.pem; returns the path of the public issuer.pem."""
        directory.mkdir(parents=True, exist_ok=True)
        public = directory / "issuer.pem"
        public.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))
        _write_private(directory / "issuer_key.pem", _pem_private(self.private_key))
        return public

    @classmethod
    def load(cls, directory: Path) -> Issuer:
        cert = x509.load_pem_x509_certificate((directory / "issuer.pem").read_bytes())
        return cls(_load_private(directory / "issuer_key.pem"), cert)


def personalise(
    issuer: Issuer,
    identity: Identity,
    *,
    label: str = "card",
    card_key: ec.EllipticCurvePrivateKey | None = None,
    not_before: dt.datetime | None = None,
) -> CardProfile:
    """A card whose certificate binds its card number, its key and its identity record."""
    card_key = card_key or ec.generate_private_key(ec.SECP256R1())
    record = identity.encode()
    not_after = dt.datetime.combine(identity.expiry, dt.time(23, 59, 59), dt.UTC)
    if not_before is None:
        not_before = min(dt.datetime.now(dt.UTC), not_after) - dt.timedelta(days=365)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    # The holder's name stays in EF.ID (bound by the digest extension): an
                    # X.509 common name is limited to 64 characters, a name on the card is not.
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, identity.card_number),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"ROCARS driver card {identity.card_number}"),
                ]
            )
        )
        .issuer_name(issuer.certificate.subject)
        .public_key(card_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(IDENTITY_DIGEST_OID), hashlib.sha256(record).digest()
            ),
            critical=False,
        )
        .sign(issuer.private_key, hashes.SHA256())
    )
    return CardProfile(label, record, cert.public_bytes(serialization.Encoding.DER), card_key)


def clone(profile: CardProfile, label: str = "cloned") -> CardProfile:
    """The same data and certificate with another private key: what copying a card gives."""
    other_key = ec.generate_private_key(ec.SECP256R1())
    return CardProfile(label, profile.identity_record, profile.certificate_der, other_key)


def standard_cards(issuer: Issuer, today: dt.date | None = None) -> dict[str, CardProfile]:
    today = today or dt.datetime.now(dt.UTC).date()
    valid_until = today + dt.timedelta(days=5 * 365)
    good = personalise(
        issuer, Identity("4000123456789012", hkid("K", "123456"), "CHAN Tai Man", valid_until), label="good"
    )
    second = personalise(
        issuer, Identity("4000987654321098", hkid("R", "765432"), "LI Siu Ming", valid_until), label="second"
    )
    expired = personalise(
        issuer,
        Identity("4000555566667777", hkid("M", "555666"), "WONG Ka Fai", today - dt.timedelta(days=3)),
        label="expired",
    )
    foreign = personalise(
        Issuer.create("Untrusted Issuer"),
        Identity("4000111122223333", hkid("X", "111222"), "CHEUNG Wing", valid_until),
        label="foreign",
    )
    return {
        "good": good,
        "second": second,
        "expired": expired,
        "foreign": foreign,
        "cloned": clone(good),
    }


def save_card(profile: CardProfile, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "identity.tlv").write_bytes(profile.identity_record)
    (directory / "certificate.der").write_bytes(profile.certificate_der)
    _write_private(directory / "card_key.pem", _pem_private(profile.private_key))
    identity = Identity.decode(profile.identity_record)
    summary = {
        "label": profile.label,
        "card_number": identity.card_number,
        "document_number": identity.document_number,
        "name": identity.name,
        "expiry": identity.expiry.isoformat(),
    }
    (directory / "card.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return directory


def load_card(directory: Path) -> CardProfile:
    try:
        label = json.loads((directory / "card.json").read_text("utf-8"))["label"]
        return CardProfile(
            str(label),
            (directory / "identity.tlv").read_bytes(),
            (directory / "certificate.der").read_bytes(),
            _load_private(directory / "card_key.pem"),
        )
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"card directory {directory} is incomplete or damaged: {exc}") from exc


def write_standard_set(directory: Path, today: dt.date | None = None) -> dict[str, Path]:
    """Create an issuer and the standard cards under ``directory``; return their paths.

    Keys: ``issuer`` (the issuer.pem a kiosk trusts) and one per card label."""
    issuer = Issuer.create()
    paths = {"issuer": issuer.save(directory / "issuer")}
    for label, profile in standard_cards(issuer, today).items():
        paths[label] = save_card(profile, directory / "cards" / label)
    return paths


_SURNAMES = ("CHAN", "WONG", "LEUNG", "HO", "NG", "LAM", "TSANG", "CHEUNG", "YIP", "FUNG")
_GIVEN = ("Ka Ming", "Siu Fung", "Wai Keung", "Chi Wai", "Kin Man", "Hoi Yan", "Tak Shing", "Yuk Lan")


def driver_cards(issuer: Issuer, count: int, today: dt.date | None = None) -> dict[str, CardProfile]:
    """``count`` more good driver cards, ``driver-01`` .. : the same for the same ``count``
    (card numbers, names and valid HKIDs are derived from the position, keys are new)."""
    if not 1 <= count <= 999:
        raise ValueError(f"count: must be 1..999 (got {count})")
    today = today or dt.datetime.now(dt.UTC).date()
    valid_until = today + dt.timedelta(days=5 * 365)
    cards = {}
    for n in range(1, count + 1):
        label = f"driver-{n:02d}"
        identity = Identity(
            f"4000{200000000000 + n:012d}",
            hkid(_HKID_PREFIX_LETTERS[n % len(_HKID_PREFIX_LETTERS)], f"{(300007 * n) % 1000000:06d}"),
            f"{_SURNAMES[n % len(_SURNAMES)]} {_GIVEN[n // len(_SURNAMES) % len(_GIVEN)]}",
            valid_until,
        )
        cards[label] = personalise(issuer, identity, label=label)
    return cards


def write_driver_set(directory: Path, count: int, today: dt.date | None = None) -> dict[str, Path]:
    """A card directory for ``rocars-sim lane --cards DIR``: DIR/issuer (created if absent)
    and DIR/cards/driver-NN for each card; returns the paths like ``write_standard_set``."""
    issuer_dir = directory / "issuer"
    issuer = Issuer.load(issuer_dir) if (issuer_dir / "issuer_key.pem").exists() else Issuer.create()
    paths = {"issuer": issuer.save(issuer_dir)}
    for label, profile in driver_cards(issuer, count, today).items():
        paths[label] = save_card(profile, directory / "cards" / label)
    return paths


def load_card_directory(directory: Path) -> tuple[Path, dict[str, CardProfile]]:
    """A card directory (as ``write_driver_set`` writes it): its issuer.pem and its cards."""
    issuer_pem = directory / "issuer" / "issuer.pem"
    if not issuer_pem.is_file():
        raise ValueError(f"cards: {directory} has no issuer/issuer.pem (write one with "
                         "python -m simulators.card drivers DIR --count N)")
    cards_dir = directory / "cards"
    found = []
    if cards_dir.is_dir():
        found = sorted(p for p in cards_dir.iterdir() if (p / "card.json").is_file())
    if not found:
        raise ValueError(f"cards: {directory} has no cards/<label>/card.json")
    cards: dict[str, CardProfile] = {}
    for path in found:
        profile = load_card(path)
        if profile.label in cards:
            raise ValueError(f"cards: label {profile.label!r} appears twice in {directory}")
        cards[profile.label] = profile
    return issuer_pem, cards
