"""Card authentication: read the identity, check the issuer chain, bind the record to the
certificate, challenge the card's private key, check validity against an injectable clock.

The order matters for what a refusal says: the chain first (no trust, nothing else counts),
then the record binding, then INTERNAL AUTHENTICATE (a clone of a genuine card fails
here, whatever its dates), and validity last.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from drivers.card.apdu import ApduError, StatusWordError
from drivers.card.application import (
    AID,
    AUTH_CONTEXT,
    CHALLENGE_LENGTH,
    FID_CERTIFICATE,
    FID_IDENTITY,
    IDENTITY_DIGEST_OID,
    Identity,
)
from drivers.card.channel import CardChannel
from drivers.card.config import IssuerKey
from drivers.card.errors import CardRefused, RejectReason

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def certificate_card_number(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    return str(values[0].value) if values else None


def certificate_record_digest(cert: x509.Certificate) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(IDENTITY_DIGEST_OID))
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


class CardVerifier:
    def __init__(
        self,
        issuer_keys: list[IssuerKey],
        *,
        clock: Clock = utc_now,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if not issuer_keys:
            raise ValueError("issuer_keys must hold at least one trusted issuer key")
        self._issuer_keys = list(issuer_keys)
        self._clock = clock
        self._random = random_bytes

    def authenticate(self, channel: CardChannel) -> Identity:
        """Read and authenticate the card; raise CardRefused, or a DriverError on I/O trouble."""
        try:
            channel.select_application(AID)
        except StatusWordError as exc:
            if exc.sw == 0x6A82:
                raise CardRefused(
                    RejectReason.UNREADABLE, "not a ROCARS identity card (no application)"
                ) from exc
            raise
        record = channel.read_small_file(FID_IDENTITY)
        cert_der = channel.read_file(FID_CERTIFICATE)
        try:
            identity = Identity.decode(record)
        except ApduError as exc:
            raise CardRefused(RejectReason.UNREADABLE, f"identity record: {exc}") from exc
        try:
            cert = x509.load_der_x509_certificate(cert_der)
            card_key = cert.public_key()
            card_number = certificate_card_number(cert)
            record_digest = certificate_record_digest(cert)
            hash_algorithm = cert.signature_hash_algorithm
            valid_from, valid_to = cert.not_valid_before_utc, cert.not_valid_after_utc
        # InvalidVersion is not a ValueError: a version field other than v1/v3 raises it.
        except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            raise CardRefused(
                RejectReason.UNREADABLE, f"card certificate is not usable X.509: {exc}"
            ) from exc

        self._check_issuer(cert, hash_algorithm)
        if card_number != identity.card_number:
            raise CardRefused(RejectReason.DATA_MISMATCH, "certificate is for another card number")
        if record_digest != hashlib.sha256(record).digest():
            raise CardRefused(
                RejectReason.DATA_MISMATCH, "identity record differs from what the issuer signed"
            )
        if not isinstance(card_key, ec.EllipticCurvePublicKey) or card_key.curve.name != "secp256r1":
            raise CardRefused(RejectReason.UNREADABLE, "card key is not ECDSA P-256")

        challenge = self._random(CHALLENGE_LENGTH)
        try:
            signature = channel.internal_authenticate(challenge)
        except StatusWordError as exc:
            raise CardRefused(
                RejectReason.AUTHENTICATION_FAILED, f"card refused the challenge: {exc}"
            ) from exc
        try:
            card_key.verify(signature, AUTH_CONTEXT + challenge, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise CardRefused(
                RejectReason.AUTHENTICATION_FAILED, "card's answer to the challenge is not signed by its key"
            ) from exc

        now = self._clock()
        if now < valid_from:
            raise CardRefused(RejectReason.NOT_YET_VALID, f"certificate valid from {valid_from:%Y-%m-%d}")
        if now > valid_to or now.date() > identity.expiry:
            raise CardRefused(RejectReason.EXPIRED, f"card expired on {identity.expiry.isoformat()}")
        return identity

    def _check_issuer(self, cert: x509.Certificate, algorithm: hashes.HashAlgorithm | None) -> None:
        if algorithm is None:
            raise CardRefused(RejectReason.UNTRUSTED_ISSUER, "certificate signature algorithm not supported")
        for key in self._issuer_keys:
            try:
                key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
            except (InvalidSignature, ValueError, TypeError):
                continue
            return
        raise CardRefused(RejectReason.UNTRUSTED_ISSUER, "certificate not signed by a trusted issuer")
