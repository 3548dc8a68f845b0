"""What a lane's devices and officers give its control loop, as lane events.

Split out of ``kiosk.runner``: the I/O module's inputs read at start-up (``LaneStarted``)
and after it comes back (``InputsSnapshot``), the wait for devices before the first
event, and ``Request``, an input whose sender waits for what the lane made of it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from drivers.base import DriverError
from kiosk.lane_devices import LaneDevices, barrier_position
from lanes import events as ev
from lanes.commands import Command
from lanes.events import Device

log = logging.getLogger(__name__)


class Request:
    """An input whose sender waits for what the lane made of it (an officer's action)."""

    def __init__(self, make: Callable[[float], ev.Event]) -> None:
        self.make = make
        self.commands: tuple[Command, ...] = ()
        self.phase = ""
        self.phase_before = ""
        self.done = threading.Event()

    def __call__(self, at: float) -> ev.Event:
        return self.make(at)

    def finish(self, commands: tuple[Command, ...], phase: str) -> None:
        self.commands, self.phase = commands, phase
        self.done.set()


def wait_for_devices(devices: LaneDevices, timeout: float, lane_id: str) -> None:
    """Until every configured device is available, or ``timeout`` (then: which are not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(a.available for a in devices.availabilities().values()):
            return
        time.sleep(0.05)
    down = [f"{d} ({a.reason})" for d, a in devices.availabilities().items() if not a.available]
    log.warning("lane %s starting with device(s) not available: %s", lane_id, ", ".join(down))


def lane_started(
    devices: LaneDevices, at: float, next_sequence: int, synced_at: float | None
) -> ev.LaneStarted:
    """The inputs read now; an I/O module that cannot be read counts as unavailable."""
    inputs: dict[str, bool] = {}
    with contextlib.suppress(DriverError):
        inputs = devices.io.read_inputs()
    unavailable = tuple(d for d, a in devices.availabilities().items() if not a.available)
    if not inputs and Device.IO not in unavailable:
        unavailable = (*unavailable, Device.IO)
    return ev.LaneStarted(
        at=at,
        next_sequence=next_sequence,
        arming=inputs.get("arming_loop", False),
        safety=inputs.get("safety_loop", False),
        closing=inputs.get("closing_loop", False),
        barrier=barrier_position(inputs) if inputs else ev.BarrierPosition.UNKNOWN,
        synced_at=synced_at,
        unavailable=tuple(sorted(unavailable)),
    )


def inputs_snapshot(devices: LaneDevices, at: float) -> ev.InputsSnapshot | None:
    """All loop inputs at once (the I/O module is back); None if they cannot be read."""
    inputs = devices.io.inputs
    if inputs is None:
        with contextlib.suppress(DriverError):
            inputs = devices.io.read_inputs()
    if not inputs:
        return None
    return ev.InputsSnapshot(
        at, inputs["arming_loop"], inputs["safety_loop"], inputs["closing_loop"], barrier_position(inputs)
    )
