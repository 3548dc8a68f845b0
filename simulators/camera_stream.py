"""The lane's plate camera as an HTTP MJPEG stream on loopback, with faults on demand.

``MjpegCameraServer`` serves ``multipart/x-mixed-replace`` at ``/stream.mjpg`` the way
IP cameras do, and ``/snapshot.jpg`` for a single frame. Each part carries, besides
``Content-Type`` and ``Content-Length``, two headers of our own::

    X-Frame-Seq: 42                  publisher's frame sequence number (1, 2, ...)
    X-Frame-Time: 12345.678901       time.monotonic() when the frame was published

``CLOCK_MONOTONIC`` is system-wide on Linux, so a driver in another process on the same
host can subtract it from its own ``time.monotonic()`` to get the publish-to-held latency
(``bench_camera`` does exactly that). Real cameras send neither header; the driver
treats both as optional.

Scene: ``show_vehicle(plate, style)`` renders a few variants of the vehicle's plate once
with ``simulators.plates`` (the renderer the recognition tests score against: blur, noise,
perspective, lighting, yellow rear or white front, single or two rows) and the publisher
cycles them, so the recognition side sees
several slightly different frames per vehicle as it would from a real camera. ``clear()``
shows an empty lane.

Faults:

- ``stall(seconds)``: the camera keeps its connections open but publishes nothing (a
  hung encoder or a congested link). ``resume()`` ends it early.
- ``drop_connections(refuse_for=0)``: every open stream is cut (TCP shutdown); for
  ``refuse_for`` seconds new requests get ``503`` (a camera rebooting).
- ``corrupt_next(n)``: the next ``n`` frames are sent as bytes that are not a JPEG.

The server runs on threads of its own; ``close()`` is safe to call twice.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hmac
import json
import logging
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from simulators.plates import FRAME_SIZE, LEVELS, render_frame

log = logging.getLogger("simulators.camera")

BOUNDARY = "rocarsframe"
STREAM_PATH = "/stream.mjpg"
SNAPSHOT_PATH = "/snapshot.jpg"
PUBLISHED_PATH = "/published.json"
# How long a client's socket may refuse our writes before we give up on it.
CLIENT_SEND_TIMEOUT_S = 5.0
# How many recent frames keep their publish time and bytes for latency and content checks.
HISTORY = 512
# Renderer levels a vehicle can be shown at ("none" is the empty lane, see clear()).
STAMP_BITS = 24
STAMP_BLOCK = 8  # pixels: one JPEG block per bit
PLATE_STYLES = tuple(level for level in LEVELS if level != "none")


def stamp(image: np.ndarray, seq: int) -> np.ndarray:
    """A copy of the frame with ``seq`` drawn as black/white blocks along its top-left edge.

    Aligned to JPEG's 8x8 grid, the code survives compression, so a reader that sees
    only pixels (OpenCV/FFmpeg drops the part headers) can still tell which frame it got.
    """
    out = image.copy()
    for bit in range(STAMP_BITS):
        level = 255 if (seq >> bit) & 1 else 0
        out[0:STAMP_BLOCK, bit * STAMP_BLOCK : (bit + 1) * STAMP_BLOCK] = level
    return out


def read_stamp(image: np.ndarray) -> int:
    """The sequence number ``stamp()`` drew on a (decoded) frame."""
    strip = image[0:STAMP_BLOCK, 0 : STAMP_BITS * STAMP_BLOCK].reshape(
        STAMP_BLOCK, STAMP_BITS, STAMP_BLOCK, -1
    )
    bits = strip.mean(axis=(0, 2, 3)) > 127
    return sum(1 << i for i, on in enumerate(bits) if on)


@dataclass(frozen=True, slots=True)
class PublishedFrame:
    seq: int
    published_at: float  # time.monotonic() at publication
    jpeg: bytes
    scene: int  # increments with each show_vehicle()/clear()


def _render(plate: str | None, level: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    image = render_frame(plate, rng=rng, level=level)
    if image.shape[1] != width or image.shape[0] != height:
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # http.server logs to stderr otherwise
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        camera = self.server.camera
        camera.note_request()
        if not camera.authorised(self.headers.get("Authorization")):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="camera"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if camera.refusing():
            self.send_error(503, "camera restarting")
            return
        if self.path.split("?")[0] == SNAPSHOT_PATH:
            frame = camera.wait_frame_after(0, timeout=2.0)
            if frame is None:
                self.send_error(503, "no frame")
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(frame.jpeg)))
            self.end_headers()
            self.wfile.write(frame.jpeg)
            return
        if self.path.split("?")[0] == PUBLISHED_PATH:  # publish times, for latency benchmarks
            body = json.dumps(camera.publish_times()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.split("?")[0] != STREAM_PATH:
            self.send_error(404, "not found")
            return
        self.connection.settimeout(CLIENT_SEND_TIMEOUT_S)
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        with camera.track(self.connection):
            camera.stream_to(self.wfile)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], camera: MjpegCameraServer) -> None:
        self.camera = camera
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("camera client %s went away", client_address, exc_info=True)


class MjpegCameraServer:
    """An IP plate camera on loopback. Starts serving on construction."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        fps: float = 10.0,
        *,
        width: int = FRAME_SIZE[0],
        height: int = FRAME_SIZE[1],
        jpeg_quality: int = 85,
        variants: int = 5,
        seed: int = 0,
        credentials: tuple[str, str] | None = None,
        stamp_frames: bool = False,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0 (got {fps})")
        self.fps = fps
        self.width = width
        self.height = height
        self._quality = jpeg_quality
        self._variants = max(1, variants)
        self._rng = np.random.default_rng(seed)
        self._cond = threading.Condition()
        self._history: OrderedDict[int, PublishedFrame] = OrderedDict()
        self._latest: PublishedFrame | None = None
        self._scene_jpegs: list[bytes] = []
        self._scene_images: list[np.ndarray] = []
        self._stamp = stamp_frames
        self._scene = 0
        self._stalled_until = 0.0
        self._refuse_until = 0.0
        self._corrupt = 0
        self._auth = (
            "Basic " + base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode("ascii")
            if credentials
            else None
        )
        self.request_times: deque[float] = deque(maxlen=HISTORY)  # monotonic time of each request
        self._closed = threading.Event()
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        self.clear()
        self._http = _HttpServer((host, port), self)
        address = self._http.server_address
        self.host: str = str(address[0])
        self.port: int = int(address[1])
        self._serve_thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.1}, name="camera-http", daemon=True
        )
        self._publish_thread = threading.Thread(target=self._publish_loop, name="camera-publish", daemon=True)
        self._serve_thread.start()
        self._publish_thread.start()

    # --- scene -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{STREAM_PATH}"

    @property
    def snapshot_url(self) -> str:
        return f"http://{self.host}:{self.port}{SNAPSHOT_PATH}"

    def show_vehicle(self, plate: str, style: str = "normal") -> int:
        """Show a vehicle with this plate; returns the first sequence number that shows it.

        ``style`` is a renderer level: ``normal``, ``hard`` (small, blurred, skewed, night)
        or ``two_row`` (goods vehicles' two-row rear plate). Front (white) or rear (yellow)
        is the renderer's seeded choice.
        """
        if style not in PLATE_STYLES:
            raise ValueError(f"style: must be one of {', '.join(PLATE_STYLES)} (got {style!r})")
        if not plate.strip():
            raise ValueError("plate: must not be empty (use clear() for an empty lane)")
        return self._set_scene(plate, style)

    def clear(self) -> int:
        """Show the empty lane; returns the first sequence number that shows it."""
        return self._set_scene(None, "none")

    def _set_scene(self, plate: str | None, level: str) -> int:
        images = [_render(plate, level, self._rng, self.width, self.height) for _ in range(self._variants)]
        jpegs = [self._encode(image) for image in images]
        with self._cond:
            self._scene_jpegs = jpegs
            self._scene_images = images
            self._scene += 1
            return (self._latest.seq if self._latest else 0) + 1

    def _encode(self, image: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return buf.tobytes()

    # --- faults ----------------------------------------------------------------------

    def stall(self, seconds: float) -> None:
        """Publish nothing for ``seconds`` while keeping connections open."""
        with self._cond:
            self._stalled_until = time.monotonic() + seconds

    def resume(self) -> None:
        with self._cond:
            self._stalled_until = 0.0

    def drop_connections(self, refuse_for: float = 0.0) -> int:
        """Cut every open stream; answer 503 to new requests for ``refuse_for`` seconds."""
        with self._cond:
            self._refuse_until = time.monotonic() + refuse_for
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        with self._cond:
            self._cond.notify_all()
        return len(conns)

    def corrupt_next(self, n: int = 1) -> None:
        """Send the next ``n`` frames as bytes that do not decode as a JPEG."""
        with self._cond:
            self._corrupt += n

    def authorised(self, header: str | None) -> bool:
        return self._auth is None or (header is not None and hmac.compare_digest(header, self._auth))

    def note_request(self) -> None:
        self.request_times.append(time.monotonic())

    def refusing(self) -> bool:
        return time.monotonic() < self._refuse_until

    # --- what was published ----------------------------------------------------------

    def published(self, seq: int) -> PublishedFrame | None:
        """A recently published frame (the last ``HISTORY``), for latency and content checks."""
        with self._cond:
            return self._history.get(seq)

    def publish_times(self) -> dict[int, float]:
        """Publish time of each recent sequence number."""
        with self._cond:
            return {seq: frame.published_at for seq, frame in self._history.items()}

    @property
    def last_seq(self) -> int:
        with self._cond:
            return self._latest.seq if self._latest else 0

    @property
    def client_count(self) -> int:
        with self._conn_lock:
            return len(self._connections)

    def wait_frame_after(self, seq: int, timeout: float) -> PublishedFrame | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed.is_set():
                if self._latest is not None and self._latest.seq > seq:
                    return self._latest
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
        return None

    # --- serving ---------------------------------------------------------------------

    def _publish_loop(self) -> None:
        period = 1.0 / self.fps
        next_at = time.monotonic()
        seq = 0
        while not self._closed.is_set():
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                self._closed.wait(delay)
            else:
                next_at = time.monotonic()  # fell behind: do not burst to catch up
            with self._cond:
                if time.monotonic() < self._stalled_until:
                    continue
                seq += 1
                variant = seq % len(self._scene_jpegs)
                jpeg, image, scene = self._scene_jpegs[variant], self._scene_images[variant], self._scene
                corrupt = self._corrupt > 0
                self._corrupt -= corrupt
            if corrupt:
                jpeg = b"\x00NOT-A-JPEG" * 64
            elif self._stamp:
                jpeg = self._encode(stamp(image, seq))
            with self._cond:
                frame = PublishedFrame(seq, time.monotonic(), jpeg, scene)
                self._latest = frame
                self._history[seq] = frame
                while len(self._history) > HISTORY:
                    self._history.popitem(last=False)
                self._cond.notify_all()

    @contextlib.contextmanager
    def track(self, conn: socket.socket) -> Iterator[None]:
        with self._conn_lock:
            self._connections.add(conn)
        try:
            yield
        finally:
            with self._conn_lock:
                self._connections.discard(conn)

    def stream_to(self, out: Any) -> None:
        """Write each new frame to one client until it goes away or we close."""
        sent = self.last_seq  # start with the next frame, as a camera does
        while not self._closed.is_set():
            frame = self.wait_frame_after(sent, timeout=0.5)
            if frame is None:
                continue
            # A client that fell behind gets the newest frame, not a backlog.
            sent = frame.seq
            head = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame.jpeg)}\r\n"
                f"X-Frame-Seq: {frame.seq}\r\nX-Frame-Time: {frame.published_at:.6f}\r\n\r\n"
            ).encode("ascii")
            try:
                out.write(head + frame.jpeg + b"\r\n")
                out.flush()
            except OSError:
                return

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        with self._cond:
            self._cond.notify_all()
        self._http.shutdown()
        self.drop_connections()
        self._http.server_close()
        self._publish_thread.join(timeout=2.0)
        self._serve_thread.join(timeout=2.0)

    def __enter__(self) -> MjpegCameraServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> int:
    """``python -m simulators.camera_stream``: serve a camera until SIGTERM/SIGINT.

    Prints the stream URL as its first line (so a parent process can read it) and then
    only logs.
    """
    parser = argparse.ArgumentParser(prog="python -m simulators.camera_stream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--plate", default="", help="show this vehicle from the start")
    parser.add_argument("--style", default="normal", choices=PLATE_STYLES)
    parser.add_argument("--stamp", action="store_true", help="draw each frame's sequence number on it")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with MjpegCameraServer(args.host, args.port, args.fps, seed=args.seed, stamp_frames=args.stamp) as server:
        if args.plate:
            server.show_vehicle(args.plate, args.style)
        print(server.url, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
