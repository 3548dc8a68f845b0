"""Frame codec of the R2000-family UHF reader serial protocol: pure functions over bytes.

Shared by the driver (``drivers.rfid.reader``) and the simulator (``simulators.rfid``):
one codec, two ends.

Frame (both directions)::

    +------+-----+---------+-----+----------+-------+
    | Head | Len | Address | Cmd | Data ... | Check |
    | 0xA0 |  1  |    1    |  1  |  Len - 3 |   1   |
    +------+-----+---------+-----+----------+-------+

- ``Len`` counts the bytes after itself: address, command, data and check (so >= 3; a
  whole frame is ``Len + 2`` bytes, at most 257).
- ``Address`` is the reader's RS-485 address (0..254); 0xFF is the public/broadcast
  address a host may use; a reader answers with its own address.
- ``Check`` is the two's complement of the byte sum of every byte before it, head
  included: the sum of a whole frame is 0 modulo 256.

Commands used here (host -> reader; reader -> host):

- 0x72 get firmware version: no data; answers ``Major Minor``.
- 0x74 set work antenna: ``AntennaId`` (0..3); answers ``ErrorCode`` (0x10 = success).
- 0x89 real-time inventory: ``Repeat`` (rounds; 0xFF = the reader's fastest mode).
  The reader answers with one frame per tag read, data =
  ``FreqAnt PC(2) EPC(N) RSSI``: FreqAnt's high 6 bits are the frequency channel, low 2
  bits the antenna (0..3); PC is the EPC Gen2 protocol-control word (its high 5 bits give
  the EPC length in 16-bit words); RSSI is a byte whose value minus 129 is the level in
  dBm (the reader manual's table: 0x62 = -31 dBm). After the rounds it sends one closing
  summary frame, data = ``AntId ReadRate(2, big-endian, tags/s) TotalRead(4, big-endian)``
  (Len = 10), which is how the host knows the inventory ended.
- Any command may be answered by an error frame, data = ``ErrorCode`` (Len = 4), with
  codes such as 0x11 command failed, 0x22 antenna missing, 0x31 inventory error, 0x41
  invalid parameter (``ERROR_CODES``).
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD = 0xA0
BROADCAST = 0xFF
MAX_LEN = 0xFF
MIN_LEN = 3

CMD_RESET = 0x70
CMD_GET_FIRMWARE_VERSION = 0x72
CMD_SET_WORK_ANTENNA = 0x74
CMD_REAL_TIME_INVENTORY = 0x89

KNOWN_COMMANDS = frozenset({CMD_RESET, 0x71, CMD_GET_FIRMWARE_VERSION, 0x73, CMD_SET_WORK_ANTENNA, 0x75,
                            0x76, 0x77, 0x78, 0x79, 0x7A, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
                            CMD_REAL_TIME_INVENTORY, 0x8A, 0x8B, 0x90, 0x91, 0x92, 0x93})

SUCCESS = 0x10
ERROR_CODES: dict[int, str] = {
    0x10: "command succeeded",
    0x11: "command failed",
    0x20: "MCU reset error",
    0x21: "CW on error",
    0x22: "antenna missing",
    0x23: "write flash error",
    0x24: "read flash error",
    0x25: "set output power error",
    0x31: "tag inventory error",
    0x32: "tag read error",
    0x33: "tag write error",
    0x34: "tag lock error",
    0x35: "tag kill error",
    0x36: "no tag",
    0x38: "buffer is empty",
    0x41: "invalid parameter",
}

RSSI_OFFSET = 129  # dBm = RSSI byte - 129


class CodecError(ValueError):
    """A value cannot be encoded, or a frame's data does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class Frame:
    address: int
    cmd: int
    data: bytes = b""

    def encode(self) -> bytes:
        return encode_frame(self.address, self.cmd, self.data)


@dataclass(frozen=True, slots=True)
class TagRead:
    epc: bytes
    antenna: int
    rssi_dbm: int
    pc: int
    channel: int


@dataclass(frozen=True, slots=True)
class InventorySummary:
    antenna: int
    read_rate: int
    total_read: int


def checksum(data: bytes) -> int:
    """Two's complement of the byte sum (what makes a whole frame sum to 0 mod 256)."""
    return (-sum(data)) & 0xFF


def encode_frame(address: int, cmd: int, data: bytes = b"") -> bytes:
    if not 0 <= address <= 0xFF:
        raise CodecError(f"address must be 0..255 (got {address})")
    if not 0 <= cmd <= 0xFF:
        raise CodecError(f"cmd must be 0..255 (got {cmd})")
    length = len(data) + MIN_LEN
    if length > MAX_LEN:
        raise CodecError(f"data must be at most {MAX_LEN - MIN_LEN} bytes (got {len(data)})")
    body = bytes((HEAD, length, address, cmd)) + bytes(data)
    return body + bytes((checksum(body),))


class FrameDecoder:
    """Stream decoder: feed it bytes as they come, get whole frames with a valid checksum.

    Resynchronisation: bytes before a head byte are dropped; a candidate frame whose
    length is invalid, whose command is unknown or whose checksum fails loses its head
    byte and the search restarts at the next 0xA0, so garbage costs at most the frames it
    overlaps. A garbage 0xA0 can announce a long frame that never completes; ``flush()``
    (called when the line has gone quiet) gives such a candidate up.
    """

    def __init__(self, *, known_commands: frozenset[int] | None = KNOWN_COMMANDS) -> None:
        self._buf = bytearray()
        self._known = known_commands
        self.discarded = 0  # bytes dropped while resynchronising
        self.bad_frames = 0  # candidates rejected (checksum, length or command)

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        return self._drain(final=False)

    def flush(self) -> list[Frame]:
        """The line went quiet: no incomplete candidate will ever complete; rescan past them."""
        return self._drain(final=True)

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self.discarded += n

    def _drain(self, *, final: bool) -> list[Frame]:
        frames: list[Frame] = []
        buf = self._buf
        while buf:
            start = buf.find(HEAD)
            if start < 0:
                self._drop(len(buf))
                break
            if start:
                self._drop(start)
            if len(buf) < 2:
                if final:
                    self._drop(len(buf))
                break
            length = buf[1]
            if length < MIN_LEN:
                self.bad_frames += 1
                self._drop(1)
                continue
            total = length + 2
            if len(buf) < total:
                if final:
                    self._drop(1)  # this candidate cannot complete; look for a later head
                    continue
                break
            if (sum(buf[:total]) & 0xFF) != 0 or (self._known is not None and buf[3] not in self._known):
                self.bad_frames += 1
                self._drop(1)
                continue
            frames.append(Frame(address=buf[2], cmd=buf[3], data=bytes(buf[4 : total - 1])))
            del buf[:total]
        return frames


def error_code(frame: Frame) -> int | None:
    """The error/status code if ``frame`` is a one-byte status answer, else None."""
    return frame.data[0] if len(frame.data) == 1 else None


def describe_error(code: int) -> str:
    return f"0x{code:02X} {ERROR_CODES.get(code, 'unknown error')}"


# --- 0x89 real-time inventory -------------------------------------------------------------


def encode_tag_read(address: int, read: TagRead) -> bytes:
    if len(read.epc) % 2 or not 2 <= len(read.epc) <= 62:
        raise CodecError(f"epc must be a whole number of 16-bit words, 2..62 bytes (got {len(read.epc)})")
    if not 0 <= read.antenna <= 3:
        raise CodecError(f"antenna must be 0..3 (got {read.antenna})")
    if not 0 <= read.channel <= 63:
        raise CodecError(f"channel must be 0..63 (got {read.channel})")
    rssi = read.rssi_dbm + RSSI_OFFSET
    if not 0 <= rssi <= 0x7F:
        raise CodecError(f"rssi_dbm must be {-RSSI_OFFSET}..{0x7F - RSSI_OFFSET} (got {read.rssi_dbm})")
    freq_ant = (read.channel << 2) | read.antenna
    data = bytes((freq_ant,)) + read.pc.to_bytes(2, "big") + read.epc + bytes((rssi,))
    return encode_frame(address, CMD_REAL_TIME_INVENTORY, data)


def pc_for_epc(epc: bytes) -> int:
    """The PC word announcing an EPC of this length (no user memory, no XPC)."""
    return (len(epc) // 2) << 11


def encode_summary(address: int, summary: InventorySummary) -> bytes:
    data = (
        bytes((summary.antenna & 0xFF,))
        + (summary.read_rate & 0xFFFF).to_bytes(2, "big")
        + (summary.total_read & 0xFFFFFFFF).to_bytes(4, "big")
    )
    return encode_frame(address, CMD_REAL_TIME_INVENTORY, data)


def parse_inventory(frame: Frame) -> TagRead | InventorySummary | int:
    """Classify a 0x89 answer: a tag read, the closing summary, or an error code (int)."""
    if frame.cmd != CMD_REAL_TIME_INVENTORY:
        raise CodecError(f"not an inventory frame (cmd 0x{frame.cmd:02X})")
    data = frame.data
    if len(data) == 1:
        return data[0]
    if len(data) == 7:
        return InventorySummary(
            antenna=data[0],
            read_rate=int.from_bytes(data[1:3], "big"),
            total_read=int.from_bytes(data[3:7], "big"),
        )
    if len(data) < 6 or (len(data) - 4) % 2:
        raise CodecError(f"inventory frame data of {len(data)} bytes is not a tag, summary or error")
    pc = int.from_bytes(data[1:3], "big")
    epc = bytes(data[3:-1])
    return TagRead(
        epc=epc,
        antenna=data[0] & 0x03,
        channel=data[0] >> 2,
        pc=pc,
        rssi_dbm=(data[-1] & 0x7F) - RSSI_OFFSET,
    )


# --- 0x72 firmware version -----------------------------------------------------------------


def parse_firmware_version(frame: Frame) -> str:
    if frame.cmd != CMD_GET_FIRMWARE_VERSION or len(frame.data) != 2:
        raise CodecError(f"not a firmware version answer: cmd 0x{frame.cmd:02X}, {len(frame.data)} bytes")
    return f"{frame.data[0]}.{frame.data[1]:02d}"
