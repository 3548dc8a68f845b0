"""The lane's outputs (lights, inspection sign, barrier, display), derived from its state.

Split out of ``lanes.machine``, whose docstring states the rules: after every event the
machine calls ``drive_outputs``, which sends each output only when it changes, so one
rule decides each of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lanes.commands import Alarm, Command, Light, SetBarrier, SetInspectionSign, SetLights, ShowMessage
from lanes.crossing import Phase
from lanes.events import BarrierPosition, Device, Loop
from lanes.reasons import MESSAGES

if TYPE_CHECKING:
    from lanes.machine import LaneMachine


def safe_to_close(m: LaneMachine) -> bool:
    """Both loops at the arm known clear (unknown counts as occupied) and the I/O module up."""
    return (m.loops[Loop.SAFETY] is False and m.loops[Loop.CLOSING] is False
            and Device.IO not in m.unavailable)


def drive_outputs(m: LaneMachine, out: list[Command]) -> None:
    c = m.crossing
    released = m.phase is Phase.RELEASED and c is not None and not m.stopping
    green = (released and c is not None and c.green_allowed and not c.entered_safety
             and not c.tailgating and not m.lane_faults)
    colour = Light.GREEN if green else Light.RED
    if colour is not m.lights:
        m.lights = colour
        out.append(SetLights(colour))
    sign = released and c is not None and c.inspection
    if sign is not m.sign:
        m.sign = sign
        out.append(SetInspectionSign(sign))
    if released:
        if m.barrier_up is not True:
            command_barrier(m, True, out)
    elif m.barrier_up is not False and safe_to_close(m):
        command_barrier(m, False, out)
    elif (m.barrier_up is False and m.loops[Loop.SAFETY] is True
          and m.barrier_position is not BarrierPosition.DOWN):
        command_barrier(m, True, out)  # something came under a closing arm: reopen
        out.append(Alarm("safety_reopen", "safety loop occupied while the barrier was closing"))
    code = message_code(m)
    if code != m.message:
        m.message = code
        english, chinese = MESSAGES[code]
        out.append(ShowMessage(code, english, chinese))


def command_barrier(m: LaneMachine, up: bool, out: list[Command]) -> None:
    m.barrier_up = up
    target = BarrierPosition.UP if up else BarrierPosition.DOWN
    if m.barrier_position is not target:
        m.barrier_position = BarrierPosition.MOVING
        if m.config.barrier_travel_s > 0:  # 0: the barrier has no limit switches to wait for
            assert m.now is not None
            m.barrier_deadline = m.now + m.config.barrier_travel_s
    out.append(SetBarrier(up))


def message_code(m: LaneMachine) -> str:
    c = m.crossing
    if m.stopping:
        return "LANE_CLOSED"
    if m.lane_faults:
        return "LANE_FAULT"
    if c is None:
        return "WELCOME"
    if m.phase is Phase.IDENTIFYING:
        fresh_card = m.card_for(c) is not None or (m.card_inserted and m.card is None)
        return "CHECKING" if fresh_card else "INSERT_CARD"
    if m.phase is Phase.REFERRED:
        return "SEE_OFFICER"
    if c.tailgating:
        return "STOP"
    return "INSPECTION" if c.inspection else "PROCEED"
