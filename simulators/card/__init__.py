"""The driver identity card, emulated: the card application, its vpcd slot, issuer tooling."""

from simulators.card.applet import CardProfile, VirtualCard
from simulators.card.issuer import (
    Issuer,
    clone,
    load_card,
    personalise,
    save_card,
    standard_cards,
    write_standard_set,
)
from simulators.card.vpcd import VirtualCardServer

__all__ = [
    "CardProfile",
    "Issuer",
    "VirtualCard",
    "VirtualCardServer",
    "clone",
    "load_card",
    "personalise",
    "save_card",
    "standard_cards",
    "write_standard_set",
]
