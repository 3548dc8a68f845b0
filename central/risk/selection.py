"""Random selection that can be reproduced: a keyed hash of the trip, not ``random``.

The draw for a trip is HMAC-SHA256(key, salt || trip id) read as a number in [0, 1). The
trip is selected when the draw is below the control point's rate, so anyone holding the
data, the rules and the key can recompute any past selection, while a trader who does not
hold the key cannot predict it. Raising a rate only ever adds trips to the selection.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_KEY_BYTES = 16


def selection_draw(key: bytes, salt: str, trip_id: str) -> float:
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"selection key must be at least {MIN_KEY_BYTES} bytes")
    msg = salt.encode() + b"\x00" + trip_id.encode()
    digest = hmac.new(key, msg, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def is_selected(key: bytes, salt: str, trip_id: str, rate: float) -> bool:
    return selection_draw(key, salt, trip_id) < rate
