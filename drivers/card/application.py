"""The ROCARS driver identity card application: identifiers, file layout, identity record.

Shared by the reader (drivers/card) and the virtual card (simulators/card): one layout,
two ends.

Application
    AID ``F0 52 4F 43 41 52 53 49 44`` ("F0" + ASCII "ROCARSID"). ISO 7816-5 reserves a
    first nibble F for proprietary AIDs that are not registered, which is what this is.

Files (transparent EFs, selected by file id under the application)
    ``0101`` EF.ID    identity record, BER-TLV (below). The reader selects it without FCP
                      (``00 A4 02 0C``) and reads with Le=00 from offset 0 until a short
                      chunk: the card answers 6Cxx with the real length for the tail.
    ``0102`` EF.CERT  X.509 certificate (DER) of the card's P-256 public key, signed by an
                      issuer key; subject serialNumber = card number, a private extension
                      (OID ``IDENTITY_DIGEST_OID``) holds SHA-256 of EF.ID so the identity
                      record cannot be swapped under a genuine certificate. The reader
                      selects it with FCP (``00 A4 02 04``, 61xx then GET RESPONSE; size in
                      tag 80) and reads it in 256-byte chunks at increasing offsets.

Card authentication
    ``INTERNAL AUTHENTICATE 00 88 00 00`` with a 32-byte random challenge from the reader;
    the card answers an ECDSA P-256 / SHA-256 signature (DER) over
    ``AUTH_CONTEXT + challenge``. The context prefix keeps the card from signing anything
    that could be mistaken for another protocol's message.

Identity record (EF.ID)::

    E1 (template)
       80 version (01)
       81 card number      ASCII digits, 8-19
       82 document number  ASCII A-Z 0-9 ( ) / -, 1-20
       83 name             UTF-8, 1-80 characters, no control characters
       84 expiry           ASCII YYYYMMDD, last day the card is valid (UTC)
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from drivers.card.apdu import ApduError, Tlv, decode_tlv, encode_tlv, find_tlv

AID = bytes.fromhex("F0524F434152534944")
FID_IDENTITY = 0x0101
FID_CERTIFICATE = 0x0102
CHALLENGE_LENGTH = 32
AUTH_CONTEXT = b"ROCARS-INTERNAL-AUTHENTICATE-v1\x00"
# 2.25.<UUID>: an ITU-T X.667 OID that needs no registration.
IDENTITY_DIGEST_OID = "2.25.160547246037998542464646172982221355162"
# T=0 only, 10 historical bytes; T=0 is what makes a card answer 61xx and 6Cxx.
ATR = bytes((0x3B, 0x0A)) + b"ROCARS-ID1"

TAG_RECORD = 0xE1
TAG_VERSION = 0x80
TAG_CARD_NUMBER = 0x81
TAG_DOCUMENT_NUMBER = 0x82
TAG_NAME = 0x83
TAG_EXPIRY = 0x84
RECORD_VERSION = 1

_CARD_NUMBER = re.compile(r"[0-9]{8,19}")
_DOCUMENT_NUMBER = re.compile(r"[A-Z0-9()/-]{1,20}")


class RecordError(ApduError):
    """An identity record field breaks its rule; the message names the field and the rule."""


@dataclass(frozen=True)
class Identity:
    card_number: str
    document_number: str
    name: str
    expiry: dt.date

    def __post_init__(self) -> None:
        if not _CARD_NUMBER.fullmatch(self.card_number):
            raise RecordError(f"card_number must be 8 to 19 digits (got {self.card_number!r})")
        if not _DOCUMENT_NUMBER.fullmatch(self.document_number):
            raise RecordError(
                f"document_number must be 1 to 20 of A-Z 0-9 ( ) / - (got {self.document_number!r})"
            )
        if not 1 <= len(self.name) <= 80 or not self.name.isprintable() or self.name != self.name.strip():
            raise RecordError(
                f"name must be 1 to 80 printable characters without surrounding spaces (got {self.name!r})"
            )
        if not isinstance(self.expiry, dt.date) or isinstance(self.expiry, dt.datetime):
            raise RecordError(f"expiry must be a date (got {self.expiry!r})")

    def encode(self) -> bytes:
        return encode_tlv(
            Tlv(
                TAG_RECORD,
                children=(
                    Tlv(TAG_VERSION, bytes((RECORD_VERSION,))),
                    Tlv(TAG_CARD_NUMBER, self.card_number.encode("ascii")),
                    Tlv(TAG_DOCUMENT_NUMBER, self.document_number.encode("ascii")),
                    Tlv(TAG_NAME, self.name.encode("utf-8")),
                    Tlv(TAG_EXPIRY, self.expiry.strftime("%Y%m%d").encode("ascii")),
                ),
            )
        )

    @classmethod
    def decode(cls, raw: bytes) -> Identity:
        items = decode_tlv(raw)
        record = find_tlv(items, TAG_RECORD)
        if record is None:
            raise RecordError(f"identity record must start with template tag {TAG_RECORD:02X}")
        fields = record.children

        def text(tag: int, field: str, encoding: str = "ascii") -> str:
            item = find_tlv(fields, tag)
            if item is None:
                raise RecordError(f"{field} (tag {tag:02X}) is missing from the identity record")
            try:
                return item.value.decode(encoding)
            except UnicodeDecodeError as exc:
                raise RecordError(f"{field} (tag {tag:02X}) must be {encoding} text") from exc

        version = find_tlv(fields, TAG_VERSION)
        if version is None or version.value != bytes((RECORD_VERSION,)):
            raise RecordError(f"version (tag {TAG_VERSION:02X}) must be {RECORD_VERSION}")
        expiry_text = text(TAG_EXPIRY, "expiry")
        try:
            if not re.fullmatch(r"[0-9]{8}", expiry_text):
                raise ValueError(expiry_text)
            expiry = dt.datetime.strptime(expiry_text, "%Y%m%d").date()
        except ValueError as exc:
            raise RecordError(f"expiry (tag {TAG_EXPIRY:02X}) must be a date YYYYMMDD") from exc
        return cls(
            card_number=text(TAG_CARD_NUMBER, "card_number"),
            document_number=text(TAG_DOCUMENT_NUMBER, "document_number"),
            name=text(TAG_NAME, "name", "utf-8"),
            expiry=expiry,
        )
