"""What a lane's commands do beyond the machine: outputs onto the I/O module, and the
commands that are only told (display text, alarms, device availability: logged, counted).

Split out of ``kiosk.runner``, whose loop executes commands in order and calls these.
"""

from __future__ import annotations

import logging

from drivers.io import LaneIO
from kiosk import metrics
from lanes.commands import Alarm, Command, Light, ReportDevice, ShowMessage

log = logging.getLogger(__name__)


def apply_output(io: LaneIO, name: str, value: object) -> None:
    """One wanted output (``kiosk.outputs`` names: lights, sign, barrier) onto the module."""
    if name == "lights":
        io.set_light(red=value is Light.RED, green=value is Light.GREEN)
    elif name == "sign":
        io.set_inspection_sign(bool(value))
    elif value:
        io.raise_barrier()
    else:
        io.lower_barrier()


def announce(lane_id: str, command: Command) -> str | None:
    """Log and count a command that is only told; returns a display message's English text."""
    if isinstance(command, ShowMessage):
        log.info("lane %s display: %s / %s", lane_id, command.english, command.chinese)
        return command.english
    if isinstance(command, Alarm):
        metrics.ALARMS.labels(lane_id, command.kind).inc()
        log.warning("lane %s ALARM %s: %s", lane_id, command.kind, command.detail)
    elif isinstance(command, ReportDevice):
        metrics.DEVICE_AVAILABLE.labels(lane_id, str(command.device)).set(1 if command.available else 0)
        if command.available:
            log.info("lane %s: device %s available", lane_id, command.device)
        else:
            log.warning("lane %s: device %s unavailable: %s", lane_id, command.device, command.reason)
    return None
