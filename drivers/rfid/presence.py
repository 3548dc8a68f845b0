"""Tag presence from raw reads: one TagSeen when a tag appears, one TagGone when it leaves.

A reader reports the same tag many times a second; the lane wants to know when a tag
arrives and when it has left. A tag is present while it has been read within
``hold_time`` seconds; the clock is passed in so tests need not sleep.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TagSeen:
    epc: str  # upper-case hex
    antenna: int
    rssi: int  # dBm
    at: float


@dataclass(frozen=True, slots=True)
class TagGone:
    epc: str
    at: float  # when it was judged gone (last read + hold time at the latest)


RfidEvent = TagSeen | TagGone


@dataclass(slots=True)
class _Present:
    last_read: float
    reads: int
    best_rssi: int


class PresenceTracker:
    def __init__(self, hold_time: float = 1.0) -> None:
        if hold_time <= 0:
            raise ValueError(f"hold_time must be > 0 seconds (got {hold_time})")
        self.hold_time = hold_time
        self._present: dict[str, _Present] = {}

    def read(self, epc: str, antenna: int, rssi: int, now: float) -> TagSeen | None:
        """Record one read; returns TagSeen only for a tag not present until now."""
        entry = self._present.get(epc)
        if entry is not None:
            entry.last_read = now
            entry.reads += 1
            entry.best_rssi = max(entry.best_rssi, rssi)
            return None
        self._present[epc] = _Present(last_read=now, reads=1, best_rssi=rssi)
        return TagSeen(epc=epc, antenna=antenna, rssi=rssi, at=now)

    def expire(self, now: float) -> list[TagGone]:
        gone = [epc for epc, p in self._present.items() if now - p.last_read >= self.hold_time]
        for epc in gone:
            del self._present[epc]
        return [TagGone(epc=epc, at=now) for epc in gone]

    def clear(self, now: float) -> list[TagGone]:
        """Everything present is gone (e.g. on shutdown)."""
        gone = [TagGone(epc=epc, at=now) for epc in self._present]
        self._present.clear()
        return gone

    def present(self) -> list[str]:
        return sorted(self._present)

    def reads(self, epc: str) -> int:
        entry = self._present.get(epc)
        return entry.reads if entry else 0
