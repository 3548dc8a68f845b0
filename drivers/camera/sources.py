"""Where frames come from: the configured URL picks one source; the driver only sees the protocol.

- ``http://`` / ``https://``: ``MjpegHttpSource`` (the driver's own MJPEG parser);
- ``rtsp://``, ``rtsps://``, ``rtmp://``, ``udp://``, ``tcp://`` or ``ffmpeg+http(s)://``:
  OpenCV ``VideoCapture`` through FFmpeg, with its open and read timeouts;
- a folder of images or a single image file: replayed in name order at ``fps``, looping;
- a video file: replayed at its own frame rate (``fps`` if it has none), looping;
- a device index (``"0"``) or ``/dev/videoN``: ``VideoCapture`` on the local camera.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import cv2

from drivers.base import DeviceUnavailable, ProtocolError
from drivers.camera.mjpeg_http import MjpegHttpSource
from drivers.camera.settings import MAX_BAD_FRAMES, CameraSettings, RawFrame, redact_url

__all__ = ["IMAGE_SUFFIXES", "CaptureSource", "FolderSource", "FrameSource", "open_source"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".tif", ".tiff"})


class FrameSource(Protocol):
    """What the driver's reader thread calls; every call is bounded by the source's timeouts."""

    def open(self) -> None: ...
    def read(self) -> RawFrame: ...
    def abort(self) -> None: ...  # from another thread: unblock a pending open/read if possible
    def close(self) -> None: ...


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

    def read(self) -> RawFrame:
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
            return RawFrame(image)
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

    def read(self) -> RawFrame:
        self._next_at += 1.0 / self._fps
        time.sleep(max(0.0, self._next_at - time.monotonic()))
        path = self._files[self._index % len(self._files)]
        self._index += 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ProtocolError(f"{path.name} is not a readable image")
        return RawFrame(image)

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_source(settings: CameraSettings) -> FrameSource:
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
