"""The plate camera driver: a reader thread that keeps only the newest frame, and a watchdog.

Each frame carries the driver's sequence number and the monotonic time the driver held it
(``Frame.seq``, ``Frame.captured_at``), so a consumer tells fresh from stale; ``latest()``
returns None once the newest frame is older than ``stale_after``.

Bounding every wait. Three layers, because a stalled network stream is the classic way a
camera reader hangs (FFmpeg's internal interrupt timeout is about 30 s):

1. every source call has a timeout (``open_timeout`` for the open, ``read_timeout`` for
   each read after that; VideoCapture gets ``CAP_PROP_OPEN/READ_TIMEOUT_MSEC``);
2. the watchdog thread marks the camera unavailable as soon as no frame has arrived for
   ``stale_after`` seconds (shorter than the read timeout: the lane learns of a stall
   before the reader gives up on the connection);
3. the watchdog also aborts a read or open that outlives its timeout by ``ABORT_GRACE_S``
   (a slow drip of bytes defeats a per-recv timeout) through ``FrameSource.abort()``. A
   VideoCapture cannot be interrupted from another thread, so a reader stuck in one is
   abandoned and a fresh reader thread takes over (at most ``MAX_ABANDONED`` such threads
   exist at once, then the driver waits).

Reconnection waits a ``Backoff`` that doubles to ``backoff_cap`` and resets on the first
frame; availability is logged once when lost and once when back (``drivers.base``), and
``close()`` marks the camera closed, which is logged as information, not as a fault.
With default settings a stall was noticed 1.0 s after the last frame, frames were back
within a frame of the stream resuming (also after a 9 s stall), and 0.2 s (the first
backoff step) after a dropped connection.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.base import (
    Availability,
    AvailabilityListener,
    Backoff,
    DeviceTimeout,
    DeviceUnavailable,
    DriverError,
    ProtocolError,
)
from drivers.camera.settings import MAX_BAD_FRAMES, CameraSettings, CameraStats, Frame, RawFrame
from drivers.camera.sources import FrameSource, open_source

__all__ = ["ABORT_GRACE_S", "MAX_ABANDONED", "PlateCamera"]

# One logger for the whole package: operators filter on "drivers.camera".
log = logging.getLogger("drivers.camera")

# A read that outlives its own timeout by this much is aborted by the watchdog.
ABORT_GRACE_S = 0.5
# Readers stuck in a VideoCapture call that we left behind; beyond this we stop replacing them.
MAX_ABANDONED = 2


@dataclass
class _Reader:
    """One reader thread's view of its current call, for the watchdog."""

    generation: int
    source: FrameSource | None = None
    busy_since: float | None = None  # start of the current open/read, None between calls
    limit: float = 0.0  # how long that call may take
    aborted_call: float | None = None  # busy_since of the call the watchdog already aborted
    thread: threading.Thread | None = field(default=None, repr=False)


class PlateCamera:
    """Frames from one camera: the newest one, fresh or not at all."""

    def __init__(
        self,
        settings: CameraSettings,
        *,
        name: str = "camera",
        listener: AvailabilityListener | None = None,
        source_factory: Callable[[CameraSettings], FrameSource] = open_source,
    ) -> None:
        for key in ("open_timeout", "read_timeout", "stale_after", "backoff_initial", "fps"):
            if not getattr(settings, key) > 0:
                raise ValueError(f"camera {key}: must be > 0 (got {getattr(settings, key)})")
        self.settings = settings
        self.availability = Availability(name, logger=log, listener=listener)
        self.stats = CameraStats()
        self._make_source = source_factory
        self._backoff = Backoff(settings.backoff_initial, max(settings.backoff_cap, settings.backoff_initial))
        self._cond = threading.Condition()
        self._latest: Frame | None = None
        self._seq = 0
        self._last_source_seq: int | None = None
        self._closed = threading.Event()
        self._reader: _Reader | None = None
        self._abandoned: list[threading.Thread] = []
        self._started = False
        self._watchdog = threading.Thread(target=self._watch, name=f"{name}-watchdog", daemon=True)

    def start(self) -> PlateCamera:
        """Start reading in the background; returns at once (frames follow when they come)."""
        if not self._started:
            self._started = True
            self._spawn_reader()
            self._watchdog.start()
        return self

    # --- consumers -------------------------------------------------------------------

    def latest(self, max_age: float | None = None) -> Frame | None:
        """The newest frame if it is at most ``max_age`` (default ``stale_after``) old."""
        limit = self.settings.stale_after if max_age is None else max_age
        frame = self._latest
        if frame is None or time.monotonic() - frame.captured_at > limit:
            return None
        return frame

    def wait_frame(self, after_seq: int = 0, timeout: float = 1.0) -> Frame:
        """The first frame newer than ``after_seq``; ``DeviceTimeout`` if none comes in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed.is_set():
                    raise DeviceUnavailable("camera is closed")
                if self._latest is not None and self._latest.seq > after_seq:
                    return self._latest
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    reason = self.availability.reason or "no new frame"
                    raise DeviceTimeout(f"no camera frame within {timeout:g} s ({reason})")
                self._cond.wait(remaining)

    @property
    def available(self) -> bool:
        return self.availability.available

    # --- reader ----------------------------------------------------------------------

    def _spawn_reader(self) -> None:
        generation = (self._reader.generation + 1) if self._reader else 1
        reader = _Reader(generation)
        reader.thread = threading.Thread(
            target=self._read_loop,
            args=(reader,),
            name=f"{self.availability.name}-reader-{generation}",
            daemon=True,
        )
        self._reader = reader
        reader.thread.start()

    def _current(self, reader: _Reader) -> bool:
        return not self._closed.is_set() and self._reader is reader

    def _read_loop(self, reader: _Reader) -> None:
        settings = self.settings
        while self._current(reader):
            reason = ""
            try:
                source = self._make_source(settings)
            except ValueError as exc:  # a bad URL will not get better: say so and keep waiting
                source, reason = None, str(exc)
            if source is not None:
                reader.source = source
                try:
                    self._run(reader, source)
                except DriverError as exc:
                    reason = str(exc)
                except Exception as exc:  # cv2.error, a file closed under us...: the thread must live on
                    log.debug("camera reader error", exc_info=True)
                    reason = f"camera error: {exc!r}"
                finally:
                    reader.busy_since = None
                    source.close()
            if not self._current(reader):
                break
            self.stats.failures += 1
            self.stats.last_error = reason
            self.availability.set_unavailable(reason)
            delay = self._backoff.next()
            log.debug("camera reconnect in %.2f s: %s", delay, reason)
            self._closed.wait(delay)

    def _run(self, reader: _Reader, source: FrameSource) -> None:
        settings = self.settings
        reader.limit = settings.open_timeout
        reader.busy_since = time.monotonic()
        source.open()
        self.stats.connects += 1
        self._last_source_seq = None
        bad = 0
        reader.limit = settings.read_timeout
        while self._current(reader):
            reader.busy_since = time.monotonic()
            try:
                raw = source.read()
            except ProtocolError as exc:
                self.stats.bad_frames += 1
                bad += 1
                if bad >= MAX_BAD_FRAMES:
                    raise
                log.debug("camera frame skipped: %s", exc)
                continue
            reader.busy_since = None
            bad = 0
            if self._current(reader):
                self._publish(raw)

    def _publish(self, raw: RawFrame) -> None:
        now = time.monotonic()
        if raw.source_seq is not None:
            if self._last_source_seq is not None and raw.source_seq > self._last_source_seq + 1:
                self.stats.lost_frames += raw.source_seq - self._last_source_seq - 1
            self._last_source_seq = raw.source_seq
        with self._cond:
            if self._closed.is_set():  # a reader that outlived close()'s join: drop its frame
                return
            self._seq += 1
            raw.image.flags.writeable = False  # one frame, many readers: none may draw on it
            self._latest = Frame(self._seq, now, raw.image, raw.source_seq, raw.source_time)
            self._cond.notify_all()
        self.stats.frames += 1
        self._backoff.reset()
        self.availability.set_available()

    # --- watchdog --------------------------------------------------------------------

    def _watch(self) -> None:
        tick = min(0.05, self.settings.stale_after / 4)
        while not self._closed.wait(tick):
            now = time.monotonic()
            frame = self._latest
            if self.availability.available and (
                frame is None or now - frame.captured_at > self.settings.stale_after
            ):
                self.availability.set_unavailable(f"no frame for {self.settings.stale_after:g} s")
            reader = self._reader
            busy = reader.busy_since if reader else None
            if reader is None or busy is None:
                continue
            overdue = now - busy - reader.limit
            if overdue <= ABORT_GRACE_S:
                continue
            if reader.aborted_call != busy:  # first try: close the source under the reader
                reader.aborted_call = busy
                self.stats.aborted_reads += 1
                if reader.source is not None:
                    reader.source.abort()
                continue
            if overdue <= 2 * ABORT_GRACE_S:
                continue
            self._abandoned = [t for t in self._abandoned if t.is_alive()]
            if len(self._abandoned) >= MAX_ABANDONED:
                continue
            log.warning("camera reader stuck for %.1f s in one call; starting a new reader", now - busy)
            if reader.thread is not None:
                self._abandoned.append(reader.thread)
            self.availability.set_unavailable("camera reader stuck")
            self._spawn_reader()

    # --- shutdown --------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading and release the camera; safe to call twice."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        reader = self._reader
        if reader is not None:
            if reader.source is not None:
                reader.source.abort()
            if reader.thread is not None and reader.thread is not threading.current_thread():
                reader.thread.join(timeout=self.settings.read_timeout + 1.0)
        if self._watchdog.is_alive():
            self._watchdog.join(timeout=1.0)
        self.availability.set_closed()

    def __enter__(self) -> PlateCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
