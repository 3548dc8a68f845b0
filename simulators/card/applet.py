"""The card side of the ROCARS identity application: C-APDU bytes in, R-APDU bytes out.

It behaves as a T=0 card would seen through a PC/SC reader: a command that returns data
(SELECT with FCI/FCP, INTERNAL AUTHENTICATE) answers ``61xx`` and leaves the data for
GET RESPONSE; READ BINARY with the wrong Le answers ``6Cxx`` with the exact length. So a
reader that does not chain GET RESPONSE or re-issue with the right Le cannot read it,
exactly as with a real T=0 card.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from drivers.card.apdu import ApduError, CommandApdu, ResponseApdu, Tlv, encode_tlv
from drivers.card.application import AID, ATR, AUTH_CONTEXT, CHALLENGE_LENGTH, FID_CERTIFICATE, FID_IDENTITY

__all__ = ["CardProfile", "VirtualCard"]


@dataclass(frozen=True)
class CardProfile:
    """What is personalised onto one card: its files and its private key."""

    label: str
    identity_record: bytes
    certificate_der: bytes
    private_key: ec.EllipticCurvePrivateKey


def _sw(sw: int, data: bytes = b"") -> bytes:
    return ResponseApdu(data, sw).encode()


class VirtualCard:
    """One inserted card. Not thread-safe: the vpcd connection serves it from one thread."""

    def __init__(self, profile: CardProfile) -> None:
        self.profile = profile
        self.atr = ATR
        self._files = {FID_IDENTITY: profile.identity_record, FID_CERTIFICATE: profile.certificate_der}
        self.commands = 0
        self.reset()

    def reset(self) -> None:
        """Power-on state: nothing selected, no pending response."""
        self._app_selected = False
        self._current_ef: int | None = None
        self._pending = b""

    def process(self, raw: bytes) -> bytes:
        self.commands += 1
        try:
            apdu = CommandApdu.decode(raw)
        except ApduError:
            return _sw(0x6700)
        pending, self._pending = self._pending, b""
        if apdu.cla != 0x00:
            return _sw(0x6E00)
        if apdu.ins == 0xC0:
            return self._get_response(apdu, pending)
        if apdu.ins == 0xA4:
            return self._select(apdu)
        if apdu.ins == 0xB0:
            return self._read_binary(apdu)
        if apdu.ins == 0x88:
            return self._internal_authenticate(apdu)
        return _sw(0x6D00)

    def _answer_later(self, data: bytes) -> bytes:
        self._pending = data
        return _sw(0x6100 | (len(data) & 0xFF))

    def _get_response(self, apdu: CommandApdu, pending: bytes) -> bytes:
        if not pending:
            return _sw(0x6985)
        if apdu.p1 or apdu.p2:
            self._pending = pending
            return _sw(0x6A86)
        if apdu.le is None or apdu.le > len(pending):
            self._pending = pending
            return _sw(0x6C00 | (len(pending) & 0xFF))
        chunk, rest = pending[: apdu.le], pending[apdu.le :]
        if rest:
            self._pending = rest
            return _sw(0x6100 | (min(len(rest), 256) & 0xFF), chunk)
        return _sw(0x9000, chunk)

    def _select(self, apdu: CommandApdu) -> bytes:
        want_answer = apdu.p2 & 0x0C != 0x0C
        if apdu.p1 == 0x04:
            if apdu.data != AID:
                return _sw(0x6A82)
            self._app_selected, self._current_ef = True, None
            fci = encode_tlv(
                Tlv(0x6F, children=(Tlv(0x84, AID), Tlv(0xA5, children=(Tlv(0x50, b"ROCARS ID"),))))
            )
            return self._answer_later(fci) if want_answer else _sw(0x9000)
        if apdu.p1 in (0x00, 0x02):
            if len(apdu.data) != 2:
                return _sw(0x6700)
            fid = int.from_bytes(apdu.data, "big")
            if not self._app_selected or fid not in self._files:
                return _sw(0x6A82)
            self._current_ef = fid
            size = len(self._files[fid])
            fcp = encode_tlv(
                Tlv(
                    0x62,
                    children=(Tlv(0x80, size.to_bytes(2, "big")), Tlv(0x82, b"\x01"), Tlv(0x83, apdu.data)),
                )
            )
            return self._answer_later(fcp) if want_answer else _sw(0x9000)
        return _sw(0x6A86)

    def _read_binary(self, apdu: CommandApdu) -> bytes:
        if apdu.p1 & 0x80:
            return _sw(0x6A81)  # short-EF addressing is not supported by this application
        if self._current_ef is None:
            return _sw(0x6986)
        if apdu.data:
            return _sw(0x6700)
        content = self._files[self._current_ef]
        offset = (apdu.p1 << 8) | apdu.p2
        if offset >= len(content):
            return _sw(0x6B00)
        remaining = len(content) - offset
        le = 256 if apdu.le is None else apdu.le
        if le > remaining:
            return _sw(0x6C00 | (remaining & 0xFF))
        return _sw(0x9000, content[offset : offset + le])

    def _internal_authenticate(self, apdu: CommandApdu) -> bytes:
        if not self._app_selected:
            return _sw(0x6985)
        if apdu.p1 or apdu.p2:
            return _sw(0x6A86)
        if len(apdu.data) != CHALLENGE_LENGTH:
            return _sw(0x6700)
        signature = self.profile.private_key.sign(AUTH_CONTEXT + apdu.data, ec.ECDSA(hashes.SHA256()))
        return self._answer_later(signature)
