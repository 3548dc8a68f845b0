"""Field rules shared by the services. Each checker records a violation naming the field
and the rule, and returns the normalised value (or a harmless default) so that one
request reports every bad field at once."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from central.services.errors import Violations

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,64}$")
_HKID = re.compile(r"^([A-Z]{1,2})(\d{6})\(?([0-9A])\)?$")
_PERMIT = re.compile(r"^[HM]\d{8}(\d{2})?$")  # Mainland Travel Permit for HK and Macao residents
_STANDARD_PLATE = re.compile(r"^[A-HJ-NPR-Z]{2}[1-9]\d{0,3}$")
_PERSONAL_PLATE = re.compile(r"^[A-Z0-9]+( [A-Z0-9]+)*$")
_EPC = re.compile(r"^[0-9A-F]{24}$")
_CONTAINER = re.compile(r"^[A-Z]{3}[UJZ]\d{7}$")
_HS_CODE = re.compile(r"^\d{6,10}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-]{6,28}[0-9]$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")


def _clean(value: str) -> str:
    """Trim, and refuse control characters (they have no business in cargo data and
    turn log lines and printed lead sheets into attack surfaces)."""
    return value.strip()


def _has_control(value: str) -> bool:
    # str.isprintable() is False for every Cc, Cf, Cs and Co character (and a few more,
    # such as line separators), so a printable value needs no per-character scan; only
    # the rare rest is checked character by character. Same answer, a tenth of the time.
    if value.isprintable():
        return False
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") and ch not in "\t" for ch in value)


def text(
    v: Violations, field: str, value: str, max_len: int, *, required: bool = True, multiline: bool = False
) -> str:
    value = _clean(value)
    if required and not value:
        v.add(field, "is required")
    elif len(value) > max_len:
        v.add(field, f"must be at most {max_len} characters (got {len(value)})")
    elif _has_control(value.replace("\n", "") if multiline else value):
        v.add(field, "must not contain control characters")
    return value


def idempotency_key(v: Violations, field: str, value: str) -> str:
    if not _IDEMPOTENCY_KEY.match(value):
        v.add(field, "must be 8 to 64 characters of A-Z a-z 0-9 . _ : -")
    return value


def hkid_valid(doc: str) -> bool:
    m = _HKID.match(doc)
    if not m:
        return False
    letters, digits, check = m.groups()
    letters = letters.rjust(2, " ")
    values = [36 if ch == " " else ord(ch) - 55 for ch in letters] + [int(d) for d in digits]
    total = sum(val * weight for val, weight in zip(values, range(9, 1, -1), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def document_number(v: Violations, field: str, value: str) -> str:
    doc = re.sub(r"\s", "", value).upper()
    if not doc:
        v.add(field, "is required")
    elif _HKID.match(doc):
        if not hkid_valid(doc):
            v.add(field, "HKID check digit does not match")
        doc = doc.replace("(", "").replace(")", "")
    elif not _PERMIT.match(doc):
        v.add(
            field,
            "must be a Hong Kong identity card number (e.g. A123456(3)) or a Mainland travel permit number",
        )
    return doc


def normalise_plate(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def registration_mark(v: Violations, field: str, value: str) -> str:
    raw = re.sub(r"\s+", " ", value.strip().upper())
    mark = raw.replace(" ", "")
    if not mark:
        v.add(field, "is required")
    elif _STANDARD_PLATE.match(mark):
        pass
    elif re.match(r"^[A-Z]{2}\d+$", mark):
        # The two-letters-and-a-number shape is reserved for traditional marks.
        v.add(
            field, "a traditional mark is two letters (no I, O, Q) and a number 1-9999 without leading zeros"
        )
    elif len(raw) > 8 or not _PERSONAL_PLATE.match(raw) or mark.isdigit():
        v.add(
            field,
            "must be a Hong Kong registration mark: two letters (no I, O, Q) and 1-9999, "
            "or a personalised mark of up to 8 letters, digits and single spaces",
        )
    return mark


def tag_epc(v: Violations, field: str, value: str, *, required: bool = False) -> str:
    epc = re.sub(r"[\s:\-]", "", value).upper()
    if not epc:
        if required:
            v.add(field, "is required")
        return ""
    if not _EPC.match(epc):
        v.add(field, "must be a 96-bit EPC: 24 hexadecimal digits")
    return epc


def iso6346_valid(number: str) -> bool:
    if not _CONTAINER.match(number):
        return False
    values = []
    for ch in number[:10]:
        if ch.isdigit():
            values.append(int(ch))
        else:
            n = ord(ch) - 55  # A=10
            n += (n - 1) // 10  # skip multiples of 11 (11, 22, 33)
            values.append(n)
    total = sum(val * (2**i) for i, val in enumerate(values))
    return (total % 11) % 10 == int(number[10])


def container_numbers(v: Violations, field: str, values: list[str]) -> list[str]:
    out: list[str] = []
    if len(values) > 100:
        v.add(field, "at most 100 container numbers")
        return []
    for i, raw in enumerate(values):
        number = re.sub(r"[\s\-]", "", raw).upper()
        if not iso6346_valid(number):
            v.add(
                f"{field}[{i}]",
                "must be an ISO 6346 container number with a valid check digit (e.g. CSQU3054383)",
            )
        elif number in out:
            v.add(f"{field}[{i}]", "is listed twice")
        out.append(number)
    return out


def short_codes(
    v: Violations, field: str, values: list[str], max_items: int = 100, max_len: int = 32
) -> list[str]:
    out: list[str] = []
    if len(values) > max_items:
        v.add(field, f"at most {max_items} items")
        return []
    for i, raw in enumerate(values):
        item = raw.strip().upper()
        if not item or len(item) > max_len or not re.match(r"^[A-Z0-9\-/]+$", item):
            v.add(f"{field}[{i}]", f"must be 1 to {max_len} of A-Z 0-9 - /")
        out.append(item)
    return out


def decimal(
    v: Violations, field: str, value: str, *, places: int, max_digits: int, positive: bool
) -> Decimal | None:
    text_value = value.strip().replace(",", "")
    if not text_value:
        return None
    try:
        number = Decimal(text_value)
    except InvalidOperation:
        v.add(field, "must be a decimal number such as 1250.5")
        return None
    if not number.is_finite():
        v.add(field, "must be a finite number")
        return None
    if positive and number <= 0:
        v.add(field, "must be greater than 0")
    elif number < 0:
        v.add(field, "must not be negative")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        v.add(field, f"must have at most {places} decimal places")
    elif abs(number) >= Decimal(10) ** (max_digits - places):
        v.add(field, f"must be less than {10 ** (max_digits - places)}")
    return number


def hs_code(v: Violations, field: str, value: str) -> str:
    code = value.strip().replace(".", "").replace(" ", "")
    if code and not _HS_CODE.match(code):
        v.add(field, "must be 6 to 10 digits (an HS code; dots allowed)")
    return code


def currency(v: Violations, field: str, value: str) -> str:
    code = value.strip().upper()
    if code and not _CURRENCY.match(code):
        v.add(field, "must be a 3-letter ISO 4217 code such as HKD")
    return code


def phone(v: Violations, field: str, value: str, *, required: bool) -> str:
    number = value.strip()
    if not number:
        if required:
            v.add(field, "is required")
    elif not _PHONE.match(number):
        v.add(field, "must be a telephone number of 8 to 30 digits, spaces, dashes or brackets, optionally +")
    return number


def email(v: Violations, field: str, value: str) -> str:
    address = value.strip()
    if address and (len(address) > 200 or not _EMAIL.match(address)):
        v.add(field, "must be an e-mail address")
    return address


def code(v: Violations, field: str, value: str, pattern: str, rule: str) -> str:
    out = value.strip().upper()
    if not re.match(pattern, out):
        v.add(field, rule)
    return out


def int_range(v: Violations, field: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        v.add(field, f"must be between {low} and {high} (got {value})")
    return value
