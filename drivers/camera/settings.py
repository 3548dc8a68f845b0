"""The camera's configuration, the frames it hands out and its counters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import numpy as np

__all__ = ["MAX_BAD_FRAMES", "CameraSettings", "CameraStats", "Frame", "RawFrame", "redact_url"]

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
class RawFrame:
    """One decoded image from a source, before the driver numbers and stamps it."""

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
