"""UHF RFID reader simulator on a pseudo-terminal, speaking the driver's R2000-family protocol.

Tags enter and leave the field (``tag_enter``/``tag_leave``); each real-time inventory
round (0x89) answers one frame per tag in the field (RSSI jittered a little, as a real
antenna sees it) and the closing summary frame. Faults: garbage bytes, bad checksums on the
next frames, silence, unplug and replug (see ``simulators.serial_pty``), and a missing
antenna (every inventory answered with error 0x22).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from drivers.rfid import codec
from simulators.serial_pty import PtyDevice

FIRMWARE = (3, 7)


@dataclass
class _Tag:
    epc: bytes
    antenna: int
    rssi_dbm: int


class RfidReaderSim(PtyDevice):
    name = "rfid reader sim"

    def __init__(
        self,
        link: str | None = None,
        *,
        address: int = 1,
        round_time: float = 0.005,
        seed: int | None = None,
        baudrate: int | None = None,
    ) -> None:
        self.address = address
        self.round_time = round_time
        self._decoder = codec.FrameDecoder()
        self._tags: dict[bytes, _Tag] = {}
        self._tags_lock = threading.Lock()
        self.corrupt_next = 0
        self.antenna_missing = False
        self.work_antenna = 0
        self.total_reads = 0
        self.commands: list[int] = []
        super().__init__(link, seed=seed, baudrate=baudrate)

    # --- the field ------------------------------------------------------------------------------

    def tag_enter(self, epc: str | bytes, *, antenna: int = 0, rssi_dbm: int = -55) -> None:
        raw = bytes.fromhex(epc) if isinstance(epc, str) else epc
        codec.encode_tag_read(self.address, codec.TagRead(raw, antenna, rssi_dbm, codec.pc_for_epc(raw), 0))
        with self._tags_lock:
            self._tags[raw] = _Tag(raw, antenna, rssi_dbm)

    def tag_leave(self, epc: str | bytes) -> None:
        raw = bytes.fromhex(epc) if isinstance(epc, str) else epc
        with self._tags_lock:
            self._tags.pop(raw, None)

    def tags_in_field(self) -> list[str]:
        with self._tags_lock:
            return sorted(t.hex().upper() for t in self._tags)

    # --- faults -------------------------------------------------------------------------------

    def corrupt_checksums(self, frames: int = 3) -> None:
        """The next ``frames`` frames go out with a wrong check byte."""
        self.corrupt_next = frames

    # --- protocol -------------------------------------------------------------------------------

    def _send(self, frame: bytes) -> None:
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            frame = frame[:-1] + bytes(((frame[-1] + 1) & 0xFF,))
        self.write(frame)

    def on_bytes(self, data: bytes, now: float) -> None:
        for frame in self._decoder.feed(data):
            if frame.address not in (self.address, codec.BROADCAST):
                continue  # another reader on the RS-485 bus
            self.commands.append(frame.cmd)
            self._handle(frame)

    def _handle(self, frame: codec.Frame) -> None:
        if frame.cmd == codec.CMD_GET_FIRMWARE_VERSION:
            self._send(codec.encode_frame(self.address, frame.cmd, bytes(FIRMWARE)))
        elif frame.cmd == codec.CMD_SET_WORK_ANTENNA:
            if len(frame.data) == 1 and frame.data[0] <= 3:
                self.work_antenna = frame.data[0]
                self._send(codec.encode_frame(self.address, frame.cmd, bytes((codec.SUCCESS,))))
            else:
                self._send(codec.encode_frame(self.address, frame.cmd, bytes((0x41,))))
        elif frame.cmd == codec.CMD_REAL_TIME_INVENTORY:
            self._inventory(frame)
        else:
            self._send(codec.encode_frame(self.address, frame.cmd, bytes((0x11,))))

    def _inventory(self, frame: codec.Frame) -> None:
        if len(frame.data) != 1:
            self._send(codec.encode_frame(self.address, frame.cmd, bytes((0x41,))))
            return
        if self.antenna_missing:
            self._send(codec.encode_frame(self.address, frame.cmd, bytes((0x22,))))
            return
        rounds = min(frame.data[0], 4)  # 0xFF is "as fast as you can", not 255 rounds
        time.sleep(self.round_time * rounds)  # the air interface takes time
        with self._tags_lock:
            tags = list(self._tags.values())
        frames: list[bytes] = []
        for tag in tags:
            rssi = max(-129, min(-2, tag.rssi_dbm + self.rng.randint(-2, 2)))
            channel = self.rng.randrange(50)
            read = codec.TagRead(tag.epc, tag.antenna, rssi, codec.pc_for_epc(tag.epc), channel)
            frames.append(codec.encode_tag_read(self.address, read))
        self.total_reads += len(tags)
        elapsed = max(self.round_time * rounds, 1e-3)
        summary = codec.InventorySummary(self.work_antenna, int(len(tags) / elapsed), len(tags))
        frames.append(codec.encode_summary(self.address, summary))
        for f in frames:  # one by one, so a checksum fault hits a single frame
            self._send(f)
