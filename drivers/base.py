"""What every lane device driver shares: the exception tree, availability as state, backoff.

Exceptions (raise them ``from`` the underlying cause so the original error stays in the
traceback)::

    DriverError
    ├── DeviceTimeout       the device did not answer within the call's timeout
    ├── DeviceUnavailable   the port cannot be opened / the device is gone
    └── ProtocolError       the device answered, but not with anything we accept

``Availability`` is a small state holder in the Home Assistant style: a driver is
available or not, since when, and why not. A transition is logged exactly once (one
warning when lost, one info line when back), however often the same state is reported
again, and an optional listener hears about each transition. A deliberate ``close()``
is not a device fault: ``set_closed()`` marks the device unavailable all the same (and
the listener hears it) but logs one info line, and ``closed`` tells it from a fault.

``Backoff`` is the capped doubling used by every reconnect loop: ``next()`` returns the
delay to wait before the next attempt, doubling up to ``cap``; ``reset()`` after a success.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = [
    "Availability",
    "AvailabilityListener",
    "Backoff",
    "DeviceTimeout",
    "DeviceUnavailable",
    "DriverError",
    "ProtocolError",
]


class DriverError(Exception):
    """Base of every error a lane device driver raises."""


class DeviceTimeout(DriverError):
    """The device did not answer within the call's timeout."""


class DeviceUnavailable(DriverError):
    """The device's port cannot be opened, or the device went away."""


class ProtocolError(DriverError):
    """The device answered with something malformed or unexpected."""


# listener(available, reason): called once per transition, outside the state lock.
AvailabilityListener = Callable[[bool, str], None]


class Availability:
    """Whether a device is usable now; transitions are logged and reported exactly once.

    A new holder starts *unavailable* with reason ``"not connected"`` and logs nothing
    for that initial state: the first ``set_available()`` logs "available", and from then
    on each change of state logs one line.
    """

    def __init__(
        self,
        name: str,
        *,
        logger: logging.Logger | None = None,
        listener: AvailabilityListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._log = logger or logging.getLogger(f"drivers.{name}")
        self._listener = listener
        self._clock = clock
        self._lock = threading.Lock()
        self._available = False
        self._reason = "not connected"
        self._since = clock()
        self._ever_available = False
        self._closed = False

    @property
    def available(self) -> bool:
        return self._available

    @property
    def since(self) -> float:
        """Clock time of the last transition (or of creation)."""
        return self._since

    @property
    def reason(self) -> str:
        """Why the device is unavailable; empty while it is available."""
        return self._reason

    @property
    def closed(self) -> bool:
        """Unavailable because its driver was closed on purpose (not a device fault)."""
        return self._closed

    def set_listener(self, listener: AvailabilityListener | None) -> None:
        self._listener = listener

    def set_available(self) -> bool:
        """Mark available; returns True if this was a transition."""
        with self._lock:
            if self._available:
                return False
            self._available = True
            self._closed = False
            self._reason = ""
            self._since = self._clock()
            back = self._ever_available
            self._ever_available = True
        self._log.info("%s %s", self.name, "available again" if back else "available")
        self._notify(True, "")
        return True

    def set_unavailable(self, reason: str) -> bool:
        """Mark unavailable by a fault; returns True if this was a transition.

        While already unavailable a new reason replaces the old one silently: the fault
        was reported when it began and is reported again only when it ends.
        """
        return self._lose(reason, closed=False)

    def set_closed(self, reason: str = "closed") -> bool:
        """Mark unavailable because the driver is closed on purpose; returns True on a transition.

        Logged at info, not as a warning: a shutdown is not a fault. The listener hears
        ``(False, reason)`` like any loss, since the device is not usable any more.
        """
        return self._lose(reason, closed=True)

    def _lose(self, reason: str, *, closed: bool) -> bool:
        with self._lock:
            if not self._available:
                # A late fault from a thread still winding down must not turn a deliberate
                # close into a fault; otherwise only the detail changes, silently.
                if closed or not self._closed:
                    self._reason, self._closed = reason, closed
                return False
            self._available = False
            self._reason = reason
            self._closed = closed
            self._since = self._clock()
        if closed:
            self._log.info("%s %s", self.name, reason)
        else:
            self._log.warning("%s unavailable: %s", self.name, reason)
        self._notify(False, reason)
        return True

    def _notify(self, available: bool, reason: str) -> None:
        listener = self._listener
        if listener is None:
            return
        try:
            listener(available, reason)
        except Exception:  # a broken listener must not break the driver's loop
            self._log.exception("%s availability listener failed", self.name)

    def __repr__(self) -> str:
        state = "available" if self._available else f"unavailable ({self._reason})"
        state = f"closed ({self._reason})" if self._closed else state
        return f"Availability({self.name!r}, {state})"


class Backoff:
    """Capped doubling delay for retries: initial, 2*initial, ... up to cap; reset on success."""

    def __init__(self, initial: float = 0.1, cap: float = 5.0) -> None:
        if initial <= 0:
            raise ValueError(f"backoff initial must be > 0 (got {initial})")
        if cap < initial:
            raise ValueError(f"backoff cap must be >= initial (got cap={cap}, initial={initial})")
        self.initial = initial
        self.cap = cap
        self._next = initial

    def next(self) -> float:
        """The delay to wait before the next attempt; doubles up to the cap."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self._next = self.initial

    @property
    def peek(self) -> float:
        """The delay the next call to ``next()`` will return."""
        return self._next
