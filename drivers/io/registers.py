"""Register map of the lane I/O module (Modbus RTU on RS-485); shared by driver and simulator.

Addresses are the 0-based *wire* addresses in the PDU (a tool counting from 1, such as
``mbpoll`` without ``-0``, shows them plus one).

Coils (FC 01 read, FC 05 / FC 15 write) — outputs:

    0  barrier_raise     1 = drive the arm up and hold it; 0 = let it close (the barrier
                         controller itself never closes on an occupied safety loop)
    1  light_red         traffic light red lamp
    2  light_green       traffic light green lamp
    3  inspection_sign   "go to inspection bay" sign

Discrete inputs (FC 02):

    0  arming_loop        vehicle on the loop before the arm (at the kiosk)
    1  safety_loop        vehicle under the arm: the arm must not close
    2  closing_loop       vehicle past the arm: the arm may close once it has left
    3  barrier_up_limit   arm fully up
    4  barrier_down_limit arm fully down
    5  watchdog_fallback  the module's communication watchdog expired and it set the safe
                          outputs by itself; cleared by the host's next coil write

Holding registers (FC 03 read, FC 06 / FC 16 write):

    0  watchdog_ms   communication watchdog, milliseconds (0 = off). When no valid request
                     for this unit arrives for this long, the module sets SAFE_OUTPUTS.

Input registers (FC 04):

    0  firmware        major << 8 | minor
    1  watchdog_trips  how many times the watchdog has fallen back since power-up
"""

from __future__ import annotations

COILS: dict[str, int] = {
    "barrier_raise": 0,
    "light_red": 1,
    "light_green": 2,
    "inspection_sign": 3,
}
DISCRETE_INPUTS: dict[str, int] = {
    "arming_loop": 0,
    "safety_loop": 1,
    "closing_loop": 2,
    "barrier_up_limit": 3,
    "barrier_down_limit": 4,
    "watchdog_fallback": 5,
}
HOLDING_WATCHDOG_MS = 0
INPUT_FIRMWARE = 0
INPUT_WATCHDOG_TRIPS = 1

N_COILS = len(COILS)
N_INPUTS = len(DISCRETE_INPUTS)
WATCHDOG_MS_MAX = 60_000

# What the module falls back to by itself, and what the driver sets on a fault: the arm
# not commanded up, red on, green off, no sign (a sign without a light means nothing).
SAFE_OUTPUTS: dict[str, bool] = {
    "barrier_raise": False,
    "light_red": True,
    "light_green": False,
    "inspection_sign": False,
}


def input_names() -> list[str]:
    return sorted(DISCRETE_INPUTS, key=DISCRETE_INPUTS.__getitem__)


def coil_names() -> list[str]:
    return sorted(COILS, key=COILS.__getitem__)
