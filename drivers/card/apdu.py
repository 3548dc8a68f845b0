"""ISO 7816-4 APDU and BER-TLV codec: pure functions over bytes, shared by reader and card.

Only short APDUs are used on the ROCARS card (Lc and Le of one byte; Le = 0 means 256),
which every PC/SC reader and T=0 card supports. Decoders take untrusted bytes and raise
``ApduError`` (a ``ProtocolError``) for anything malformed, never another exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.base import ProtocolError

__all__ = [
    "SW_NAMES",
    "ApduError",
    "CommandApdu",
    "ResponseApdu",
    "StatusWordError",
    "Tlv",
    "decode_tlv",
    "encode_tlv",
    "find_tlv",
    "sw_name",
]

SW_OK = 0x9000

# Status words named per ISO 7816-4 (section 5.6); the reader reports them by name.
SW_NAMES: dict[int, str] = {
    0x9000: "success",
    0x6281: "part of returned data may be corrupted",
    0x6282: "end of file reached before reading Le bytes",
    0x6283: "selected file invalidated",
    0x6581: "memory failure",
    0x6700: "wrong length",
    0x6882: "secure messaging not supported",
    0x6982: "security condition not satisfied",
    0x6983: "authentication method blocked",
    0x6984: "reference data not usable",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6A80: "incorrect parameters in the data field",
    0x6A81: "function not supported",
    0x6A82: "file or application not found",
    0x6A86: "incorrect parameters P1-P2",
    0x6A88: "referenced data not found",
    0x6B00: "wrong parameters P1-P2 (offset outside the EF)",
    0x6D00: "instruction code not supported or invalid",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


def sw_name(sw: int) -> str:
    """A readable name for any status word, including the parameterised families."""
    if sw in SW_NAMES:
        return SW_NAMES[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return f"{sw2 or 256} response bytes still available"
    if sw1 == 0x6C:
        return f"wrong Le: exact length is {sw2 or 256}"
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return f"verification failed, {sw2 & 0x0F} tries left"
    if sw1 == 0x62:
        return "warning: state of non-volatile memory unchanged"
    if sw1 == 0x63:
        return "warning: state of non-volatile memory changed"
    if sw1 in (0x64, 0x65, 0x66):
        return "execution error"
    if sw1 in (0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6D, 0x6E, 0x6F):
        return "checking error"
    return "unknown status word"


class ApduError(ProtocolError):
    """Bytes that are not a well-formed APDU or TLV."""


class StatusWordError(ProtocolError):
    """The card answered a command with an error status word."""

    def __init__(self, command: str, sw: int) -> None:
        self.command = command
        self.sw = sw
        super().__init__(f"{command}: card answered {sw:04X} ({sw_name(sw)})")


@dataclass(frozen=True)
class CommandApdu:
    """A short command APDU. ``le`` is None when no response data is expected (cases 1 and 3)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ApduError(f"APDU {name} must be a byte 0..255 (got {value})")
        if len(self.data) > 255:
            raise ApduError(f"APDU data must be at most 255 bytes for a short APDU (got {len(self.data)})")
        if self.le is not None and not 1 <= self.le <= 256:
            raise ApduError(f"APDU le must be 1..256 or None (got {self.le})")

    def encode(self) -> bytes:
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le & 0xFF,))
        return out

    @classmethod
    def decode(cls, raw: bytes) -> CommandApdu:
        if len(raw) < 4:
            raise ApduError(f"command APDU must have at least 4 header bytes (got {len(raw)})")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:  # case 2: Le only
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise ApduError("command APDU Lc is 0 with a body present (extended APDUs are not supported)")
        if len(body) == 1 + lc:  # case 3
            return cls(cla, ins, p1, p2, data=bytes(body[1:]))
        if len(body) == 2 + lc:  # case 4
            return cls(cla, ins, p1, p2, data=bytes(body[1 : 1 + lc]), le=body[-1] or 256)
        raise ApduError(f"command APDU body of {len(body)} bytes does not match Lc={lc}")

    def name(self) -> str:
        return _INS_NAMES.get(self.ins, f"INS {self.ins:02X}")


_INS_NAMES = {
    0xA4: "SELECT",
    0xB0: "READ BINARY",
    0xC0: "GET RESPONSE",
    0x88: "INTERNAL AUTHENTICATE",
}


@dataclass(frozen=True)
class ResponseApdu:
    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def decode(cls, raw: bytes) -> ResponseApdu:
        if len(raw) < 2:
            raise ApduError(f"response APDU must end with a 2-byte status word (got {len(raw)} bytes)")
        if len(raw) > 258:
            raise ApduError(f"response APDU longer than a short response (got {len(raw)} bytes)")
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))


# --- BER-TLV (ISO 7816-4 section 5.2.2) ---------------------------------------------------


@dataclass(frozen=True)
class Tlv:
    """One BER-TLV object. A constructed tag (bit 6 of the first tag byte) holds children."""

    tag: int
    value: bytes = b""
    children: tuple[Tlv, ...] = field(default=())

    @property
    def constructed(self) -> bool:
        return bool(_tag_bytes(self.tag)[0] & 0x20)


def _tag_bytes(tag: int) -> bytes:
    if tag < 0 or tag > 0xFFFFFF:
        raise ApduError(f"TLV tag must be 1 to 3 bytes (got {tag:#x})")
    raw = tag.to_bytes(max(1, (tag.bit_length() + 7) // 8), "big")
    first = raw[0]
    if first in (0x00, 0xFF):
        raise ApduError(f"TLV tag {tag:#x}: first byte 00 and FF are padding, not tags")
    if len(raw) == 1 and first & 0x1F == 0x1F:
        raise ApduError(f"TLV tag {tag:#x}: first byte announces more tag bytes but none follow")
    if len(raw) > 1:
        if first & 0x1F != 0x1F:
            raise ApduError(f"TLV tag {tag:#x}: multi-byte tag must have first byte low bits 11111")
        if any(b & 0x80 == 0 for b in raw[1:-1]) or raw[-1] & 0x80:
            raise ApduError(f"TLV tag {tag:#x}: subsequent tag bytes must chain with bit 8")
    return raw


def _length_bytes(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    if n <= 0xFF:
        return bytes((0x81, n))
    if n <= 0xFFFF:
        return bytes((0x82,)) + n.to_bytes(2, "big")
    raise ApduError(f"TLV value too long ({n} bytes; at most 65535)")


def encode_tlv(items: Tlv | list[Tlv] | tuple[Tlv, ...]) -> bytes:
    if isinstance(items, Tlv):
        items = [items]
    out = bytearray()
    for item in items:
        value = encode_tlv(list(item.children)) if item.constructed else item.value
        out += _tag_bytes(item.tag) + _length_bytes(len(value)) + value
    return bytes(out)


_MAX_DEPTH = 8


def decode_tlv(raw: bytes, *, depth: int = 0) -> tuple[Tlv, ...]:
    """Decode a sequence of BER-TLV objects; constructed objects are decoded recursively."""
    if depth > _MAX_DEPTH:
        raise ApduError(f"TLV nested deeper than {_MAX_DEPTH} levels")
    items: list[Tlv] = []
    i = 0
    n = len(raw)
    while i < n:
        if raw[i] in (0x00, 0xFF):  # padding between objects (ISO 7816-4 5.2.2.1)
            i += 1
            continue
        start = i
        i += 1
        if raw[start] & 0x1F == 0x1F:
            while True:
                if i >= n:
                    raise ApduError(f"TLV tag at offset {start} is truncated")
                i += 1
                if raw[i - 1] & 0x80 == 0:
                    break
                if i - start >= 3:
                    raise ApduError(f"TLV tag at offset {start} is longer than 3 bytes")
        tag = int.from_bytes(raw[start:i], "big")
        if i >= n:
            raise ApduError(f"TLV tag {tag:#x} at offset {start} has no length")
        first = raw[i]
        i += 1
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):
            count = first & 0x7F
            if i + count > n:
                raise ApduError(f"TLV length of tag {tag:#x} at offset {start} is truncated")
            length = int.from_bytes(raw[i : i + count], "big")
            i += count
        else:
            raise ApduError(f"TLV length byte {first:#04x} of tag {tag:#x} is not supported")
        if i + length > n:
            raise ApduError(f"TLV value of tag {tag:#x} needs {length} bytes, only {n - i} left")
        value = bytes(raw[i : i + length])
        i += length
        if raw[start] & 0x20:
            items.append(Tlv(tag, children=decode_tlv(value, depth=depth + 1)))
        else:
            items.append(Tlv(tag, value))
    return tuple(items)


def find_tlv(items: tuple[Tlv, ...] | list[Tlv], tag: int) -> Tlv | None:
    for item in items:
        if item.tag == tag:
            return item
    return None
