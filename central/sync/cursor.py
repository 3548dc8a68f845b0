"""The lane's cursor: opaque text to the lane, four facts to central.

``v1.<epoch>.<seq>.<horizon>``: the change log's epoch, the last change id applied, and
the time (epoch seconds) up to which trip slots have been sent. Carrying the horizon in
the cursor lets any replica resume a lane's stream exactly: trips that enter the horizon
while the lane was away are swept on resume, not lost.
"""

from __future__ import annotations

from dataclasses import dataclass


class CursorError(ValueError):
    """The cursor is not one this server issued; the lane gets a snapshot."""


@dataclass(frozen=True, slots=True)
class Cursor:
    epoch: str
    seq: int
    horizon: int  # epoch seconds

    def encode(self) -> str:
        return f"v1.{self.epoch}.{self.seq}.{self.horizon}"


def decode(text: str) -> Cursor:
    parts = text.split(".")
    if len(parts) != 4 or parts[0] != "v1" or not parts[1]:
        raise CursorError(f"cursor: {text[:40]!r} is not a v1 cursor")
    try:
        seq, horizon = int(parts[2]), int(parts[3])
    except ValueError as exc:
        raise CursorError(f"cursor: {text[:40]!r} has non-numeric parts") from exc
    if seq < 0 or horizon < 0:
        raise CursorError(f"cursor: {text[:40]!r} has negative parts")
    return Cursor(parts[1], seq, horizon)
