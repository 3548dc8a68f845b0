"""The lane's outputs (barrier, lights, inspection sign): what the lane wants, and a writer
thread that gets the I/O module to hold it.

The control loop only states what it wants (``set``), which takes microseconds; the
writer applies it over the RS-485 bus (a Modbus transaction costs about 10 ms at 19200
baud) so the loop never waits on the bus and keeps seeing loop inputs meanwhile. Wanted
state, not a command queue: if the lane changes its mind before the bus is free, only
the newest wish is written, in the order lights, sign, barrier.

An output not taken is retried every ``RETRY_S``: the module may be away (it resets
itself to safe outputs on every connect, so ``invalidate()`` forgets what it held), or
the driver may refuse to lower the arm onto an occupied safety loop. While ``blocked``
(a decision not yet durable) the arm is not raised and the light stays red.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from drivers.base import DriverError
from drivers.io import SafetyLoopOccupied
from kiosk import metrics
from lanes.commands import Light

log = logging.getLogger(__name__)

RETRY_S = 0.1
ORDER = ("lights", "sign", "barrier")


class Outputs:
    def __init__(self, lane_id: str, io_call: Callable[[str, object], None]) -> None:
        self.lane_id = lane_id
        self._io_call = io_call
        self._want: dict[str, object] = {}
        self._applied: dict[str, object] = {}
        self._blocked = False
        self._refusals: set[str] = set()
        self._cond = threading.Condition()
        self._stop = False
        self._generation = 0  # bumped by invalidate(): a write begun before it proves nothing
        self._thread: threading.Thread | None = None
        self.writes = 0

    # --- the control loop's side --------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"outputs-{self.lane_id}", daemon=True)
            self._thread.start()

    def set(self, name: str, value: object) -> None:
        with self._cond:
            self._want[name] = value
            self._cond.notify()

    @property
    def blocked(self) -> bool:
        return self._blocked

    @blocked.setter
    def blocked(self, value: bool) -> None:
        with self._cond:
            self._blocked = value
            self._cond.notify()

    def invalidate(self) -> None:
        """The module reset itself: everything is to be written again."""
        with self._cond:
            self._applied.clear()
            self._generation += 1
            self._cond.notify()

    def pending(self) -> bool:
        with self._cond:
            return bool(self._due())

    def wait_applied(self, timeout: float) -> bool:
        """Until every wanted output is held (True) or ``timeout`` (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._due(), timeout)

    def stop(self) -> None:
        """Safe to call twice; what is not written by then is left to the driver's close."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)

    # --- the writer -------------------------------------------------------------------------------

    def _effective(self, name: str) -> object:
        value = self._want[name]
        if self._blocked and name == "barrier" and value is True:
            return None  # not raised for a decision that is not durable yet
        if self._blocked and name == "lights":
            return Light.RED
        return value

    def _due(self) -> list[tuple[str, object]]:
        due = []
        for name in ORDER:
            if name in self._want:
                value = self._effective(name)
                if value is not None and self._applied.get(name, _UNSET) != value:
                    due.append((name, value))
        return due

    def _run(self) -> None:
        while True:
            with self._cond:
                due = self._due()
                while not due and not self._stop:
                    self._cond.wait()
                    due = self._due()
                if self._stop:
                    return
            failed = False
            for name, value in due:
                if not self._write(name, value):
                    failed = True
                    break  # keep the order: nothing after an output that did not take
            if failed:
                with self._cond:
                    self._cond.wait(RETRY_S)

    def _write(self, name: str, value: object) -> bool:
        with self._cond:
            if self._effective(name) != value:
                return True  # the lane changed its mind meanwhile: the next turn writes the new wish
            generation = self._generation
        try:
            self._io_call(name, value)
        except SafetyLoopOccupied as exc:
            if name not in self._refusals:
                self._refusals.add(name)
                log.warning("lane %s: %s; retrying", self.lane_id, exc)
            return False
        except DriverError as exc:
            metrics.OUTPUT_FAILURES.labels(self.lane_id).inc()
            log.debug("lane %s: output %s=%s not applied: %s", self.lane_id, name, value, exc)
            return False
        with self._cond:
            self._refusals.discard(name)
            if generation == self._generation:
                self._applied[name] = value
            self.writes += 1
            self._cond.notify_all()
        return True


_UNSET = object()
