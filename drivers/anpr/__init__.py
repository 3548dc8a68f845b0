"""Plate recognition: find, straighten, clean and read Hong Kong plates (OpenCV + Tesseract).

- ``PlateReader``: one frame in, ``PlateRead(plate | None, confidence, ms)`` out.
- ``PlateVoter``: several frames of one vehicle in, a stable decision (or none) out.
- ``AnprWorker``: a reader on its own thread with a bounded queue, off the control loop.
- ``grammar``: what a Hong Kong registration mark may be.
"""

from drivers.anpr.reader import PlateRead, PlateReader
from drivers.anpr.voter import Decision, PlateVoter
from drivers.anpr.worker import AnprWorker, FrameResult

__all__ = ["AnprWorker", "Decision", "FrameResult", "PlateRead", "PlateReader", "PlateVoter"]
