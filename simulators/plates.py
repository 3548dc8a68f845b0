"""Seeded renderer of Hong Kong number plates and camera frames around them.

One renderer, two users: the camera simulator streams its frames, and the plate
recognition tests and benchmark score against its ground truth. Everything random
comes from the ``numpy.random.Generator`` passed in, so a seed names a frame.

Difficulty levels (``LEVELS``):

- ``normal``: a plate 190-300 px wide in a 640x480 frame, mild tilt, light noise
  and blur, good JPEG.
- ``hard``: small (120-190 px), blurred (Gaussian or motion), noisy, tilted and
  skewed, part-shadowed, heavy JPEG; a third are night frames (infra-red grey,
  dark scene, bright retro-reflective plate, motion blur).
- ``two_row``: the two-row rear plates of goods vehicles (letters above digits).
- ``none``: no plate at all; clutter only, including blank plate-like boards and
  painted lettering, so a reader that invents plates is caught.

Fonts come from Debian packages (fonts-dejavu-core, fonts-liberation,
fonts-freefont-ttf). ``TUNING_FONTS`` are the ones the recogniser was tuned on;
``HELD_OUT_FONTS`` are kept for evaluation only.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from drivers.anpr import grammar  # one plate grammar for the renderer and the reader

FRAME_SIZE = (640, 480)  # width, height: what the camera simulator streams
LEVELS = ("normal", "hard", "two_row", "none")

# Letters used on Hong Kong plates: I, O and Q never appear.
PLATE_LETTERS = grammar.PLATE_LETTERS
PLATE_DIGITS = grammar.PLATE_DIGITS
CROSS_BOUNDARY_PREFIXES = grammar.CROSS_BOUNDARY_PREFIXES

_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/truetype/liberation"),
    Path("/usr/share/fonts/truetype/freefont"),
)
FONT_FILES: dict[str, str] = {
    "dejavu": "DejaVuSans-Bold.ttf",
    "liberation": "LiberationSans-Bold.ttf",
    "freesans": "FreeSansBold.ttf",
    "narrow": "LiberationSansNarrow-Bold.ttf",
    "dejavu-condensed": "DejaVuSansCondensed-Bold.ttf",
}
TUNING_FONTS = ("dejavu", "liberation")
HELD_OUT_FONTS = ("freesans", "narrow")
_CLUTTER_FONTS = ("dejavu-condensed", "liberation", "freesans")
_CLUTTER_WORDS = (
    "LOGISTICS", "EXPRESS", "Transport Ltd", "TEL 2345", "FRAGILE", "CARGO", "Shenzhen",
    "KEEP LEFT", "STOP", "No Entry", "COLD CHAIN", "Container", "HK CN", "MAX 40 km/h",
)

# Plate colours (BGR): rear yellow, front white; characters black.
_YELLOW = (20, 200, 245)
_WHITE = (240, 240, 240)


class PlateRenderError(ValueError):
    """A plate or option the renderer cannot draw; the message names the field."""


@dataclass(frozen=True)
class RenderedFrame:
    """A frame with its ground truth: ``plate`` is None for a frame with no plate."""

    image: np.ndarray  # BGR uint8, FRAME_SIZE
    plate: str | None  # upper case, without spaces
    text: str | None  # as painted (personalised marks keep their single spaces)
    corners: np.ndarray | None  # 4x2 float32: plate corners TL, TR, BR, BL in the frame
    level: str
    font: str
    rows: int
    night: bool


@functools.cache
def font_path(name: str) -> str:
    """Path of a named font; a missing Debian package is a clear error, never a silent fallback."""
    try:
        filename = FONT_FILES[name]
    except KeyError:
        raise PlateRenderError(f"font: unknown font {name!r}; known: {sorted(FONT_FILES)}") from None
    for directory in _FONT_DIRS:
        candidate = directory / filename
        if candidate.exists():
            return str(candidate)
    raise PlateRenderError(
        f"font: {filename} not found under {', '.join(map(str, _FONT_DIRS))}; "
        "install the Debian packages fonts-dejavu-core fonts-liberation fonts-freefont-ttf"
    )


@functools.lru_cache(maxsize=64)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(name), size)


def random_plate(rng: np.random.Generator, kind: str | None = None) -> str:
    """A valid registration mark as painted (personalised marks may hold single spaces).

    ``kind``: ``standard`` (two letters, 1-9999), ``cross_boundary`` (FU/FV prefix) or
    ``personalised`` (up to 8 characters with single spaces); None picks by a rough
    share among goods vehicles (85% standard, 10% cross-boundary, 5% personalised).
    """
    if kind is None:
        # Personalised marks are mostly on private cars; on goods vehicles they are rare.
        kind = str(rng.choice(["standard", "cross_boundary", "personalised"], p=[0.85, 0.1, 0.05]))
    if kind in ("standard", "cross_boundary"):
        if kind == "standard":
            letters = "".join(rng.choice(list(PLATE_LETTERS), size=2))
        else:
            letters = str(rng.choice(CROSS_BOUNDARY_PREFIXES))
        # Numbers of every length are common; draw the length first.
        digits = int(rng.integers(1, 5))
        number = int(rng.integers(10 ** (digits - 1), 10**digits))
        return f"{letters}{number}"
    if kind == "personalised":
        alphabet = PLATE_LETTERS + PLATE_DIGITS
        while True:
            words = []
            for _ in range(int(rng.integers(1, 3))):
                size = int(rng.integers(2, 6))
                # Mostly letters, as marks are usually words or names.
                chars = rng.choice(list(alphabet), size=size, p=_personalised_weights(alphabet))
                words.append("".join(chars))
            text = " ".join(words)
            # A personalised mark may not pass for a standard one, even misread by a
            # character: the grammar would rightly read it as the standard mark.
            if len(text) <= 8 and grammar.check(text).kind == "personalised":
                return text
    raise PlateRenderError(f"kind: unknown plate kind {kind!r}")


@functools.cache
def _personalised_weights(alphabet: str) -> np.ndarray:
    weights = np.array([3.0 if c.isalpha() else 1.0 for c in alphabet])
    return np.asarray(weights / weights.sum())


def _looks_standard(mark: str) -> bool:
    return (
        len(mark) >= 3
        and mark[:2].isalpha()
        and mark[2:].isdigit()
        and mark[2] != "0"
        and len(mark) <= 6
    )


def render_plate(
    text: str,
    *,
    font: str = "dejavu",
    rows: int = 1,
    colour: str = "yellow",
    height: int = 120,
) -> np.ndarray:
    """A flat plate image (BGR): coloured board, black border, black characters.

    Single-row plates are about 520x110 mm; two-row plates about 2:1.3, letters above
    the number.
    """
    mark = text.strip().upper()
    if not mark or len(mark.replace(" ", "")) > 8:
        raise PlateRenderError(f"plate: {text!r} must hold 1 to 8 characters")
    if rows not in (1, 2):
        raise PlateRenderError(f"rows: must be 1 or 2, got {rows}")
    if colour not in ("yellow", "white"):
        raise PlateRenderError(f"colour: must be 'yellow' or 'white', got {colour!r}")
    bg = _YELLOW if colour == "yellow" else _WHITE
    if rows == 1:
        width = round(height * 520 / 110)
        lines = [_spaced_single_row(mark)]
    else:
        width = round(height * 1.55)
        compact = mark.replace(" ", "")
        split = next((i for i, c in enumerate(compact) if c.isdigit()), len(compact))
        if split in (0, len(compact)):
            raise PlateRenderError(f"plate: {text!r} has no letters-then-number split for two rows")
        lines = [compact[:split], compact[split:]]
    board = Image.new("RGB", (width, height), bg[::-1])
    draw = ImageDraw.Draw(board)
    border = max(2, height // 30)
    inset = max(2, height // 25)
    draw.rectangle(
        [inset, inset, width - 1 - inset, height - 1 - inset], outline=(10, 10, 10), width=border
    )
    inner_h = height - 2 * (inset + border)
    line_h = inner_h * (0.72 if rows == 1 else 0.40)
    gap = (inner_h - rows * line_h) / (rows + 1)
    top = inset + border + gap
    for line in lines:
        glyphs = _render_line(line, font, int(line_h), int((width - 2 * (inset + border)) * 0.9))
        x = (width - glyphs.width) // 2
        board.paste((10, 10, 10), (x, int(top)), glyphs)
        top += line_h + gap
    return cv2.cvtColor(np.asarray(board), cv2.COLOR_RGB2BGR)


def _spaced_single_row(mark: str) -> str:
    compact = mark.replace(" ", "")
    if _looks_standard(compact):
        return f"{compact[:2]} {compact[2:]}"  # painted as "AB 1234"
    return mark


def _render_line(line: str, font: str, cap_height: int, max_width: int) -> Image.Image:
    """The line as an 'L' mask whose capitals are ``cap_height`` tall, squeezed to fit.

    Characters are placed one by one with even gaps on a common baseline, as plate makers
    do, not kerned as in print (kerning would let "TV" or "AV" touch).
    """
    size = 200
    face = _font(font, size)
    cap_top = face.getbbox("H", anchor="ls")[1]  # negative: above the baseline
    gap = round(-cap_top * 0.14)
    space = round(-cap_top * 0.55)
    extents = [face.getbbox(c, anchor="ls") if c != " " else None for c in line]
    total = round(sum(space if e is None else (e[2] - e[0]) + gap for e in extents))
    descent = max((e[3] for e in extents if e is not None), default=0)
    mask = Image.new("L", (max(1, total), max(1, round(descent - cap_top + 1))), 0)
    draw = ImageDraw.Draw(mask)
    x = 0.0
    for char, ext in zip(line, extents, strict=True):
        if ext is None:
            x += space
            continue
        draw.text((x - ext[0], -cap_top), char, font=face, fill=255, anchor="ls")
        x += (ext[2] - ext[0]) + gap
    mask = mask.crop(mask.getbbox())
    # A descending J would hit the border: the whole line, descender included, fits the row.
    scale = cap_height / max(1, -cap_top, mask.height)
    new_w = min(max(1, int(mask.width * scale)), max_width)
    return mask.resize((new_w, max(1, int(mask.height * scale))), Image.Resampling.LANCZOS)


def render_sample(
    plate: str | None,
    *,
    rng: np.random.Generator,
    level: str = "normal",
    font: str | None = None,
    fonts: tuple[str, ...] = TUNING_FONTS,
) -> RenderedFrame:
    """A 640x480 BGR frame holding ``plate`` (or only clutter when ``plate`` is None)."""
    if level not in LEVELS:
        raise PlateRenderError(f"level: unknown level {level!r}; known: {', '.join(LEVELS)}")
    if font is None:
        font = str(rng.choice(fonts))
    font_path(font)
    width, height = FRAME_SIZE
    frame = _background(rng, width, height)
    if level == "none" or plate is None:
        _clutter(frame, rng, plate_like=True)
        image = _degrade(frame, rng, blur=0.7, noise=4.0, jpeg=(60, 92))
        return RenderedFrame(image, None, None, None, level, font, 0, False)

    rows = 2 if level == "two_row" else 1
    colour = "yellow" if rows == 2 or rng.random() < 0.6 else "white"
    night = level == "hard" and rng.random() < 1 / 3
    _clutter(frame, rng, plate_like=False)
    flat = render_plate(plate, font=font, rows=rows, colour=colour, height=120 if rows == 1 else 160)
    if level == "hard":
        plate_w = rng.uniform(120, 190)
        tilt, skew = 9.0, 0.12
    elif level == "two_row":
        plate_w = rng.uniform(130, 200)
        tilt, skew = 5.0, 0.06
    else:
        plate_w = rng.uniform(190, 300)
        tilt, skew = 4.0, 0.05
    corners = _place(rng, flat.shape[1], flat.shape[0], plate_w, tilt, skew, width, height)
    src = np.array([[0, 0], [flat.shape[1] - 1, 0], [flat.shape[1] - 1, flat.shape[0] - 1],
                      [0, flat.shape[0] - 1]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, corners)
    warped = cv2.warpPerspective(flat, matrix, (width, height), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full(flat.shape[:2], 255, np.uint8), matrix, (width, height))
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    frame = (warped * alpha + frame * (1 - alpha)).astype(np.uint8)

    if level == "hard":
        if rng.random() < 0.5:
            frame = _shadow(frame, rng, corners)
        if night:
            frame = _night(frame, rng, mask)
        image = _degrade(frame, rng, blur=rng.uniform(0.8, 1.5), noise=rng.uniform(6, 12),
                         jpeg=(15, 40), motion=night or rng.random() < 0.3)
    else:
        image = _degrade(frame, rng, blur=rng.uniform(0.3, 0.8), noise=rng.uniform(1, 4), jpeg=(75, 95))
    compact = plate.replace(" ", "").upper()
    return RenderedFrame(image, compact, plate.upper(), corners, level, font, rows, night)


def render_frame(
    plate: str | None,
    *,
    rng: np.random.Generator,
    level: str = "normal",
    font: str | None = None,
    fonts: tuple[str, ...] = TUNING_FONTS,
) -> np.ndarray:
    """The frame alone (BGR uint8, 640x480); see ``render_sample`` for ground truth."""
    return render_sample(plate, rng=rng, level=level, font=font, fonts=fonts).image


def sample_for_seed(seed: int, level: str, *, fonts: tuple[str, ...] = TUNING_FONTS) -> RenderedFrame:
    """The frame a seed names at a level: the plate kind and conditions follow from the seed."""
    rng = np.random.default_rng([seed, LEVELS.index(level)])
    if level == "none":
        return render_sample(None, rng=rng, level=level, fonts=fonts)
    kind = "standard" if level == "two_row" else None
    return render_sample(random_plate(rng, kind), rng=rng, level=level, fonts=fonts)


# -- scene ----------------------------------------------------------------------------------------


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Road, sky and a truck body of random colour with a grille: edges everywhere."""
    frame = np.empty((height, width, 3), np.float32)
    top = rng.uniform(40, 220, 3)
    bottom = rng.uniform(20, 160, 3)
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    frame[:] = top * (1 - ramp) + bottom * ramp
    body = tuple(float(v) for v in rng.uniform(20, 235, 3))
    x0, x1 = int(rng.uniform(0, 120)), int(rng.uniform(width - 120, width))
    y0, y1 = int(rng.uniform(0, 120)), int(rng.uniform(height - 60, height))
    cv2.rectangle(frame, (x0, y0), (x1, y1), body, -1)
    grille_y = int(rng.uniform(y0 + 20, max(y0 + 21, y1 - 120)))
    for k in range(int(rng.integers(3, 9))):
        y = grille_y + k * int(rng.integers(6, 14))
        shade = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cv2.line(frame, (x0 + 30, y), (x1 - 30, y), shade, int(rng.integers(1, 4)))
    return frame.clip(0, 255).astype(np.uint8)


def _clutter(frame: np.ndarray, rng: np.random.Generator, *, plate_like: bool) -> None:
    height, width = frame.shape[:2]
    for _ in range(int(rng.integers(3, 9))):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        shape = rng.integers(0, 3)
        if shape == 0:
            cv2.rectangle(frame, (x, y), (x + int(rng.integers(10, 160)), y + int(rng.integers(10, 90))),
                          colour, int(rng.choice([-1, 1, 2, 3])))
        elif shape == 1:
            cv2.circle(frame, (x, y), int(rng.integers(5, 50)), colour, int(rng.choice([-1, 2])))
        else:
            cv2.line(frame, (x, y), (int(rng.integers(0, width)), int(rng.integers(0, height))),
                     colour, int(rng.integers(1, 4)))
    for _ in range(int(rng.integers(1, 4))):
        _paint_text(frame, rng, str(rng.choice(_CLUTTER_WORDS)))
    if plate_like:
        # Blank boards and lettered signs of plate shape and colour: the hardest negatives.
        for _ in range(int(rng.integers(1, 3))):
            w = int(rng.uniform(120, 280))
            h = int(w / rng.uniform(2.5, 5.0))
            x, y = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
            colour = _YELLOW if rng.random() < 0.5 else _WHITE
            cv2.rectangle(frame, (x, y), (x + w, y + h), colour, -1)
            cv2.rectangle(frame, (x + 3, y + 3), (x + w - 4, y + h - 4), (10, 10, 10), 2)
            if rng.random() < 0.5:
                _paint_text(frame, rng, str(rng.choice(_CLUTTER_WORDS)), at=(x + 8, y + h // 2 - 8),
                            size=max(10, h // 3))


def _paint_text(
    frame: np.ndarray,
    rng: np.random.Generator,
    text: str,
    *,
    at: tuple[int, int] | None = None,
    size: int | None = None,
) -> None:
    height, width = frame.shape[:2]
    size = size or int(rng.integers(12, 36))
    face = _font(str(rng.choice(_CLUTTER_FONTS)), size)
    if at is None:
        at = (int(rng.integers(0, width - 60)), int(rng.integers(0, height - 20)))
    image = Image.fromarray(frame)
    colour = tuple(int(v) for v in rng.integers(0, 256, 3))
    ImageDraw.Draw(image).text(at, text, font=face, fill=colour)
    frame[:] = np.asarray(image)


def _place(
    rng: np.random.Generator,
    flat_w: int,
    flat_h: int,
    plate_w: float,
    tilt_deg: float,
    skew: float,
    width: int,
    height: int,
) -> np.ndarray:
    plate_h = plate_w * flat_h / flat_w
    margin = 12
    cx = rng.uniform(plate_w / 2 + margin, width - plate_w / 2 - margin)
    cy = rng.uniform(height * 0.35, height - plate_h / 2 - margin)
    half = np.array([[-plate_w / 2, -plate_h / 2], [plate_w / 2, -plate_h / 2],
                       [plate_w / 2, plate_h / 2], [-plate_w / 2, plate_h / 2]], np.float32)
    # Perspective: one side nearer the camera than the other, a little top/bottom foreshortening.
    side = rng.uniform(-skew, skew)
    half[[1, 2], 1] *= 1 + side
    half[[0, 3], 1] *= 1 - side
    half[:, 0] *= 1 + rng.uniform(-skew, skew) * np.array([1, 1, -1, -1], np.float32) / 2
    angle = math.radians(rng.uniform(-tilt_deg, tilt_deg))
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    return np.asarray(half @ rot.T + np.array([cx, cy], np.float32), np.float32)


def _shadow(frame: np.ndarray, rng: np.random.Generator, corners: np.ndarray) -> np.ndarray:
    """A straight-edged shadow across part of the plate, as from a bumper or a mirror."""
    height, width = frame.shape[:2]
    xs = corners[:, 0]
    cut = rng.uniform(xs.min() + 0.25 * np.ptp(xs), xs.max() - 0.25 * np.ptp(xs))
    lean = rng.uniform(-0.6, 0.6) * height
    poly = np.array([[cut - lean / 2, 0], [width, 0], [width, height], [cut + lean / 2, height]], np.int32)
    if rng.random() < 0.5:
        poly = np.array([[cut - lean / 2, 0], [0, 0], [0, height], [cut + lean / 2, height]], np.int32)
    shade = np.ones((height, width), np.float32)
    cv2.fillPoly(shade, [poly], float(rng.uniform(0.45, 0.7)))
    soft = cv2.GaussianBlur(shade, (0, 0), 3)
    return np.asarray((frame * soft[..., None]).clip(0, 255), np.uint8)


def _night(frame: np.ndarray, rng: np.random.Generator, plate_mask: np.ndarray) -> np.ndarray:
    """Infra-red look: grey, dark scene, the retro-reflective plate bright."""
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.float32)
    scene = grey * rng.uniform(0.15, 0.35)
    plate = np.minimum(255, grey * rng.uniform(1.05, 1.25) + 20)
    alpha = plate_mask.astype(np.float32) / 255.0
    mixed = plate * alpha + scene * (1 - alpha)
    return cv2.cvtColor(mixed.clip(0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def _degrade(
    frame: np.ndarray,
    rng: np.random.Generator,
    *,
    blur: float,
    noise: float,
    jpeg: tuple[int, int],
    motion: bool = False,
) -> np.ndarray:
    out = frame
    if motion:
        length = int(rng.integers(4, 8))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        out = cv2.filter2D(out, -1, kernel)
    if blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    noisy = out.astype(np.float32) + rng.normal(0, noise, out.shape).astype(np.float32)
    out = noisy.clip(0, 255).astype(np.uint8)
    quality = int(rng.integers(jpeg[0], jpeg[1] + 1))
    ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise PlateRenderError("jpeg: OpenCV could not encode the frame")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise PlateRenderError("jpeg: OpenCV could not decode the frame")
    return np.asarray(decoded)
