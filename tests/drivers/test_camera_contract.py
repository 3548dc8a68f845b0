"""Contract tests of the plate camera driver against the simulator's real HTTP MJPEG stream.

The same tests run unchanged on both HTTP backends (the driver's own MJPEG parser and
OpenCV/FFmpeg through ``ffmpeg+http://``): frames, every simulator fault, and recovery
after each. Timeouts are short so the whole file runs in seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from drivers.base import DeviceTimeout, DeviceUnavailable
from drivers.camera import CameraSettings, PlateCamera
from simulators.camera_stream import MjpegCameraServer

MakeCamera = Callable[..., PlateCamera]

FAST = {
    "open_timeout": 1.0,
    "read_timeout": 0.5,
    "stale_after": 0.3,
    "backoff_initial": 0.05,
    "backoff_cap": 0.4,
}


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``predicate()`` held; fails the test after ``timeout``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - start


@pytest.fixture
def server() -> Iterator[MjpegCameraServer]:
    srv = MjpegCameraServer(fps=20, seed=7)
    srv.show_vehicle("AB1234")
    yield srv
    srv.close()


@pytest.fixture
def cameras() -> Iterator[Callable[..., PlateCamera]]:
    made: list[PlateCamera] = []

    def make(url: str, **overrides: float) -> PlateCamera:
        camera = PlateCamera(CameraSettings(url, **{**FAST, **overrides}))
        made.append(camera.start())
        return camera

    yield make
    for camera in made:
        camera.close()


@pytest.fixture(params=["mjpeg", "ffmpeg"])
def stream_url(request: pytest.FixtureRequest, server: MjpegCameraServer) -> str:
    return server.url if request.param == "mjpeg" else "ffmpeg+" + server.url


def test_frames_arrive_in_order_and_fresh(stream_url: str, cameras: MakeCamera) -> None:
    camera = cameras(stream_url)
    first = camera.wait_frame(0, timeout=3.0)
    second = camera.wait_frame(first.seq, timeout=1.0)
    assert second.seq > first.seq and second.captured_at >= first.captured_at
    assert first.image.shape == (480, 640, 3) and first.image.dtype == np.uint8
    assert camera.available
    assert camera.latest() is not None
    assert camera.latest(max_age=0.0) is None  # nothing is younger than zero seconds


def test_frames_are_the_published_frames(server: MjpegCameraServer, cameras: MakeCamera) -> None:
    camera = cameras(server.url)
    frame = camera.wait_frame(0, timeout=3.0)
    for _ in range(5):
        frame = camera.wait_frame(frame.seq, timeout=1.0)
        assert frame.source_seq is not None and frame.source_time is not None
        published = server.published(frame.source_seq)
        assert published is not None
        expected = cv2.imdecode(np.frombuffer(published.jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert expected is not None and np.array_equal(frame.image, expected)
        assert frame.latency is not None and 0 <= frame.latency < 1.0
    assert camera.stats.lost_frames == 0


def test_scene_changes_reach_the_driver(server: MjpegCameraServer, cameras: MakeCamera) -> None:
    camera = cameras(server.url)
    camera.wait_frame(0, timeout=3.0)
    first_empty = server.clear()
    frame = camera.wait_frame(0, timeout=1.0)
    while frame.source_seq is None or frame.source_seq < first_empty:
        frame = camera.wait_frame(frame.seq, timeout=1.0)
    published = server.published(frame.source_seq)
    assert published is not None and published.scene == server.published(first_empty).scene  # type: ignore[union-attr]


def test_stall_is_detected_then_recovered(
    stream_url: str,
    server: MjpegCameraServer,
    cameras: MakeCamera,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A read timeout well above stale_after: the watchdog, not the socket, must notice first.
    camera = cameras(stream_url, read_timeout=1.5)
    camera.wait_frame(0, timeout=3.0)
    caplog.set_level(logging.INFO, logger="drivers.camera")
    caplog.clear()
    server.stall(1.5)
    lost = wait_until(lambda: not camera.available, 2.0, "the stall to be noticed")
    assert lost < 0.3 + 0.6  # stale_after plus the watchdog's tick and scheduling slack
    assert camera.latest() is None
    with pytest.raises(DeviceTimeout):
        camera.wait_frame(camera.wait_frame(0, 0.1).seq, timeout=0.2)
    back = wait_until(lambda: camera.available, 5.0, "frames after the stall")
    assert camera.latest() is not None
    # Back within one read timeout, the reconnect backoff's cap and a frame after the stall ended.
    assert lost + back < 1.5 + 1.5 + 0.4 + 1.0
    # The state flips before its log line is written (by the reader thread): wait for the line.
    wait_until(lambda: any(r.levelno == logging.INFO for r in caplog.records), 1.0, "the log line")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable" in warnings[0].getMessage()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.INFO] == ["camera available again"]


def test_dropped_connections_reconnect(
    stream_url: str, server: MjpegCameraServer, cameras: MakeCamera
) -> None:
    camera = cameras(stream_url)
    camera.wait_frame(0, timeout=3.0)
    connects = camera.stats.connects
    assert server.drop_connections() >= 1
    wait_until(lambda: camera.stats.connects > connects, 3.0, "a reconnection")
    frame = camera.wait_frame(camera.wait_frame(0, 0.1).seq, timeout=2.0)
    assert frame is not None and camera.available


def test_camera_rebooting_is_retried_with_capped_doubling_backoff(
    server: MjpegCameraServer, cameras: MakeCamera
) -> None:
    camera = cameras(server.url, backoff_initial=0.05, backoff_cap=0.4)
    camera.wait_frame(0, timeout=3.0)
    start = time.monotonic()
    server.drop_connections(refuse_for=2.0)
    wait_until(lambda: not camera.available, 1.0, "the drop to be noticed")
    wait_until(lambda: "503" in camera.availability.reason, 1.0, "the refusal to be the reason")
    wait_until(lambda: camera.available, 4.0, "the camera to come back")
    attempts = [t for t in server.request_times if t >= start]
    gaps = np.diff(attempts)
    # The drop costs 0.05 s, then each 503 doubles the wait: 0.1, 0.2, 0.4, then 0.4 (the cap)
    # until the camera is back. A wait is never shorter than its delay; load can only lengthen it.
    expected = [min(0.1 * 2**i, 0.4) for i in range(len(gaps))]
    assert len(gaps) >= 5, gaps
    for gap, delay in zip(gaps, expected, strict=True):
        assert delay - 0.02 <= gap <= delay + 0.3, (list(gaps), expected)
    assert camera.stats.failures >= 5
    # After a success the backoff starts again from its initial delay, not from the cap.
    mark = time.monotonic()
    server.drop_connections()
    wait_until(lambda: len([t for t in server.request_times if t >= mark]) >= 1, 2.0, "a reconnection")
    assert next(t for t in server.request_times if t >= mark) - mark < 0.05 + 0.15


def test_corrupt_frame_is_skipped_without_reconnecting(
    stream_url: str, server: MjpegCameraServer, cameras: MakeCamera
) -> None:
    camera = cameras(stream_url)
    camera.wait_frame(0, timeout=3.0)
    connects = camera.stats.connects
    server.corrupt_next(1)
    wait_until(lambda: camera.stats.bad_frames == 1, 2.0, "the corrupt frame to be counted")
    frame = camera.wait_frame(camera.wait_frame(0, 0.1).seq, timeout=1.0)
    assert frame is not None
    assert camera.stats.connects == connects and camera.available


def test_a_run_of_corrupt_frames_forces_a_reconnect(server: MjpegCameraServer, cameras: MakeCamera) -> None:
    camera = cameras(server.url)
    camera.wait_frame(0, timeout=3.0)
    connects = camera.stats.connects
    server.corrupt_next(5)
    wait_until(lambda: camera.stats.connects > connects, 3.0, "a reconnection after bad frames")
    assert camera.stats.bad_frames >= 3
    wait_until(lambda: camera.available, 3.0, "good frames again")


def test_camera_gone_then_back_on_the_same_port(cameras: MakeCamera) -> None:
    server = MjpegCameraServer(fps=20)
    port = server.port
    camera = cameras(server.url)
    camera.wait_frame(0, timeout=3.0)
    server.close()
    wait_until(lambda: not camera.available, 1.0, "the camera to be gone")
    with pytest.raises(DeviceTimeout, match="no camera frame"):
        camera.wait_frame(camera.wait_frame(0, 0.1).seq, timeout=0.3)
    server = MjpegCameraServer(port=port, fps=20)
    try:
        wait_until(lambda: camera.available, 3.0, "the camera to come back")
    finally:
        server.close()


def test_basic_credentials_are_sent_and_never_shown(cameras: MakeCamera) -> None:
    with MjpegCameraServer(fps=20, credentials=("lane", "s3cret-pw")) as server:
        good = cameras(server.url.replace("http://", "http://lane:s3cret-pw@"))
        good.wait_frame(0, timeout=3.0)
        bad = cameras(server.url.replace("http://", "http://lane:wrong-pw@"))
        wait_until(lambda: bad.stats.failures >= 1, 2.0, "the refused login")
        assert "401" in bad.stats.last_error
        assert "wrong-pw" not in bad.stats.last_error and not bad.available


def test_close_is_safe_twice_and_ends_waits(server: MjpegCameraServer) -> None:
    camera = PlateCamera(CameraSettings(server.url, **FAST)).start()
    camera.wait_frame(0, timeout=3.0)
    camera.close()
    camera.close()
    assert not camera.available
    with pytest.raises(DeviceUnavailable):
        camera.wait_frame(0, timeout=0.1)
    assert server.client_count == 0 or wait_until(lambda: server.client_count == 0, 1.0, "disconnect") >= 0
