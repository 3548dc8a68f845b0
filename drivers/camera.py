"""The lane's plate camera: a reader thread that keeps only the newest frame, and reconnects.

Sources, chosen from the configured URL:

- ``http://`` / ``https://``: an IP camera's MJPEG stream (``multipart/x-mixed-replace``),
  parsed here over a socket (see "Why not VideoCapture for HTTP" below);
- ``rtsp://``, ``rtsps://``, ``rtmp://``, or ``ffmpeg+http(s)://``: OpenCV ``VideoCapture``
  through FFmpeg, with its open and read timeouts;
- a folder of images or a single image file: replayed in name order at ``fps``, looping;
- a video file: replayed at its own frame rate (``fps`` if it has none), looping;
- a device index (``"0"``) or ``/dev/videoN``: ``VideoCapture`` on the local camera.

Each frame carries the driver's sequence number and the monotonic time the driver held it
(``Frame.seq``, ``Frame.captured_at``), so a consumer tells fresh from stale; ``latest()``
returns None once the newest frame is older than ``stale_after``. Frames from a camera
that stamps ``X-Frame-Seq`` / ``X-Frame-Time`` part headers (our simulator does) also carry
those, which gives the publish-to-held latency and counts frames lost on the way.

Bounding every wait. Three layers, because a stalled network stream is the classic way a
camera reader hangs (FFmpeg's internal interrupt timeout is about 30 s):

1. every socket operation has a timeout (``open_timeout`` to connect and read the HTTP
   head, ``read_timeout`` for each read after that), and VideoCapture gets
   ``CAP_PROP_OPEN_TIMEOUT_MSEC`` / ``CAP_PROP_READ_TIMEOUT_MSEC``;
2. a watchdog thread marks the camera unavailable as soon as no frame has arrived for
   ``stale_after`` seconds (which is shorter than the read timeout: the lane learns of a
   stall before the reader gives up on the connection);
3. the watchdog also aborts a read or open that outlives its timeout by ``ABORT_GRACE_S``
   (a slow drip of bytes defeats a per-recv timeout): it shuts the socket down, which
   unblocks the reader at once. A VideoCapture cannot be interrupted from another thread,
   so a reader stuck in one is abandoned and a fresh reader thread takes over (at most
   ``MAX_ABANDONED`` such threads exist at once, then the driver waits).

Reconnection waits a ``Backoff`` that doubles to ``backoff_cap`` and resets on the first
frame; availability is logged once when lost and once when back (``drivers.base``).

Why not VideoCapture for HTTP. Measured on this OpenCV 5.0 / FFmpeg 62 build against
``simulators.camera_stream``: with the timeout properties FFmpeg *is* bounded (a stall
fails the read after read_timeout, a silent server fails the open after open_timeout),
so both backends are usable and ``ffmpeg+http://`` selects FFmpeg. The parser here is
the default for HTTP because it reads the per-frame sequence and time headers (FFmpeg
drops them), it can be aborted from the watchdog by closing its socket, it sends HTTP
basic credentials without putting them in FFmpeg's logs, and it needs no probe before the
first frame. ``simulators.camera_bench.bench_camera`` measures both in one run; on the
2-core development machine (25 fps, 640x480, simulator in its own process) publish-to-held
latency was p50 1.3-1.4 ms / p99 6-7.5 ms here against 1.4-1.6 / 6.5-8.6 ms through
FFmpeg in three quiet runs, at under 4 % of one core for either; in one run on a busy
machine FFmpeg's p99 reached 77 ms with 9 frames lost while this parser stayed at 7 ms.
With default settings a stall was noticed 1.0 s after the last frame, frames were back
within a frame of the stream resuming (also after a 9 s stall), and 0.2 s (the first
backoff step) after a dropped connection.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol, cast
from urllib.parse import unquote, urlsplit, urlunsplit

import cv2
import numpy as np

from drivers.base import (
    Availability,
    AvailabilityListener,
    Backoff,
    DeviceTimeout,
    DeviceUnavailable,
    DriverError,
    ProtocolError,
)

__all__ = ["CameraSettings", "CameraStats", "Frame", "PlateCamera", "open_source", "redact_url"]

log = logging.getLogger("drivers.camera")

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff"})
MAX_HEADER_LINE = 8192
MAX_HEADER_LINES = 64
MAX_FRAME_BYTES = 16 * 1024 * 1024
# Bytes between parts we skip while looking for a boundary before calling the stream broken.
MAX_PREAMBLE_BYTES = 64 * 1024
# A read that outlives its own timeout by this much is aborted by the watchdog.
ABORT_GRACE_S = 0.5
# Readers stuck in a VideoCapture call that we left behind; beyond this we stop replacing them.
MAX_ABANDONED = 2
# Undecodable frames in a row after which the connection is treated as broken.
MAX_BAD_FRAMES = 3


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int  # driver's own count, 1, 2, ... over the driver's life (across reconnects)
    captured_at: float  # time.monotonic() when the driver held the decoded frame
    image: np.ndarray  # BGR uint8
    source_seq: int | None = None  # the camera's X-Frame-Seq, when it sends one
    source_time: float | None = None  # the camera's X-Frame-Time (monotonic, same host only)

    @property
    def latency(self) -> float | None:
        """Seconds from the camera publishing this frame to the driver holding it."""
        return None if self.source_time is None else self.captured_at - self.source_time


@dataclass(frozen=True, slots=True)
class CameraSettings:
    """The ``[devices.camera]`` table of the kiosk's configuration; times in seconds."""

    url: str
    open_timeout: float = 3.0
    read_timeout: float = 2.0
    stale_after: float = 1.0
    backoff_initial: float = 0.2
    backoff_cap: float = 5.0
    fps: float = 10.0  # replay rate for folders and files without one


@dataclass(slots=True)
class CameraStats:
    frames: int = 0
    bad_frames: int = 0  # parts that did not decode as an image
    lost_frames: int = 0  # gaps in the camera's X-Frame-Seq
    connects: int = 0  # successful opens
    failures: int = 0  # opens or streams that failed
    aborted_reads: int = 0  # reads the watchdog cut short
    last_error: str = ""


@dataclass(slots=True)
class _Raw:
    image: np.ndarray
    source_seq: int | None = None
    source_time: float | None = None


def redact_url(url: str) -> str:
    """The URL without its password, for logs and reasons."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _header_int(text: str | None) -> int | None:
    """An optional numeric header; a malformed one is ignored (it is only a diagnostic)."""
    return int(text) if text is not None and text.strip().isdigit() else None


def _header_float(text: str | None) -> float | None:
    try:
        return None if text is None else float(text)
    except ValueError:
        return None


class _Source(Protocol):
    def open(self) -> None: ...
    def read(self) -> _Raw: ...
    def abort(self) -> None: ...
    def close(self) -> None: ...


class MjpegHttpSource:
    """An MJPEG-over-HTTP stream read with plain sockets; every blocking call has a timeout."""

    def __init__(self, url: str, open_timeout: float, read_timeout: float) -> None:
        self.url = url
        self._parts = urlsplit(url)
        if self._parts.scheme not in ("http", "https") or not self._parts.hostname:
            raise ValueError(f"camera url: expected http(s)://host[:port]/path (got {redact_url(url)!r})")
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._sock: socket.socket | None = None
        self._reader: BinaryIO | None = None
        self._boundary = b""
        self._at_part_head = False

    def open(self) -> None:
        parts = self._parts
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            sock = socket.create_connection((host, port), timeout=self._open_timeout)
            if parts.scheme == "https":
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            self._sock = sock
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: {host}:{port}",
                "User-Agent: rocars-kiosk",
                "Accept: multipart/x-mixed-replace, */*",
                "Connection: close",
            ]
            if parts.username is not None:
                cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
                lines.append("Authorization: Basic " + base64.b64encode(cred).decode("ascii"))
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self._reader = cast(BinaryIO, sock.makefile("rb", buffering=65536))
            status = self._line()
            fields = status.split(None, 2)
            if len(fields) < 2 or not fields[0].startswith(b"HTTP/"):
                raise ProtocolError(f"camera answered {status[:60]!r}, not HTTP")
            if fields[1] != b"200":
                raise DeviceUnavailable(f"camera answered HTTP {fields[1].decode('latin-1')}")
            headers = self._headers()
        except TimeoutError as exc:
            raise DeviceTimeout(f"camera did not answer within {self._open_timeout:g} s") from exc
        except OSError as exc:
            raise DeviceUnavailable(f"cannot reach camera: {exc.strerror or exc}") from exc
        ctype = headers.get("content-type", "")
        if not ctype.lower().startswith("multipart/"):
            raise ProtocolError(f"camera sent Content-Type {ctype!r}, not a multipart MJPEG stream")
        boundary = next(
            (
                p.split("=", 1)[1].strip().strip('"')
                for p in ctype.split(";")[1:]
                if p.strip().lower().startswith("boundary=")
            ),
            "",
        )
        if not boundary:
            raise ProtocolError("camera's multipart Content-Type names no boundary")
        # Compared without leading dashes: cameras disagree on whether the declared
        # boundary already carries the "--" that RFC 2046 puts in front of it.
        self._boundary = boundary.encode("latin-1").lstrip(b"-")
        if self._sock is not None:
            self._sock.settimeout(self._read_timeout)

    def _line(self) -> bytes:
        assert self._reader is not None
        line = self._reader.readline(MAX_HEADER_LINE + 1)
        if not line:
            raise DeviceUnavailable("camera closed the stream")
        if len(line) > MAX_HEADER_LINE:
            raise ProtocolError(f"camera sent a header line over {MAX_HEADER_LINE} bytes")
        return line.rstrip(b"\r\n")

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            line = self._line()
            if not line:
                return headers
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        raise ProtocolError(f"camera sent more than {MAX_HEADER_LINES} header lines")

    def read(self) -> _Raw:
        assert self._reader is not None
        try:
            if not self._at_part_head:
                self._skip_to_boundary()
            self._at_part_head = False
            headers = self._headers()
            length = headers.get("content-length")
            if length is not None:
                if not length.isdigit() or int(length) > MAX_FRAME_BYTES:
                    raise ProtocolError(f"camera sent Content-Length {length[:20]!r}")
                data = self._reader.read(int(length))
                if len(data) < int(length):
                    raise DeviceUnavailable("camera closed the stream inside a frame")
            else:
                data = self._read_to_boundary()
        except TimeoutError as exc:
            raise DeviceTimeout(f"no data from camera for {self._read_timeout:g} s") from exc
        except (OSError, ValueError) as exc:  # ValueError: reading a file the watchdog closed
            raise DeviceUnavailable(f"camera stream broke: {exc}") from exc
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise ProtocolError(f"camera frame of {len(data)} bytes is not a decodable image")
        seq, stamp = headers.get("x-frame-seq"), headers.get("x-frame-time")
        return _Raw(image, _header_int(seq), _header_float(stamp))

    def _is_boundary(self, line: bytes) -> bool:
        bare = line.strip().lstrip(b"-")
        if bare == self._boundary + b"--":
            raise DeviceUnavailable("camera ended the stream")
        return bare == self._boundary

    def _skip_to_boundary(self) -> None:
        skipped = 0
        while skipped <= MAX_PREAMBLE_BYTES:
            line = self._line()
            if self._is_boundary(line):
                return
            skipped += len(line) + 2
        raise ProtocolError(f"no multipart boundary in {MAX_PREAMBLE_BYTES} bytes of camera stream")

    def _read_to_boundary(self) -> bytes:
        """A part without Content-Length runs until the next boundary line."""
        assert self._reader is not None
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_FRAME_BYTES:
            line = self._reader.readline(MAX_FRAME_BYTES)
            if not line:
                raise DeviceUnavailable("camera closed the stream inside a frame")
            if line.startswith(b"--") and self._is_boundary(line):
                self._at_part_head = True
                data = b"".join(chunks)
                return data[:-2] if data.endswith(b"\r\n") else data
            chunks.append(line)
            size += len(line)
        raise ProtocolError(f"camera frame over {MAX_FRAME_BYTES} bytes")

    def abort(self) -> None:
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.abort()
        for closable in (self._reader, self._sock):
            if closable is not None:
                with contextlib.suppress(OSError):
                    closable.close()
        self._reader = None
        self._sock = None


class CaptureSource:
    """OpenCV VideoCapture: RTSP and other FFmpeg URLs, video files (looped) and local cameras."""

    def __init__(self, target: str | int, open_timeout: float, read_timeout: float, fps: float) -> None:
        self.target = target
        self._open_timeout = open_timeout
        self._read_timeout = read_timeout
        self._file = isinstance(target, str) and Path(target).is_file()
        self._fps = fps
        self._cap: cv2.VideoCapture | None = None
        self._next_at = 0.0
        self._bad = 0

    def open(self) -> None:
        if isinstance(self.target, str) and self.target.startswith("rtsp://"):
            # RTSP over UDP loses packets (smeared frames) and rarely crosses NAT or firewalls;
            # interleaved TCP is what lane networks carry. Only a default: the variable wins.
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(self._open_timeout * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(self._read_timeout * 1000),
        ]
        api = cv2.CAP_ANY if isinstance(self.target, int) else cv2.CAP_FFMPEG
        try:
            cap = cv2.VideoCapture(self.target, api, params)
        except cv2.error as exc:
            raise DeviceUnavailable(f"cannot open camera: {exc}") from exc
        if not cap.isOpened():
            cap.release()
            raise DeviceUnavailable(f"cannot open camera {redact_url(str(self.target))}")
        self._cap = cap
        if self._file:
            self._fps = cap.get(cv2.CAP_PROP_FPS) or self._fps
        self._next_at = time.monotonic()

    def read(self) -> _Raw:
        assert self._cap is not None
        if self._file:  # replay at the recorded rate, as the camera would have sent it
            self._next_at += 1.0 / self._fps
            time.sleep(max(0.0, self._next_at - time.monotonic()))
        ok, image = self._cap.read()
        if not ok and self._file:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = self._cap.read()
        if ok:
            self._bad = 0
            return _Raw(image)
        # FFmpeg fails one read for a corrupt frame and every read after a timeout or a drop.
        self._bad += 1
        if self._bad >= MAX_BAD_FRAMES:
            raise DeviceUnavailable(f"camera stream failed {self._bad} reads in a row")
        raise ProtocolError("camera frame did not decode")

    def abort(self) -> None:
        """A VideoCapture cannot be interrupted from another thread; the watchdog abandons it."""

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class FolderSource:
    """Still images replayed in name order at a fixed rate, looping (for replays and tests)."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self._fps = fps
        self._files: list[Path] = []
        self._index = 0
        self._next_at = 0.0

    def open(self) -> None:
        if self.path.is_dir():
            self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif self.path.is_file():
            self._files = [self.path]
        if not self._files:
            raise DeviceUnavailable(f"no images in {self.path}")
        self._next_at = time.monotonic()

    def read(self) -> _Raw:
        self._next_at += 1.0 / self._fps
        time.sleep(max(0.0, self._next_at - time.monotonic()))
        path = self._files[self._index % len(self._files)]
        self._index += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ProtocolError(f"{path.name} is not a readable image")
        return _Raw(image)

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_source(settings: CameraSettings) -> _Source:
    """The frame source the configured URL names (not yet opened)."""
    url = settings.url.strip()
    open_t, read_t = settings.open_timeout, settings.read_timeout
    scheme = urlsplit(url).scheme.lower()
    if url.isdigit():
        return CaptureSource(int(url), open_t, read_t, settings.fps)
    if scheme in ("http", "https"):
        return MjpegHttpSource(url, open_t, read_t)
    if scheme.startswith("ffmpeg+"):
        return CaptureSource(url.removeprefix("ffmpeg+"), open_t, read_t, settings.fps)
    if scheme in ("rtsp", "rtsps", "rtmp", "udp", "tcp"):
        return CaptureSource(url, open_t, read_t, settings.fps)
    path = Path(unquote(urlsplit(url).path) if scheme == "file" else url)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return FolderSource(path, settings.fps)
    return CaptureSource(str(path), open_t, read_t, settings.fps)


@dataclass
class _Reader:
    """One reader thread's view of its current call, for the watchdog."""

    generation: int
    source: _Source | None = None
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
        source_factory: Callable[[CameraSettings], _Source] = open_source,
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

    def _run(self, reader: _Reader, source: _Source) -> None:
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

    def _publish(self, raw: _Raw) -> None:
        now = time.monotonic()
        if raw.source_seq is not None:
            if self._last_source_seq is not None and raw.source_seq > self._last_source_seq + 1:
                self.stats.lost_frames += raw.source_seq - self._last_source_seq - 1
            self._last_source_seq = raw.source_seq
        with self._cond:
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
        self.availability.set_unavailable("closed")

    def __enter__(self) -> PlateCamera:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
