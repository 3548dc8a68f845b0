"""The camera simulator on its own: its HTTP endpoints, scene, stamps and the bench pipeline."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from simulators.camera_bench import _camera_process, _latencies
from simulators.camera_stream import MjpegCameraServer, read_stamp, stamp


def test_stamp_survives_jpeg() -> None:
    image = np.random.default_rng(3).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    for seq in (0, 1, 2, 12345, 2**24 - 1):
        data = cv2.imencode(".jpg", stamp(image, seq), [cv2.IMWRITE_JPEG_QUALITY, 60])[1]
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
        assert decoded is not None and read_stamp(decoded) == seq


def test_endpoints() -> None:
    with MjpegCameraServer(fps=20, stamp_frames=True) as server:
        with urllib.request.urlopen(server.snapshot_url, timeout=3) as response:
            assert response.headers["Content-Type"] == "image/jpeg"
            image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape == (480, 640, 3)
        assert server.published(read_stamp(image)) is not None
        with urllib.request.urlopen(server.url.replace("stream.mjpg", "published.json"), timeout=3) as r:
            times = {int(k): v for k, v in json.load(r).items()}
        assert times and all(server.published(seq) is not None for seq in times)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.url.replace("stream.mjpg", "other"), timeout=3)
        assert info.value.code == 404


def test_scene_and_fault_arguments_are_checked() -> None:
    with MjpegCameraServer(fps=5, variants=1) as server:
        with pytest.raises(ValueError, match="style: must be one of normal, hard, two_row"):
            server.show_vehicle("AB1234", "sideways")
        with pytest.raises(ValueError, match="plate: must not be empty"):
            server.show_vehicle("  ")
        first = server.show_vehicle("FU 88", "two_row")
        frame = server.wait_frame_after(first - 1, timeout=2.0)
        assert frame is not None and frame.seq >= first
    with pytest.raises(ValueError, match="fps must be > 0"):
        MjpegCameraServer(fps=0)


def test_stall_publishes_nothing_then_resumes() -> None:
    with MjpegCameraServer(fps=50, variants=1) as server:
        assert server.wait_frame_after(0, timeout=2.0) is not None
        server.stall(10)
        stalled_at = server.last_seq
        assert server.wait_frame_after(stalled_at, timeout=0.3) is None
        server.resume()
        assert server.wait_frame_after(stalled_at, timeout=1.0) is not None


def test_bench_pipeline_measures_real_latency() -> None:
    """The benchmark's subprocess simulator and stamp-based latency, on a few frames."""
    with _camera_process(25.0) as url:
        latencies, lost, cpu = _latencies(url, 10)
    assert len(latencies) == 10 and lost == 0
    assert all(0 < value < 1.0 for value in latencies)
    assert 0 < cpu < 200  # two cores at most


def test_streamed_frames_are_readable_by_the_plate_reader() -> None:
    """Camera path end to end: rendered plate -> JPEG -> HTTP -> driver -> recogniser."""
    from drivers.anpr.reader import PlateReader
    from drivers.camera import CameraSettings, PlateCamera

    reader = PlateReader()
    with MjpegCameraServer(fps=10, seed=3) as server, PlateCamera(CameraSettings(server.url)) as camera:
        first = server.show_vehicle("KT5678", "normal")
        frame = camera.wait_frame(0, timeout=5.0)
        while frame.source_seq is None or frame.source_seq < first:
            frame = camera.wait_frame(frame.seq, timeout=2.0)
        reads = []
        for _ in range(3):
            reads.append(reader.read(frame.image).plate)
            frame = camera.wait_frame(frame.seq, timeout=2.0)
    assert reads.count("KT5678") >= 2, reads
