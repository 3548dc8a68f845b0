"""UHF RFID vehicle-tag reader driver (R2000-family serial protocol; frames in ``codec``).

Layers: transport (a port opened from a URL with pyserial's ``serial_for_url``: a device
such as ``/dev/ttyUSB0``, a pseudo-terminal or ``socket://host:port``) -> frame codec
(``drivers.rfid.codec``) -> this device API.

``RfidReader.start()`` runs an inventory loop in its own thread: it asks for one
real-time inventory round (0x89) after another, feeds every tag read into a
``PresenceTracker`` and emits ``TagSeen`` once when a tag appears and ``TagGone`` once it
has not been read for ``hold_time``. Every read and write is bounded by a timeout; a
device that stops answering, or a port that fails, makes the reader unavailable (logged
once) and the loop retries with a backoff doubling to a cap, reopening the port from its
URL (an unplugged and replugged USB adapter, or a re-created pseudo-terminal behind a
stable symlink, comes back by itself).

While the reader is unavailable nothing is read, so tags present are reported gone once
``hold_time`` has passed: a consumer must take the reader's availability, not the absence
of ``TagGone``, as its sign that the field is watched.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import termios
import threading
import time
from collections.abc import Callable

import serial

from drivers.base import (
    Availability,
    AvailabilityListener,
    Backoff,
    DeviceTimeout,
    DeviceUnavailable,
    DriverError,
    ProtocolError,
)
from drivers.rfid import codec
from drivers.rfid.presence import PresenceTracker, RfidEvent, TagGone

log = logging.getLogger(__name__)

PORT_ERRORS = (serial.SerialException, OSError, termios.error)  # pyserial leaks termios errors

READ_SLICE = 0.01  # seconds one blocking read may wait: keeps the loop responsive to stop()
QUIET_GAP = 0.05  # a line silent this long will not complete a partial frame


class ReaderError(ProtocolError):
    """The reader answered a command with an error code."""

    def __init__(self, cmd: int, code: int) -> None:
        super().__init__(f"reader answered command 0x{cmd:02X} with error {codec.describe_error(code)}")
        self.cmd = cmd
        self.code = code


class RfidReader:
    def __init__(
        self,
        url: str,
        *,
        baudrate: int = 115200,
        address: int = codec.BROADCAST,
        hold_time: float = 1.0,
        command_timeout: float = 0.5,
        repeat: int = 1,
        fail_after: int = 2,
        backoff: Backoff | None = None,
        on_event: Callable[[RfidEvent], None] | None = None,
        on_availability: AvailabilityListener | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "rfid",
    ) -> None:
        if not 0 <= address <= 0xFF:
            raise ValueError(f"reader_address must be 0..255 (got {address})")
        if not 1 <= repeat <= 0xFF:
            raise ValueError(f"repeat must be 1..255 (got {repeat})")
        self.url = url
        self.baudrate = baudrate
        self.address = address
        self.command_timeout = command_timeout
        self.repeat = repeat
        self.fail_after = fail_after
        self.backoff = backoff or Backoff(0.05, 2.0)
        self.availability = Availability(name, logger=log, listener=on_availability, clock=clock)
        self.presence = PresenceTracker(hold_time)
        self.firmware: str | None = None
        self._clock = clock
        self._on_event = on_event
        self._events: queue.Queue[RfidEvent] = queue.Queue()
        self._port: serial.SerialBase | None = None
        self._decoder = codec.FrameDecoder()
        self._io_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    # --- lifecycle ------------------------------------------------------------------------

    def open(self) -> str:
        """Open the port and ask the firmware version (the reader's hello); returns it."""
        with self._io_lock:
            return self._connect()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        name = f"{self.availability.name}-inventory"
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the loop and close the port; safe to call more than once."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():  # close() from a callback
            thread.join(timeout=2.0)
        with self._io_lock:
            self._close_port()
        self.availability.set_closed()  # logged once, at info: a deliberate close is no fault

    def __enter__(self) -> RfidReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public API -----------------------------------------------------------------------

    def get_event(self, timeout: float) -> RfidEvent | None:
        """Next event (when no ``on_event`` callback was given), or None after ``timeout``."""
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def firmware_version(self, timeout: float | None = None) -> str:
        """Ask the reader its firmware version now (a round trip; also a liveness probe)."""
        deadline = timeout if timeout is not None else self.command_timeout
        if not self._io_lock.acquire(timeout=deadline):
            raise DeviceTimeout(f"rfid reader busy for {deadline:.2f} s")
        try:
            port = self._require_port()
            frame = self._transact(port, codec.CMD_GET_FIRMWARE_VERSION, b"", deadline)
            self.firmware = codec.parse_firmware_version(frame)
            return self.firmware
        finally:
            self._io_lock.release()

    def set_work_antenna(self, antenna: int) -> None:
        """Select the antenna (0..3) the next inventory rounds use."""
        with self._io_lock:
            port = self._require_port()
            self._transact(port, codec.CMD_SET_WORK_ANTENNA, bytes((antenna,)), self.command_timeout)

    def inventory_once(self) -> list[codec.TagRead]:
        """One real-time inventory round, outside the loop (self-test, benchmarks)."""
        with self._io_lock:
            return self._inventory_round(self._require_port())

    # --- transport --------------------------------------------------------------------------

    def _require_port(self) -> serial.SerialBase:
        if self._port is None:
            self._connect()
        assert self._port is not None
        return self._port

    def _connect(self) -> str:
        self._close_port()
        try:
            port = serial.serial_for_url(
                self.url, baudrate=self.baudrate, timeout=READ_SLICE, write_timeout=self.command_timeout
            )
        except (*PORT_ERRORS, ValueError) as exc:
            raise DeviceUnavailable(f"cannot open rfid port {self.url}: {exc}") from exc
        self._port = port
        self._decoder = codec.FrameDecoder()
        try:
            frame = self._transact(port, codec.CMD_GET_FIRMWARE_VERSION, b"", self.command_timeout)
            self.firmware = codec.parse_firmware_version(frame)
        except (DriverError, codec.CodecError):
            self._close_port()
            raise
        return self.firmware

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(*PORT_ERRORS):  # it is going away anyway
                port.close()

    def _write(self, port: serial.SerialBase, cmd: int, data: bytes) -> None:
        frame = codec.encode_frame(self.address, cmd, data)
        try:
            port.reset_input_buffer()  # a stale answer must not pass for this command's
            port.write(frame)
        except serial.SerialTimeoutException as exc:
            raise DeviceTimeout(f"rfid write of command 0x{cmd:02X} timed out") from exc
        except PORT_ERRORS as exc:
            raise DeviceUnavailable(f"rfid port {self.url} failed on write: {exc}") from exc
        self._decoder = codec.FrameDecoder()

    def _read_frames(self, port: serial.SerialBase, deadline: float) -> list[codec.Frame]:
        """Frames that arrive before ``deadline`` (returns as soon as at least one has)."""
        quiet_since = time.monotonic()
        while True:
            try:
                chunk = port.read(max(1, port.in_waiting))
            except PORT_ERRORS as exc:
                raise DeviceUnavailable(f"rfid port {self.url} failed on read: {exc}") from exc
            now = time.monotonic()
            if chunk:
                quiet_since = now
                frames = self._decoder.feed(chunk)
            elif self._decoder.pending and now - quiet_since >= QUIET_GAP:
                frames = self._decoder.flush()
            else:
                frames = []
            if frames:
                return frames
            if now >= deadline:
                return []

    def _transact(self, port: serial.SerialBase, cmd: int, data: bytes, timeout: float) -> codec.Frame:
        self._write(port, cmd, data)
        deadline = time.monotonic() + timeout
        while True:
            frames = self._read_frames(port, deadline)
            if not frames:
                raise DeviceTimeout(f"rfid reader: no answer to command 0x{cmd:02X} within {timeout:.2f} s")
            for frame in frames:
                if frame.cmd != cmd:
                    continue  # a late answer to something else
                code = codec.error_code(frame)  # a one-byte answer is a status: 0x10 or an error
                if code is not None and code != codec.SUCCESS:
                    raise ReaderError(cmd, code)
                return frame

    def _inventory_round(self, port: serial.SerialBase) -> list[codec.TagRead]:
        self._write(port, codec.CMD_REAL_TIME_INVENTORY, bytes((self.repeat,)))
        deadline = time.monotonic() + self.command_timeout
        reads: list[codec.TagRead] = []
        while True:
            frames = self._read_frames(port, deadline)
            if not frames:
                raise DeviceTimeout(f"rfid inventory round not closed within {self.command_timeout:.2f} s")
            for frame in frames:
                if frame.cmd != codec.CMD_REAL_TIME_INVENTORY:
                    continue
                try:
                    item = codec.parse_inventory(frame)
                except codec.CodecError as exc:
                    raise ProtocolError(f"rfid inventory answer malformed: {exc}") from exc
                if isinstance(item, codec.TagRead):
                    reads.append(item)
                elif isinstance(item, codec.InventorySummary):
                    return reads
                else:
                    raise ReaderError(codec.CMD_REAL_TIME_INVENTORY, item)

    # --- the loop -----------------------------------------------------------------------------

    def _emit(self, event: RfidEvent) -> None:
        if self._on_event is None:
            self._events.put(event)
            return
        try:
            self._on_event(event)
        except Exception:  # the listener's bug must not stop the reader
            log.exception("rfid event listener failed on %r", event)

    def _wait(self, delay: float) -> None:
        self._stop.wait(delay)

    def _fail(self, reason: str) -> None:
        with self._io_lock:
            self._close_port()
        self.availability.set_unavailable(reason)
        self._wait(self.backoff.next())

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                with self._io_lock:
                    if self._port is None:
                        self._connect()
                        log.debug("rfid reader %s firmware %s", self.url, self.firmware)
                    reads = self._inventory_round(self._require_port())
                    self.rounds += 1
            except DeviceUnavailable as exc:
                self._fail(str(exc))
            except DriverError as exc:
                failures += 1
                if failures >= self.fail_after:
                    self._fail(str(exc))  # reopening also re-runs the hello handshake
            except Exception as exc:  # a bug here must not end the loop silently
                log.exception("rfid inventory loop error")
                self._fail(f"internal error: {exc!r}")
            else:
                failures = 0
                self.backoff.reset()
                self.availability.set_available()
                now = self._clock()
                for read in reads:
                    seen = self.presence.read(read.epc.hex().upper(), read.antenna, read.rssi_dbm, now)
                    if seen is not None:
                        self._emit(seen)
            for gone in self.presence.expire(self._clock()):
                self._emit(gone)


__all__ = ["ReaderError", "RfidReader", "TagGone"]
