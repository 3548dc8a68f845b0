"""Camera driver against misbehaving HTTP servers, and its file, folder and image sources."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from drivers.base import DeviceTimeout, DeviceUnavailable
from drivers.camera import (
    CameraSettings,
    CaptureSource,
    FolderSource,
    MjpegHttpSource,
    PlateCamera,
    _Raw,
    open_source,
    redact_url,
)
from tests.drivers.test_camera_contract import FAST, MakeCamera, wait_until


class RawServer:
    """A TCP server on loopback that runs ``handler(conn)`` for each connection, in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self.connections = 0
        self._handler = handler
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._handler(conn)

    def stopped(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for conn in self._conns:
            conn.close()
        self._thread.join(timeout=2.0)


MakeServer = Callable[[Callable[[socket.socket], None]], RawServer]


@pytest.fixture
def raw_server() -> Iterator[MakeServer]:
    servers: list[RawServer] = []

    def make(handler: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def cameras() -> Iterator[MakeCamera]:
    made: list[PlateCamera] = []

    def make(url: str, **kwargs: object) -> PlateCamera:
        overrides = {k: v for k, v in kwargs.items() if k in CameraSettings.__dataclass_fields__}
        extra = {k: v for k, v in kwargs.items() if k not in overrides}
        camera = PlateCamera(CameraSettings(url, **{**FAST, **overrides}), **extra)  # type: ignore[arg-type]
        made.append(camera.start())
        return camera

    yield make
    for camera in made:
        camera.close()


def jpeg(seed: int = 0) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_silent_server_times_out_the_open(raw_server: MakeServer, cameras: MakeCamera) -> None:
    server = raw_server(lambda conn: time.sleep(30))
    camera = cameras(server.url, open_timeout=0.3)
    wait_until(lambda: camera.stats.failures >= 1, 2.0, "the open to time out")
    assert "did not answer within 0.3 s" in camera.stats.last_error
    assert not camera.available
    with pytest.raises(DeviceTimeout):
        camera.wait_frame(0, timeout=0.2)


def test_a_trickle_of_bytes_is_cut_by_the_watchdog(raw_server: MakeServer, cameras: MakeCamera) -> None:
    """Each recv gets a byte in time, so only the watchdog's whole-read limit can end it."""

    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=f\r\n\r\n")
        conn.sendall(b"--f\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n")
        while True:
            conn.sendall(b"\xff")
            time.sleep(0.1)

    server = raw_server(trickle)
    camera = cameras(server.url, read_timeout=0.3)
    wait_until(lambda: camera.stats.aborted_reads >= 1, 3.0, "the watchdog to abort the read")
    wait_until(lambda: server.connections >= 2, 3.0, "a reconnection after the abort")
    assert not camera.available


def test_a_web_page_is_not_a_stream(raw_server: MakeServer, cameras: MakeCamera) -> None:
    def page(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html></html>")
        conn.close()

    camera = cameras(raw_server(page).url)
    wait_until(lambda: camera.stats.failures >= 1, 2.0, "the page to be refused")
    assert "not a multipart MJPEG stream" in camera.stats.last_error


def test_parts_without_content_length(raw_server: MakeServer, cameras: MakeCamera) -> None:
    """Some cameras send no Content-Length: the part then runs to the next boundary."""

    def no_length(conn: socket.socket) -> None:
        conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary="cam"\r\n\r\n')
        for i in range(1000):
            conn.sendall(b"--cam\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg(i % 3) + b"\r\n")
            time.sleep(0.03)

    camera = cameras(raw_server(no_length).url)
    first = camera.wait_frame(0, timeout=3.0)
    later = camera.wait_frame(first.seq + 2, timeout=2.0)
    assert later.image.shape == (48, 64, 3)
    expected = [cv2.imdecode(np.frombuffer(jpeg(i), np.uint8), cv2.IMREAD_COLOR) for i in range(3)]
    assert any(e is not None and np.array_equal(later.image, e) for e in expected)
    assert camera.stats.bad_frames == 0


def test_end_of_stream_marker_reconnects(raw_server: MakeServer, cameras: MakeCamera) -> None:
    def one_frame_then_end(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=b\r\n\r\n")
        data = jpeg()
        conn.sendall(b"--b\r\nContent-Length: %d\r\n\r\n" % len(data) + data + b"\r\n--b--\r\n")
        time.sleep(5)

    server = raw_server(one_frame_then_end)
    camera = cameras(server.url)
    camera.wait_frame(0, timeout=3.0)
    wait_until(lambda: server.connections >= 2, 2.0, "a reconnection after the end marker")
    assert "ended the stream" in camera.stats.last_error or camera.stats.failures >= 1


def test_folder_replays_in_name_order_and_loops(tmp_path: Path, cameras: MakeCamera) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), np.full((20, 30, 3), i * 100, np.uint8))
    (tmp_path / "notes.txt").write_text("ignored")
    camera = cameras(str(tmp_path), fps=50.0)
    levels = []
    frame = camera.wait_frame(0, timeout=2.0)
    levels.append(int(frame.image[0, 0, 0]))
    while len(levels) < 5:
        frame = camera.wait_frame(frame.seq, timeout=1.0)
        levels.append(int(frame.image[0, 0, 0]))
    start = levels.index(0)
    assert levels[start : start + 3] == [0, 100, 200][: len(levels[start : start + 3])]
    assert set(levels) == {0, 100, 200}


def test_single_image_file(tmp_path: Path, cameras: MakeCamera) -> None:
    path = tmp_path / "plate.jpg"
    path.write_bytes(jpeg(5))
    camera = cameras(f"file://{path}", fps=50.0)
    frame = camera.wait_frame(0, timeout=2.0)
    assert frame.image.shape == (48, 64, 3)


def test_empty_folder_is_unavailable_with_a_reason(tmp_path: Path, cameras: MakeCamera) -> None:
    camera = cameras(str(tmp_path))
    wait_until(lambda: camera.stats.failures >= 1, 2.0, "the empty folder to be reported")
    assert "no images" in camera.stats.last_error


def test_video_file_is_replayed_at_its_rate_and_loops(tmp_path: Path, cameras: MakeCamera) -> None:
    path = tmp_path / "lane.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 40.0, (64, 48))
    assert writer.isOpened(), "OpenCV cannot write MJPG AVI here"
    for i in range(4):
        writer.write(np.full((48, 64, 3), 50 * (i + 1), np.uint8))
    writer.release()
    camera = cameras(str(path))
    frame = camera.wait_frame(0, timeout=3.0)
    start = time.monotonic()
    frame = camera.wait_frame(frame.seq + 8, timeout=3.0)  # past the end: it loops
    elapsed = time.monotonic() - start
    assert elapsed > 8 / 40.0 * 0.6  # paced at the file's 40 fps, not as fast as decoding goes
    assert frame.image.shape == (48, 64, 3)


def test_source_selection_from_the_url(tmp_path: Path) -> None:
    def kind(url: str) -> type:
        return type(open_source(CameraSettings(url)))

    assert kind("http://10.0.0.5/video.mjpg") is MjpegHttpSource
    assert kind("ffmpeg+http://10.0.0.5/video.mjpg") is CaptureSource
    assert kind("rtsp://10.0.0.5/stream1") is CaptureSource
    assert kind("0") is CaptureSource
    assert kind(str(tmp_path)) is FolderSource
    assert kind(str(tmp_path / "x.png")) is FolderSource
    assert kind(str(tmp_path / "x.mp4")) is CaptureSource
    assert redact_url("http://user:pw@cam:8080/s") == "http://user:***@cam:8080/s"
    assert redact_url("http://cam/s") == "http://cam/s"


def test_bad_url_is_reported_not_raised_in_the_thread(cameras: MakeCamera) -> None:
    camera = cameras("http://")
    wait_until(lambda: camera.stats.failures >= 1, 2.0, "the bad URL to be reported")
    assert "camera url" in camera.stats.last_error


def test_invalid_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="read_timeout: must be > 0"):
        PlateCamera(CameraSettings("0", read_timeout=0))


class _HungSource:
    """A source whose read ignores every timeout, as a wedged VideoCapture can.

    A stand-in on purpose: the real FFmpeg build here honours its read timeout, so no real
    part can show the driver's last resort (abandoning the stuck reader thread).
    """

    def __init__(self, release: threading.Event, calls: list[int]) -> None:
        self._release = release
        self._calls = calls

    def open(self) -> None:
        pass

    def read(self) -> _Raw:
        self._calls.append(1)
        if len(self._calls) == 1:
            return _Raw(np.zeros((4, 4, 3), np.uint8))
        if len(self._calls) == 2:
            self._release.wait(30)  # hung
        time.sleep(0.02)
        return _Raw(np.zeros((4, 4, 3), np.uint8))

    def abort(self) -> None:
        pass  # like VideoCapture: nothing can interrupt it

    def close(self) -> None:
        pass


def test_a_reader_stuck_past_every_timeout_is_replaced(cameras: MakeCamera) -> None:
    release, calls = threading.Event(), list[int]()
    camera = cameras("0", read_timeout=0.2, source_factory=lambda s: _HungSource(release, calls))
    try:
        camera.wait_frame(0, timeout=2.0)
        wait_until(lambda: not camera.available, 1.0, "the hang to be noticed")
        wait_until(lambda: camera.available, 3.0, "a new reader to deliver frames")
        assert camera.stats.aborted_reads >= 1
    finally:
        release.set()


def test_listener_hears_each_transition_once(cameras: MakeCamera) -> None:
    from simulators.camera_stream import MjpegCameraServer

    heard: list[tuple[bool, str]] = []
    with MjpegCameraServer(fps=20) as server:
        camera = cameras(server.url, listener=lambda up, why: heard.append((up, why)))
        camera.wait_frame(0, timeout=3.0)
        server.stall(0.8)
        wait_until(lambda: not camera.available, 2.0, "the stall")
        wait_until(lambda: camera.available, 4.0, "recovery")
        time.sleep(0.2)
        assert [up for up, _ in heard] == [True, False, True]
        assert heard[1][1].startswith("no frame for")


def test_rtsp_defaults_to_tcp_transport_and_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", raising=False)
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connection refused
    source = CaptureSource(f"rtsp://127.0.0.1:{port}/stream1", 0.5, 0.5, 10.0)
    start = time.monotonic()
    with pytest.raises(DeviceUnavailable, match="cannot open camera"):
        source.open()
    assert time.monotonic() - start < 0.5 + 1.0
    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == "rtsp_transport;tcp"
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;udp")
    with pytest.raises(DeviceUnavailable):
        source.open()
    assert os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] == "rtsp_transport;udp"  # the operator's choice wins
