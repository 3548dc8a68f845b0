"""The driver identity card, emulated: the card application, its vpcd slot, issuer tooling."""

from simulators.card.applet import CardProfile, VirtualCard
from simulators.card.issuer import (
    Issuer,
    clone,
    driver_cards,
    hkid,
    load_card,
    load_card_directory,
    personalise,
    save_card,
    standard_cards,
    write_driver_set,
    write_standard_set,
)
from simulators.card.vpcd import VirtualCardServer

__all__ = [
    "CardProfile",
    "Issuer",
    "VirtualCard",
    "VirtualCardServer",
    "clone",
    "driver_cards",
    "hkid",
    "load_card",
    "load_card_directory",
    "personalise",
    "save_card",
    "standard_cards",
    "write_driver_set",
    "write_standard_set",
]
