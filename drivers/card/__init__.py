"""PC/SC smart-card reader driver for the driver's identity card (see application.py)."""

from drivers.card.application import AID, Identity
from drivers.card.config import CardConfigError, CardReaderConfig
from drivers.card.errors import CardRefused, RejectReason
from drivers.card.events import CardAuthenticated, CardEvent, CardInserted, CardRejected, CardRemoved
from drivers.card.reader import CardReader

__all__ = [
    "AID",
    "CardAuthenticated",
    "CardConfigError",
    "CardEvent",
    "CardInserted",
    "CardReader",
    "CardReaderConfig",
    "CardRefused",
    "CardRejected",
    "CardRemoved",
    "Identity",
    "RejectReason",
]
