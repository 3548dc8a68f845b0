"""Public identifiers: the CCRN and the trip reference.

CCRN format (not public in ROCARS; decided here, see domain.md): 12 decimal digits,
the last a Damm check digit over the first 11. Digits only, so a driver can key it on
a telephone keypad; grouped ``1234 5678 9012`` to be read out; an even digit count so
it prints as an Interleaved 2 of 5 (or Code 128C) barcode on the paper the shipper
hands the driver. The Damm check catches every single-digit error and every swap of
adjacent digits, so a mistyped CCRN is rejected before any look-up. The 11 payload
digits are random, not a counter: CCRNs must not reveal a company's volumes.

Trip reference: ``T`` plus 9 digits with a Damm check digit (the driver reads it, the
kiosk never needs it).
"""

from __future__ import annotations

import re
import secrets

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

CCRN_LENGTH = 12
TRIP_REFERENCE_LENGTH = 11  # "T" + 10 digits
_SEPARATORS = re.compile(r"[\s\-]")


class IdentifierError(ValueError):
    """A malformed identifier; the message names the rule it breaks."""


def damm_digit(digits: str) -> str:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return str(interim)


def damm_valid(digits: str) -> bool:
    return digits.isdigit() and damm_digit(digits) == "0"


def new_ccrn() -> str:
    payload = str(secrets.randbelow(10 ** (CCRN_LENGTH - 1))).zfill(CCRN_LENGTH - 1)
    return payload + damm_digit(payload)


def normalise_ccrn(text: str) -> str:
    """Strip spaces and dashes, check length, digits and the check digit."""
    ccrn = _SEPARATORS.sub("", text)
    if len(ccrn) != CCRN_LENGTH:
        raise IdentifierError(f"must be {CCRN_LENGTH} digits (got {len(ccrn)} characters)")
    if not ccrn.isdigit():
        raise IdentifierError("must contain digits only")
    if not damm_valid(ccrn):
        raise IdentifierError("check digit does not match: the CCRN is mistyped")
    return ccrn


def format_ccrn(ccrn: str) -> str:
    return " ".join(ccrn[i : i + 4] for i in range(0, len(ccrn), 4))


def new_trip_reference() -> str:
    payload = str(secrets.randbelow(10 ** (TRIP_REFERENCE_LENGTH - 2))).zfill(TRIP_REFERENCE_LENGTH - 2)
    return "T" + payload + damm_digit(payload)


def normalise_trip_reference(text: str) -> str:
    ref = _SEPARATORS.sub("", text).upper()
    if len(ref) != TRIP_REFERENCE_LENGTH or not ref.startswith("T") or not ref[1:].isdigit():
        raise IdentifierError(f"must be 'T' followed by {TRIP_REFERENCE_LENGTH - 1} digits")
    if not damm_valid(ref[1:]):
        raise IdentifierError("check digit does not match: the trip reference is mistyped")
    return ref
