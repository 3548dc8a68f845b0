"""The lane's plate camera: the newest frame, fresh or not at all, from any configured source.

- ``settings``: ``CameraSettings`` (the ``[devices.camera]`` table), ``Frame``, ``CameraStats``;
- ``mjpeg_http``: the MJPEG-over-HTTP parser an IP camera's stream is read with;
- ``sources``: VideoCapture (RTSP, FFmpeg URLs, video files, local cameras), image folders,
  and ``open_source``, which picks one from the URL;
- ``driver``: ``PlateCamera``, its reader thread, watchdog and reconnect loop.

Frames from a camera that stamps ``X-Frame-Seq`` / ``X-Frame-Time`` part headers (the
simulator does) also carry those, which gives publish-to-held latency and lost frames.
"""

from drivers.camera.driver import ABORT_GRACE_S, MAX_ABANDONED, PlateCamera
from drivers.camera.mjpeg_http import MjpegHttpSource
from drivers.camera.settings import MAX_BAD_FRAMES, CameraSettings, CameraStats, Frame, RawFrame, redact_url
from drivers.camera.sources import IMAGE_SUFFIXES, CaptureSource, FolderSource, FrameSource, open_source

# The name the sources' raw frame had when the driver was one module (tests import it).
_Raw = RawFrame

__all__ = [
    "ABORT_GRACE_S",
    "IMAGE_SUFFIXES",
    "MAX_ABANDONED",
    "MAX_BAD_FRAMES",
    "CameraSettings",
    "CameraStats",
    "CaptureSource",
    "FolderSource",
    "Frame",
    "FrameSource",
    "MjpegHttpSource",
    "PlateCamera",
    "RawFrame",
    "open_source",
    "redact_url",
]
