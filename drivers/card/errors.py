"""The card driver's exceptions, under the shared driver tree (drivers/base.py).

::

    DriverError
    ├── DeviceTimeout               a PC/SC call overran its timeout
    ├── DeviceUnavailable
    │   └── ReaderGone              pcscd gone, reader unplugged or not found (code = PC/SC code)
    ├── ProtocolError
    │   ├── ApduError               malformed APDU/TLV bytes (apdu.py); RecordError for EF.ID
    │   ├── StatusWordError         the card answered an error status word (apdu.py)
    │   └── CardCommError           the card stopped talking sensibly (unresponsive, T=0/T=1 error)
    ├── CardRemovedError            the card left the reader during a command
    └── CardRefused                 the card was read but is not accepted (reason: RejectReason)
"""

from __future__ import annotations

import enum

from drivers.base import DeviceUnavailable, DriverError, ProtocolError


class RejectReason(enum.Enum):
    """Why a card is refused; the value is the stable code lanes and journals use."""

    UNTRUSTED_ISSUER = "untrusted_issuer"  # certificate not signed by a configured issuer key
    EXPIRED = "expired"  # past the record's expiry or the certificate's validity
    NOT_YET_VALID = "not_yet_valid"  # certificate validity starts in the future
    DATA_MISMATCH = "data_mismatch"  # identity record is not the one the certificate binds
    AUTHENTICATION_FAILED = "authentication_failed"  # card could not prove it holds the private key
    UNREADABLE = "unreadable"  # not a ROCARS card, malformed data, or repeated read errors


class ReaderGone(DeviceUnavailable):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class CardCommError(ProtocolError):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class CardRemovedError(DriverError):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class CardRefused(DriverError):
    def __init__(self, reason: RejectReason, text: str) -> None:
        super().__init__(f"{reason.value}: {text}")
        self.reason = reason
        self.text = text
