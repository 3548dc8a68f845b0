"""APDU exchange with one card: GET RESPONSE after 61xx, re-issue with the right Le after
6Cxx, error status words raised by name, files read in chunks with offsets.

The channel only needs a function that sends C-APDU bytes and returns R-APDU bytes, so
the same code runs over PC/SC (the driver) and straight against the virtual card (the
benchmark's baseline)."""

from __future__ import annotations

from collections.abc import Callable

from drivers.card.apdu import (
    SW_OK,
    ApduError,
    CommandApdu,
    ResponseApdu,
    StatusWordError,
    decode_tlv,
    find_tlv,
)

Transmit = Callable[[bytes], bytes]

# Caps: a card that keeps answering 61xx or 6Cxx must not keep the reader busy forever.
MAX_RESPONSE_CHAIN = 64
MAX_FILE_SIZE = 8192
READ_CHUNK = 256


class CardChannel:
    def __init__(self, transmit: Transmit) -> None:
        self._transmit = transmit
        self.exchanges = 0

    def _exchange(self, apdu: CommandApdu) -> ResponseApdu:
        self.exchanges += 1
        return ResponseApdu.decode(self._transmit(apdu.encode()))

    def command(self, apdu: CommandApdu) -> bytes:
        """Send a command and return its complete response data, or raise StatusWordError."""
        response = self._exchange(apdu)
        if response.sw1 == 0x6C:
            # Wrong Le: the card says how many bytes it has; ask again for exactly that.
            response = self._exchange(
                CommandApdu(apdu.cla, apdu.ins, apdu.p1, apdu.p2, apdu.data, response.sw2 or 256)
            )
        data = bytearray(response.data)
        chained = 0
        while response.sw1 == 0x61:
            chained += 1
            if chained > MAX_RESPONSE_CHAIN:
                raise ApduError(f"{apdu.name()}: more than {MAX_RESPONSE_CHAIN} GET RESPONSE rounds")
            response = self._exchange(CommandApdu(apdu.cla, 0xC0, 0, 0, le=response.sw2 or 256))
            if response.sw1 == 0x6C:
                response = self._exchange(CommandApdu(apdu.cla, 0xC0, 0, 0, le=response.sw2 or 256))
            data += response.data
        if response.sw != SW_OK:
            raise StatusWordError(apdu.name(), response.sw)
        return bytes(data)

    def select_application(self, aid: bytes) -> bytes:
        return self.command(CommandApdu(0x00, 0xA4, 0x04, 0x00, aid, le=256))

    def select_file(self, fid: int, *, want_size: bool) -> int | None:
        """Select an EF of the current application; with ``want_size`` return its size from the FCP."""
        fid_bytes = fid.to_bytes(2, "big")
        if not want_size:
            self.command(CommandApdu(0x00, 0xA4, 0x02, 0x0C, fid_bytes))
            return None
        fcp = self.command(CommandApdu(0x00, 0xA4, 0x02, 0x04, fid_bytes, le=256))
        template = find_tlv(decode_tlv(fcp), 0x62)
        size = find_tlv(template.children, 0x80) if template else None
        if size is None or not 1 <= len(size.value) <= 2:
            raise ApduError(f"SELECT {fid:04X}: FCP has no file size (tag 80)")
        return int.from_bytes(size.value, "big")

    def read_binary(self, offset: int, length: int) -> bytes:
        if not 0 <= offset <= 0x7FFF:
            raise ApduError(f"READ BINARY offset must be 0..32767 (got {offset})")
        return self.command(CommandApdu(0x00, 0xB0, offset >> 8, offset & 0xFF, le=length))

    def read_file(self, fid: int) -> bytes:
        """Select an EF (FCP gives the size), then read it in chunks with offsets."""
        size = self.select_file(fid, want_size=True)
        assert size is not None
        if size > MAX_FILE_SIZE:
            raise ApduError(f"EF {fid:04X} announces {size} bytes; at most {MAX_FILE_SIZE} are read")
        content = bytearray()
        while len(content) < size:
            chunk = self.read_binary(len(content), min(READ_CHUNK, size - len(content)))
            if not chunk:
                raise ApduError(f"READ BINARY of EF {fid:04X} at offset {len(content)} returned no data")
            content += chunk
        return bytes(content[:size])

    def read_small_file(self, fid: int) -> bytes:
        """Select an EF without asking for its FCP and read it with Le=00 until its end.

        A T=0 card answers 6Cxx with the real length when fewer than 256 bytes are left
        (``command`` re-issues), and 6B00 for an offset at the end of a file whose size is
        a multiple of 256."""
        self.select_file(fid, want_size=False)
        content = bytearray()
        while True:
            try:
                chunk = self.read_binary(len(content), READ_CHUNK)
            except StatusWordError as exc:
                if exc.sw == 0x6B00 and content:
                    break  # offset is exactly the end of the file
                raise
            content += chunk
            if len(chunk) < READ_CHUNK:
                break
            if len(content) > MAX_FILE_SIZE:
                raise ApduError(f"EF {fid:04X} is longer than {MAX_FILE_SIZE} bytes")
        return bytes(content)

    def internal_authenticate(self, challenge: bytes) -> bytes:
        return self.command(CommandApdu(0x00, 0x88, 0x00, 0x00, challenge, le=256))
