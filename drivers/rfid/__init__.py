"""UHF RFID vehicle-tag reader: frame codec, presence tracking, driver."""

from drivers.rfid.presence import RfidEvent, TagGone, TagSeen
from drivers.rfid.reader import ReaderError, RfidReader

__all__ = ["ReaderError", "RfidEvent", "RfidReader", "TagGone", "TagSeen"]
