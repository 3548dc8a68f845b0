"""A second opinion on every character, by shape: templates in several fonts.

Tesseract's confusions under blur are consistent (Y for V, 5 for 6, E for F, W for M, 3
for 8 or 9): every view, every reading makes the same one, so voting cannot catch them.
A character compared by shape with templates of every character the grammar allows at
its place gives an opinion that shares none of Tesseract's habits. It is only ever used
to refuse a read, never to correct one: when the shape prefers any other character that
could stand there, the evidence is split and the read is doubtful.

The templates must not be one font's: lettering the reader was never tuned on (the
benchmark's held-out FreeSans Bold and Liberation Sans Narrow Bold) turned look-alikes
into wrong reads when the templates came from two bold fonts only. So each character is
drawn in eight faces of the Debian packages fonts-dejavu-core and fonts-liberation (bold
and regular, normal, condensed and monospaced widths), each plain, emboldened (a stroke
added) and thinned (eroded), and a glyph's similarity to a character is its best match
among them. None of the held-out faces, nor their families, is among them. Without those
fonts there is no second opinion (and a warning, once).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from drivers.anpr.grammar import PLATE_CHARSET

log = logging.getLogger("drivers.anpr")

# Pairs that blur turns into each other, both allowed at the same place by the grammar:
# the look-alikes a glyph is always compared with, whatever else its place allows.
CONFUSABLE: dict[str, str] = {}
for _a, _b in ("YV", "56", "09", "38", "39", "EF", "PF", "MW", "BR", "BE", "HW", "DO", "EB"):
    CONFUSABLE.setdefault(_a, "")
    CONFUSABLE.setdefault(_b, "")
    CONFUSABLE[_a] += _b
    CONFUSABLE[_b] += _a
CONFUSABLE = {k: "".join(sorted(set(v) - {"O"})) for k, v in CONFUSABLE.items() if k != "O"}

_FONT_DIR = Path("/usr/share/fonts/truetype")
TEMPLATE_FONTS = tuple(str(_FONT_DIR / name) for name in (
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSansCondensed-Bold.ttf",
    "dejavu/DejaVuSansCondensed.ttf",
    "dejavu/DejaVuSansMono-Bold.ttf",
    "liberation/LiberationSans-Bold.ttf",
    "liberation/LiberationSans-Regular.ttf",
    "liberation/LiberationMono-Bold.ttf",
))
# Stroke variants: 0 plain, +n drawn with an n px outline (bolder), -n eroded n times.
_STROKES = (0, 3, -1)
_SIZE = (24, 36)  # width, height every shape is compared at
# By how much another character's shape may beat the read one before the read is refused:
# for a look-alike, not at all (any preference splits the evidence); for any other character
# allowed there, clearly (a shape's best match among unrelated characters is noisier, and
# refusing on noise costs right reads: on the tuning set 1.7% of right reads at margin 0,
# 1.0% at 0.08).
PREFER_MARGIN = 0.0
OTHER_MARGIN = 0.08
# A 1 is cropped to its stroke and stretched to the template's width, and then resembles
# nothing: its shape gives no opinion (nor does any other character's about it).
_NO_OPINION = "1"


def _normalise(binary: np.ndarray) -> np.ndarray | None:
    """Ink (255) cropped to its bounding box, resized, softened, zero-mean unit-norm."""
    ys, xs = np.nonzero(binary)
    if len(xs) == 0:
        return None
    crop = binary[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    shape = cv2.resize(crop, _SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)
    shape = np.asarray(cv2.GaussianBlur(shape, (0, 0), 1.2), np.float32)
    shape -= shape.mean()
    norm = float(np.linalg.norm(shape))
    return shape / norm if norm > 0 else None


def _draw(font: ImageFont.FreeTypeFont, char: str, stroke: int) -> np.ndarray | None:
    image = Image.new("L", (112, 112), 0)
    ImageDraw.Draw(image).text((20, 10), char, font=font, fill=255, stroke_width=max(0, stroke),
                               stroke_fill=255)
    ink = np.asarray(image)
    if stroke < 0:
        ink = cv2.erode(ink, np.ones((3, 3), np.uint8), iterations=-stroke)
    return _normalise(ink)


@functools.lru_cache(maxsize=1)
def _templates() -> tuple[str, np.ndarray]:
    """Every template flattened into one matrix (a row each) and the character of each row."""
    chars: list[str] = []
    rows: list[np.ndarray] = []
    fonts = [f for f in TEMPLATE_FONTS if Path(f).exists()]
    if not fonts:
        log.warning("anpr: no template fonts (%s): no second opinion on look-alike characters",
                    ", ".join(TEMPLATE_FONTS))
    for path in fonts:
        font = ImageFont.truetype(path, 64)
        for char in PLATE_CHARSET:
            for stroke in _STROKES:
                shape = _draw(font, char, stroke)
                if shape is not None:
                    chars.append(char)
                    rows.append(shape.ravel())
    matrix = np.vstack(rows) if rows else np.zeros((0, _SIZE[0] * _SIZE[1]), np.float32)
    return "".join(chars), matrix


def prepare() -> None:
    """Draw the templates now (about 0.6 s, once per process) rather than inside the first
    frame's time limit."""
    _templates()


def similarities(glyph: np.ndarray) -> dict[str, float]:
    """Best correlation of ``glyph`` (black on white) with each character's templates
    (empty when the glyph has no ink or there are no templates)."""
    shape = _normalise(255 - glyph)
    chars, matrix = _templates()
    if shape is None or not chars:
        return {}
    scores = matrix @ shape.ravel()
    best: dict[str, float] = {}
    for char, score in zip(chars, scores.tolist(), strict=True):
        if score > best.get(char, -2.0):
            best[char] = score
    return best


def similarity(glyph: np.ndarray, char: str) -> float | None:
    """Best correlation of ``glyph`` (black on white) with ``char``'s templates."""
    return similarities(glyph).get(char)


def doubtful(glyph: np.ndarray, char: str, allowed: str = "") -> bool:
    """Whether the glyph's shape prefers another character to ``char``: one of its
    look-alikes, or any character of ``allowed`` (those the grammar allows at its place)."""
    if char == _NO_OPINION:
        return False
    lookalikes = set(CONFUSABLE.get(char, "")) - {char, _NO_OPINION}
    others = set(allowed) - lookalikes - {char, _NO_OPINION}
    if not lookalikes and not others:
        return False
    scores = similarities(glyph)
    own = scores.get(char)
    if own is None:
        return False
    return any(scores.get(rival, -2.0) - own > PREFER_MARGIN for rival in lookalikes) \
        or any(scores.get(rival, -2.0) - own > OTHER_MARGIN for rival in others)
