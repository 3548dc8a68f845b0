"""Segmentation refuses a plate that lost a character at its end (drivers.anpr.segment).

A lost trailing character leaves a shorter mark that is still valid ("CT71" -> "CT7"):
the worst kind of wrong read. These crops are drawn directly, as the warped plate would be.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from drivers.anpr.locate import SINGLE_ROW_SIZE
from drivers.anpr.segment import segment

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _crop(text: str) -> tuple[np.ndarray, int]:
    """A flat single-row plate crop with ``text``; returns it and where the text ends."""
    if not FONT.exists():
        pytest.fail("Debian package fonts-dejavu-core is missing: DejaVuSans-Bold.ttf is needed")
    width, height = SINGLE_ROW_SIZE
    image = Image.new("L", (width, height), 235)
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 6, width - 11, height - 7), outline=20, width=3)
    draw.text((60, 16), text, font=ImageFont.truetype(str(FONT), 46), fill=15)
    grey = cv2.GaussianBlur(np.asarray(image), (0, 0), 0.8)
    end = int(np.nonzero((grey[20:60, 20:width - 20] < 100).any(axis=0))[0].max()) + 20
    return np.ascontiguousarray(grey), end


def test_a_whole_plate_is_not_cut() -> None:
    grey, _ = _crop("CT 7")
    seg = segment(grey, 1)
    assert seg is not None and seg.blobs == 3 and not seg.cut


def test_a_sliver_after_the_last_character_marks_the_plate_cut() -> None:
    grey, end = _crop("CT 7")
    # A 1 thinned by blur to a sliver (too thin for the character filter), a gap away.
    cv2.line(grey, (end + 8, 22), (end + 8, 55), 15, 2)
    seg = segment(grey, 1)
    assert seg is not None and seg.blobs == 3 and seg.cut
