"""Hong Kong plate grammar: what a registration mark may be, and the OCR fixes it forces.

- Standard marks: two letters (never I, O or Q) then a number 1-9999 with no leading
  zero, e.g. ``AB1234``. Cross-boundary vehicles use the same shape with prefixes such
  as ``FU`` and ``FV``.
- Personalised marks: up to 8 characters (letters without I, O, Q, and digits, at least
  one letter), shown with single spaces; reported here without spaces.

Only confusions the grammar forces are corrected, and only one per read: a digit where
a standard mark needs a letter (8->B, 5->S, 2->Z), a letter where it needs a digit
(B->8, S->5, Z->2, O->0, I->1, Q->0). A read that is neither a standard mark nor fixable into one is kept only
as a personalised mark, uncorrected, so a guess never turns into a plausible plate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
PLATE_DIGITS = "0123456789"
PLATE_CHARSET = PLATE_LETTERS + PLATE_DIGITS
CROSS_BOUNDARY_PREFIXES = ("FU", "FV")
MAX_MARK_LENGTH = 8

STANDARD = re.compile(r"^[A-HJ-NPR-Z]{2}[1-9][0-9]{0,3}$")
# At least one letter: a mark of digits alone is no Hong Kong mark (and is what a read
# that lost a standard mark's letters looks like).
PERSONALISED = re.compile(r"^(?=.*[A-HJ-NPR-Z])[A-HJ-NPR-Z0-9]{2,8}$")

_TO_LETTER = {"8": "B", "5": "S", "2": "Z"}
_TO_DIGIT = {"B": "8", "S": "5", "Z": "2", "O": "0", "I": "1", "Q": "0"}


@dataclass(frozen=True)
class MarkCheck:
    """A read checked against the grammar: ``mark`` is None when it is no plate at all."""

    mark: str | None
    kind: str  # "standard", "personalised" or "invalid"
    corrections: int  # characters changed by forced corrections


def normalise(raw: str) -> str:
    """Upper case, spaces and anything outside letters and digits dropped."""
    return "".join(c for c in raw.upper() if c.isascii() and c.isalnum())


def is_standard(mark: str) -> bool:
    return STANDARD.fullmatch(mark) is not None


def is_valid(mark: str) -> bool:
    """Whether ``mark`` (no spaces) can be a Hong Kong registration mark."""
    return is_standard(mark) or PERSONALISED.fullmatch(mark) is not None


def check(raw: str) -> MarkCheck:
    """Validate an OCR read, correcting only what the standard grammar forces."""
    text = normalise(raw)
    if not text:
        return MarkCheck(None, "invalid", 0)
    if is_standard(text):
        return MarkCheck(text, "standard", 0)
    fixed = _force_standard(text)
    if fixed is not None:
        changed = sum(a != b for a, b in zip(fixed, text, strict=True))
        return MarkCheck(fixed, "standard", changed)
    if PERSONALISED.fullmatch(text):
        return MarkCheck(text, "personalised", 0)
    return MarkCheck(None, "invalid", 0)


def _force_standard(text: str) -> str | None:
    """The standard mark ``text`` must be if its shape is letter-letter-number, else None."""
    if not 3 <= len(text) <= 6:
        return None
    head = [_TO_LETTER.get(c, c) for c in text[:2]]
    tail = [_TO_DIGIT.get(c, c) for c in text[2:]]
    candidate = "".join(head + tail)
    if not is_standard(candidate):
        return None
    # A correction is forced only when the raw read already had the standard shape but
    # for one character: "B8S2" (a valid personalised mark as read) is not bent into a plate.
    if sum(a != b for a, b in zip(candidate, text, strict=True)) > 1:
        return None
    return candidate


# Broader look-alikes under blur, used only to refuse a doubtful read, never to correct one.
_LOOKALIKE_DIGIT = {"A": "4", "B": "8", "D": "0", "E": "6", "G": "6", "J": "3", "L": "1", "S": "5",
                    "T": "7", "U": "0", "Y": "9", "Z": "2"}
_LOOKALIKE_LETTER = {digit: letter for letter, digit in _LOOKALIKE_DIGIT.items()} | {"4": "A", "6": "G"}


def near_standard(mark: str) -> bool:
    """Whether a mark that is not standard is one slip away from a standard mark: one
    character changed into a look-alike (FUA -> FU4, ARY -> AR9), one character lost (W95
    -> ?W95) or one gained. Such a read is as likely a blurred standard plate as the
    personalised mark it seems to be, so it is refused, never corrected."""
    if is_standard(mark):
        return True
    for i, char in enumerate(mark):
        swap = _LOOKALIKE_LETTER.get(char) if i < 2 else _LOOKALIKE_DIGIT.get(char)
        if swap and is_standard(mark[:i] + swap + mark[i + 1:]):
            return True
        if is_standard(mark[:i] + mark[i + 1:]):
            return True  # one character too many
    for i in range(len(mark) + 1):
        filler = "A" if i < 2 else "1"
        if is_standard(mark[:i] + filler + mark[i:]):
            return True  # one character lost
    return False


def looks_like_letter(digit: str) -> bool:
    return digit in _TO_LETTER or digit in _LOOKALIKE_LETTER


def looks_like_digit(letter: str) -> bool:
    """Whether blur can make a digit look like this letter (Y for 9, G for 6, ...)."""
    return letter in _TO_DIGIT or letter in _LOOKALIKE_DIGIT
