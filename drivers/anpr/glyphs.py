"""A second opinion on characters that blur makes into each other: template shapes.

Tesseract's confusions under blur are consistent (Y for V, 5 for 6, E for F, W for M):
every view, every reading makes the same one, so voting cannot catch them. A character
compared by shape with templates of itself and of its look-alike gives an opinion that
shares none of Tesseract's habits. It is only ever used to refuse a read, never to
correct one: when the shape clearly prefers the look-alike, the read is doubtful.

Templates are drawn from fonts of Debian packages (fonts-dejavu-core, fonts-liberation);
they are the fonts the reader was tuned on, and the benchmark's held-out fonts show how
far the shapes carry to other lettering. Without those fonts there is no second opinion
(and a warning, once).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger("drivers.anpr")

# Pairs that blur turns into each other, both allowed at the same place by the grammar.
CONFUSABLE: dict[str, str] = {}
for _a, _b in ("YV", "56", "09", "38", "EF", "PF", "MW", "BR", "BE", "HW", "DO", "EB"):
    CONFUSABLE.setdefault(_a, "")
    CONFUSABLE.setdefault(_b, "")
    CONFUSABLE[_a] += _b
    CONFUSABLE[_b] += _a
CONFUSABLE = {k: "".join(sorted(set(v) - {"O"})) for k, v in CONFUSABLE.items() if k != "O"}

TEMPLATE_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf",
)
_SIZE = (24, 36)  # width, height every shape is compared at
PREFER_MARGIN = 0.08  # correlation by which the look-alike must win to cast doubt


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


@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    fonts = [f for f in TEMPLATE_FONTS if Path(f).exists()]
    if not fonts:
        log.warning("anpr: no template fonts (%s): no second opinion on look-alike characters",
                    ", ".join(TEMPLATE_FONTS))
    for path in fonts:
        font = ImageFont.truetype(path, 64)
        for char in CONFUSABLE:
            image = Image.new("L", (96, 96), 0)
            ImageDraw.Draw(image).text((16, 8), char, font=font, fill=255)
            shape = _normalise(np.asarray(image))
            if shape is not None:
                out.setdefault(char, []).append(shape)
    return out


def similarity(glyph: np.ndarray, char: str) -> float | None:
    """Best correlation of ``glyph`` (black on white) with ``char``'s templates."""
    shape = _normalise(255 - glyph)
    templates = _templates().get(char)
    if shape is None or not templates:
        return None
    return max(float((shape * t).sum()) for t in templates)


def doubtful(glyph: np.ndarray, char: str) -> bool:
    """Whether the glyph's shape clearly prefers a look-alike of ``char`` to ``char``."""
    rivals = CONFUSABLE.get(char, "")
    if not rivals:
        return False
    own = similarity(glyph, char)
    if own is None:
        return False
    for rival in rivals:
        other = similarity(glyph, rival)
        if other is not None and other - own > PREFER_MARGIN:
            return True
    return False
