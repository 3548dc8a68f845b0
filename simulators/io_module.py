"""Lane I/O module simulator: a Modbus RTU slave on a pseudo-terminal, with a barrier and loops.

An independent slave implementation (the driver uses pymodbus; this side has its own CRC
and framing, so the two ends check each other; ``mbpoll`` is a third). Like a real
RS-485 slave it stays silent for another unit id, a bad CRC or a malformed frame, and
answers Modbus exceptions 01/02/03 for unsupported functions, addresses and values. The
register map is the driver's (``drivers.io.registers``).

Physics, in metres along the lane: arming loop [0, 3], arm at 5 over the safety loop
[4, 6], closing loop [7.5, 9.5]. The arm takes ``motion_time`` seconds for a full travel;
a barrier controller never closes on an occupied safety loop (an arm closing when a
vehicle enters it goes back up). A truck (``arrive``) stops at the kiosk with its front at
2.5 m; ``drive_through`` lets it roll at ``speed`` m/s, waiting at 3.8 m for the arm to be
fully up; it leaves once its rear has cleared the closing loop.

Watchdog: holding register 0 (ms, 0 = off). With no valid request for this unit for that
long, the coils take ``SAFE_OUTPUTS`` and discrete input 5 reports the fallback until the
host's next coil write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from drivers.io import registers as reg
from simulators.serial_pty import PtyDevice

FIRMWARE = (2, 4)
ARMING_LOOP = (0.0, 3.0)
SAFETY_LOOP = (4.0, 6.0)
CLOSING_LOOP = (7.5, 9.5)
KIOSK_STOP = 2.5
ARM_STOP = 3.8
LEAVE_AT = 10.0
FRAME_GAP = 0.02  # seconds of silence that end an incomplete request (RTU's t3.5, generously)


def crc16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(pdu_with_unit: bytes) -> bytes:
    return pdu_with_unit + crc16(pdu_with_unit).to_bytes(2, "little")


def _request_length(buf: bytes) -> int | None:
    """Whole RTU request length from its function code, or None if not known (yet)."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (1, 2, 3, 4, 5, 6):
        return 8
    if fc in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return -1


@dataclass
class Truck:
    plate: str
    length: float
    front: float = KIOSK_STOP
    driving: bool = False
    speed: float = 3.0

    def occupies(self, span: tuple[float, float]) -> bool:
        return self.front - self.length < span[1] and self.front > span[0]


class IoModuleSim(PtyDevice):
    name = "io module sim"

    def __init__(
        self,
        link: str | None = None,
        *,
        unit: int = 1,
        motion_time: float = 1.0,
        seed: int | None = None,
        on_truck_left: Callable[[Truck], None] | None = None,
        baudrate: int | None = None,
    ) -> None:
        self.unit = unit
        self.motion_time = motion_time
        self.coils = dict(reg.SAFE_OUTPUTS)
        self.watchdog_ms = 0
        self.watchdog_trips = 0
        self.fallback = False
        self.barrier = 0.0  # 0 down .. 1 up
        self.moving = 0  # +1 raising, -1 lowering, 0 still
        self.forced: dict[str, bool] = {}  # technician overrides of loop inputs
        self.truck: Truck | None = None
        self.trucks_passed = 0
        self.corrupt_next = 0
        self.on_truck_left = on_truck_left
        self.requests = 0
        self._buf = bytearray()
        self._last_byte = 0.0
        self._last_request = 0.0
        self._last_tick: float | None = None
        self._state = threading.RLock()
        super().__init__(link, seed=seed, baudrate=baudrate)

    # --- the lane ------------------------------------------------------------------------------

    def arrive(self, plate: str = "", length: float = 12.0, speed: float = 3.0) -> Truck:
        with self._state:
            if self.truck is not None:
                raise RuntimeError(f"lane occupied by truck {self.truck.plate or '(no plate)'}")
            self.truck = Truck(plate=plate, length=length, speed=speed)
            return self.truck

    def drive_through(self) -> None:
        with self._state:
            if self.truck is None:
                raise RuntimeError("no truck at the kiosk")
            self.truck.driving = True

    def reverse_out(self) -> Truck:
        """The truck at the kiosk backs away (turned away by an officer): it is gone from
        every loop at once, and is not counted as having passed."""
        with self._state:
            truck = self.truck
            if truck is None:
                raise RuntimeError("no truck at the kiosk")
            self.truck = None
            return truck

    def set_loop(self, name: str, occupied: bool | None) -> None:
        """Force a loop input (None returns it to the truck model)."""
        if name not in ("arming_loop", "safety_loop", "closing_loop"):
            raise ValueError(f"unknown loop {name!r}")
        with self._state:
            if occupied is None:
                self.forced.pop(name, None)
            else:
                self.forced[name] = occupied

    def corrupt_crcs(self, frames: int = 3) -> None:
        self.corrupt_next = frames

    def inputs(self) -> dict[str, bool]:
        with self._state:
            truck = self.truck
            model = {
                "arming_loop": bool(truck and truck.occupies(ARMING_LOOP)),
                "safety_loop": bool(truck and truck.occupies(SAFETY_LOOP)),
                "closing_loop": bool(truck and truck.occupies(CLOSING_LOOP)),
            }
            model.update(self.forced)
            model["barrier_up_limit"] = self.barrier >= 1.0
            model["barrier_down_limit"] = self.barrier <= 0.0
            model["watchdog_fallback"] = self.fallback
            return model

    # --- time -----------------------------------------------------------------------------------

    def on_tick(self, now: float) -> None:
        with self._state:
            dt = 0.0 if self._last_tick is None else now - self._last_tick
            self._last_tick = now
            if self._buf and now - self._last_byte > FRAME_GAP:
                self._buf.clear()  # an incomplete or unknown request: the line went quiet
            limit = self.watchdog_ms / 1000
            if limit and not self.fallback and self._last_request and now - self._last_request > limit:
                self.coils.update(reg.SAFE_OUTPUTS)
                self.fallback = True
                self.watchdog_trips += 1
            self._move_barrier(dt)
            self._move_truck(dt)

    def _move_barrier(self, dt: float) -> None:
        safety = self.inputs()["safety_loop"]
        if self.coils["barrier_raise"]:
            self.moving = 1
        elif safety:
            if self.moving < 0:
                self.moving = 1  # closing onto a vehicle: go back up
        else:
            self.moving = -1
        if self.moving > 0 and self.barrier >= 1.0:
            self.moving, self.barrier = 0, 1.0
        elif self.moving < 0 and self.barrier <= 0.0:
            self.moving, self.barrier = 0, 0.0
        if self.moving:
            self.barrier = min(1.0, max(0.0, self.barrier + self.moving * dt / self.motion_time))

    def _move_truck(self, dt: float) -> None:
        truck = self.truck
        if truck is None or not truck.driving:
            return
        ahead = truck.front + truck.speed * dt
        if truck.front <= ARM_STOP and self.barrier < 1.0:
            ahead = min(ahead, ARM_STOP)  # waits in front of the arm
        truck.front = ahead
        if truck.front - truck.length > LEAVE_AT:
            self.truck = None
            self.trucks_passed += 1
            if self.on_truck_left is not None:
                self.on_truck_left(truck)

    # --- Modbus RTU -----------------------------------------------------------------------------

    def on_bytes(self, data: bytes, now: float) -> None:
        with self._state:
            self._buf += data
            self._last_byte = now
            while True:
                length = _request_length(bytes(self._buf))
                if length is None or length > len(self._buf):
                    return
                if length < 0:
                    return  # unknown function: wait for the gap to drop it
                frame, self._buf = bytes(self._buf[:length]), self._buf[length:]
                if crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
                    self._buf.clear()  # lost framing: a real slave waits for the next gap
                    return
                if frame[0] not in (self.unit, 0):
                    continue  # another unit on the bus
                self._last_request = now
                self.requests += 1
                answer = self._execute(frame[1], frame[2:-2])
                if frame[0] != 0:  # broadcast requests are never answered
                    self._reply(bytes((self.unit,)) + answer)

    def _reply(self, body: bytes) -> None:
        frame = with_crc(body)
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            frame = frame[:-1] + bytes((frame[-1] ^ 0x5A,))
        self.write(frame)

    def _execute(self, fc: int, data: bytes) -> bytes:
        def exc(code: int) -> bytes:
            return bytes((fc | 0x80, code))

        if fc in (1, 2):
            addr, count = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
            table = self._coil_bits() if fc == 1 else self._input_bits()
            if count < 1 or addr + count > len(table):
                return exc(2)
            return bytes((fc,)) + _pack_bits(table[addr : addr + count])
        if fc in (3, 4):
            addr, count = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
            regs = [self.watchdog_ms] if fc == 3 else [FIRMWARE[0] << 8 | FIRMWARE[1], self.watchdog_trips]
            if count < 1 or addr + count > len(regs):
                return exc(2)
            body = b"".join(v.to_bytes(2, "big") for v in regs[addr : addr + count])
            return bytes((fc, len(body))) + body
        if fc == 5:
            addr, value = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
            if addr >= reg.N_COILS:
                return exc(2)
            if value not in (0x0000, 0xFF00):
                return exc(3)
            self._set_coils(addr, [value == 0xFF00])
            return bytes((fc,)) + data[:4]
        if fc == 15:
            addr, count = int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:4], "big")
            if count < 1 or addr + count > reg.N_COILS:
                return exc(2)
            bits = [bool(data[5 + i // 8] >> (i % 8) & 1) for i in range(count)]
            self._set_coils(addr, bits)
            return bytes((fc,)) + data[:4]
        if fc in (6, 16):
            addr = int.from_bytes(data[0:2], "big")
            value = int.from_bytes(data[2:4] if fc == 6 else data[5:7], "big")
            if addr != reg.HOLDING_WATCHDOG_MS or (fc == 16 and int.from_bytes(data[2:4], "big") != 1):
                return exc(2)
            if value > reg.WATCHDOG_MS_MAX:
                return exc(3)
            self.watchdog_ms = value
            return bytes((fc,)) + data[:4]
        return exc(1)

    def _set_coils(self, addr: int, bits: list[bool]) -> None:
        names = reg.coil_names()
        for i, bit in enumerate(bits):
            self.coils[names[addr + i]] = bit
        self.fallback = False

    def _coil_bits(self) -> list[bool]:
        return [self.coils[name] for name in reg.coil_names()]

    def _input_bits(self) -> list[bool]:
        values = self.inputs()
        return [values[name] for name in reg.input_names()]


def _pack_bits(bits: list[bool]) -> bytes:
    out = bytearray((len(bits) + 7) // 8)
    for i, bit in enumerate(bits):
        if bit:
            out[i // 8] |= 1 << (i % 8)
    return bytes((len(out),)) + bytes(out)
