"""The shape second opinion on characters (drivers.anpr.glyphs).

Glyphs are drawn in FreeSans Bold, a font the templates are not made from, then blurred
and thresholded as a small plate's characters are: the shape must prefer the character
drawn to its look-alike, so that a read of the look-alike is refused and the true read
is not.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from drivers.anpr import glyphs

FREESANS = Path("/usr/share/fonts/truetype/freefont/FreeSansBold.ttf")


def _glyph(char: str, blur: float) -> np.ndarray:
    if not FREESANS.exists():
        pytest.fail("Debian package fonts-freefont-ttf is missing: FreeSansBold.ttf is needed")
    image = Image.new("L", (80, 80), 255)
    ImageDraw.Draw(image).text((12, 4), char, font=ImageFont.truetype(str(FREESANS), 56), fill=0)
    grey = cv2.GaussianBlur(np.asarray(image), (0, 0), blur)
    _, binary = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    ys, xs = np.nonzero(binary == 0)
    return np.asarray(binary[ys.min():ys.max() + 1, xs.min():xs.max() + 1])


@pytest.mark.parametrize("drawn,lookalike", [("V", "Y"), ("Y", "V"), ("6", "5"), ("0", "9"), ("F", "E"),
                                             ("M", "W"), ("8", "3"), ("B", "R")])
@pytest.mark.parametrize("blur", [0.5, 2.0])
def test_shape_refuses_the_lookalike_and_keeps_the_truth(drawn: str, lookalike: str, blur: float) -> None:
    glyph = _glyph(drawn, blur)
    assert lookalike in glyphs.CONFUSABLE[drawn]
    assert not glyphs.doubtful(glyph, drawn)
    assert glyphs.doubtful(glyph, lookalike)


def test_characters_without_a_lookalike_are_never_doubted() -> None:
    assert "K" not in glyphs.CONFUSABLE
    assert not glyphs.doubtful(_glyph("V", 1.0), "K")


def test_an_empty_glyph_gives_no_opinion() -> None:
    assert glyphs.similarity(np.full((40, 24), 255, np.uint8), "V") is None
    assert not glyphs.doubtful(np.full((40, 24), 255, np.uint8), "V")


@pytest.mark.parametrize("drawn,misread", [("9", "3"), ("8", "3"), ("P", "F"), ("B", "E")])
@pytest.mark.parametrize("blur", [0.5, 2.0])
def test_lookalikes_seen_as_wrong_reads_in_an_unseen_font_are_refused(drawn: str, misread: str,
                                                                       blur: float) -> None:
    """The confusions that became wrong reads with FreeSans lettering (FU87 as FU37, PB73 as
    FE73): the templates (never FreeSans) must still prefer the character drawn."""
    glyph = _glyph(drawn, blur)
    assert glyphs.doubtful(glyph, misread)
    assert not glyphs.doubtful(glyph, drawn)


def test_any_character_allowed_at_the_place_can_cast_doubt() -> None:
    """A K read as X has no listed look-alike: only the grammar's letters, compared by
    shape, refuse it."""
    glyph = _glyph("K", 1.0)
    assert not glyphs.doubtful(glyph, "X")
    assert glyphs.doubtful(glyph, "X", glyphs.PLATE_CHARSET)
    assert not glyphs.doubtful(glyph, "K", glyphs.PLATE_CHARSET)


def test_a_one_gives_no_opinion() -> None:
    """A 1 cropped to its stroke resembles nothing: its shape neither refuses nor is refused."""
    assert not glyphs.doubtful(_glyph("1", 1.0), "1", "0123456789")
