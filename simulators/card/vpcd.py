"""A virtual card slot served to pcscd's vpcd reader driver over TCP.

vpcd listens on a port per reader slot; a card is "inserted" by connecting to it and
"removed" by closing the connection. Each message either way is a 2-byte big-endian
length and a payload. A 1-byte payload from vpcd is a control (0 power off, 1 power on,
2 reset, 4 send the ATR); anything longer is a C-APDU, answered with the R-APDU.
vpcd asks for the ATR on every presence poll (about every 400 ms), so the slot must keep
answering while idle.

``TCP_QUICKACK`` is set before every receive: vpcd writes the length and the payload
separately, and with delayed ACKs every APDU would stall about 40 ms.

Faults for the technician: ``remove()`` pulls the card, ``pull_mid_command()`` pulls it
as the next command arrives (the reader sees the card vanish mid-exchange). If vpcd
drops the connection (pcscd restarting) while a card is inserted, the slot reconnects
with capped backoff, like a card that stays in a reader that comes back.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

from simulators.card.applet import CardProfile, VirtualCard

log = logging.getLogger("simulators.card")

__all__ = ["FrameDecoder", "VirtualCardServer", "encode_frame"]

CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4
MAX_FRAME = 0xFFFF
EMPTY_DWELL_S = 0.5


def encode_frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError(f"vpcd frame payload must be at most {MAX_FRAME} bytes (got {len(payload)})")
    return len(payload).to_bytes(2, "big") + payload


class FrameDecoder:
    """Splits a byte stream into vpcd payloads; keeps a partial frame for the next feed."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        while len(self._buffer) >= 2:
            length = int.from_bytes(self._buffer[:2], "big")
            if len(self._buffer) < 2 + length:
                break
            frames.append(bytes(self._buffer[2 : 2 + length]))
            del self._buffer[: 2 + length]
        return frames


class VirtualCardServer:
    """One card slot of a vpcd reader at ``host:port`` (the reader's slot 0 is its base port)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 35963, *, io_timeout: float = 0.25) -> None:
        self.host = host
        self.port = port
        self._io_timeout = io_timeout
        self._lock = threading.Lock()
        self._card: VirtualCard | None = None
        # Armed faults. False: not armed; None: on any INS; an int: on that INS.
        self._pull_on: int | bool | None = False
        self._stall_on: int | bool | None = False
        self._stalled = threading.Event()
        self.stalled = threading.Event()
        self._sock: socket.socket | None = None
        self._closed = False
        self._emptied_at = 0.0
        self._wake = threading.Event()
        self.connected = threading.Event()
        self.pulled = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vpcd-card-{port}", daemon=True)
        self._thread.start()

    # --- technician's controls -----------------------------------------------------------

    @property
    def card(self) -> VirtualCard | None:
        return self._card

    def insert(self, card: CardProfile | VirtualCard) -> VirtualCard:
        """Insert a card (replacing any card already in the slot)."""
        virtual = card if isinstance(card, VirtualCard) else VirtualCard(card)
        with self._lock:
            armed = self._pull_on, self._stall_on
        self.remove()
        with self._lock:
            self._card = virtual
            self._pull_on, self._stall_on = armed  # a fault armed before insertion stays armed
        self._wake.set()
        return virtual

    def remove(self) -> None:
        """Pull the card out; safe when the slot is empty."""
        with self._lock:
            self._card = None
            self._pull_on = self._stall_on = False
        self._stalled.set()
        self._drop_connection()

    def pull_mid_command(self, ins: int | None = None) -> None:
        """Arm a fault: when the next C-APDU (with instruction ``ins``, or any) arrives,
        the card is pulled before it answers. Stays armed across ``insert``."""
        with self._lock:
            self._pull_on = ins
            self.pulled.clear()

    def stall_mid_command(self, ins: int | None = None) -> None:
        """Arm a fault: the next C-APDU (with instruction ``ins``, or any) is never
        answered, until the card is removed. vpcd has no timeout of its own, so this
        wedges the reader's driver the way a hung reader does."""
        with self._lock:
            self._stall_on = ins
            self.stalled.clear()

    def close(self) -> None:
        """Remove the card and end the slot's thread; safe to call twice."""
        self._closed = True
        self.remove()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> VirtualCardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- connection ----------------------------------------------------------------------

    def _drop_connection(self) -> None:
        sock, self._sock = self._sock, None
        self.connected.clear()
        if sock is not None:
            self._emptied_at = time.monotonic()
            with contextlib.suppress(OSError):  # already closed by the other end
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _run(self) -> None:
        delay = 0.05
        while not self._closed:
            card = self._card
            if card is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            # pcscd polls vpcd for presence about every 400 ms: a card put back sooner
            # than that would look to pcscd as if it had never left. No hand is that
            # fast, so the slot stays empty for one poll period first.
            empty_for = time.monotonic() - self._emptied_at
            if empty_for < EMPTY_DWELL_S:
                time.sleep(EMPTY_DWELL_S - empty_for)
                continue
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError:
                # vpcd not listening (pcscd starting or restarting): retry, doubling to a cap.
                self._wake.wait(delay)
                self._wake.clear()
                delay = min(delay * 2, 1.0)
                continue
            delay = 0.05
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self._io_timeout)
            with self._lock:
                if self._card is not card:  # removed or swapped while connecting
                    sock.close()
                    continue
                self._sock = sock
            card.reset()
            self.connected.set()
            try:
                self._serve(sock, card)
            except OSError as exc:
                log.debug("vpcd connection on port %d ended: %s", self.port, exc)
            finally:
                with self._lock:
                    if self._sock is sock:
                        self._sock = None
                        self.connected.clear()
                sock.close()

    def _serve(self, sock: socket.socket, card: VirtualCard) -> None:
        decoder = FrameDecoder()
        while self._sock is sock and self._card is card:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            try:
                data = sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                return  # vpcd closed the connection
            for payload in decoder.feed(data):
                reply = self._handle(card, payload)
                if reply is None:
                    continue
                sock.sendall(encode_frame(reply))

    def _handle(self, card: VirtualCard, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            control = payload[0]
            if control == CTRL_ATR:
                return card.atr
            if control in (CTRL_ON, CTRL_OFF, CTRL_RESET):
                card.reset()
            return None
        with self._lock:
            pull = _matches(self._pull_on, payload)
            stall = not pull and _matches(self._stall_on, payload)
            if pull:
                self._card = None
                self._pull_on = False
                self.pulled.set()
            if stall:
                self._stall_on = False
                self._stalled.clear()
                self.stalled.set()
        if pull:
            log.info("card pulled out of port %d mid-command", self.port)
            self._drop_connection()
            return None
        if stall:
            log.info("card in port %d stalls mid-command until removed", self.port)
            while not self._stalled.wait(0.5) and not self._closed:
                pass
            return None
        return card.process(payload)


def _matches(armed: int | bool | None, payload: bytes) -> bool:
    return armed is not False and (armed is None or payload[1] == armed)
