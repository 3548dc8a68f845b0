"""Events the card reader reports, in order per card: inserted, then authenticated or
rejected (or nothing, if the card is pulled mid-read), then removed."""

from __future__ import annotations

from dataclasses import dataclass

from drivers.card.application import Identity
from drivers.card.errors import RejectReason


@dataclass(frozen=True)
class CardInserted:
    reader: str
    atr: bytes
    at: float  # driver clock (monotonic seconds)


@dataclass(frozen=True)
class CardAuthenticated:
    reader: str
    identity: Identity
    at: float

    @property
    def card_number(self) -> str:
        return self.identity.card_number


@dataclass(frozen=True)
class CardRejected:
    reader: str
    reason: RejectReason
    text: str
    at: float


@dataclass(frozen=True)
class CardRemoved:
    reader: str
    at: float


CardEvent = CardInserted | CardAuthenticated | CardRejected | CardRemoved
