"""Clean a straightened plate into one line of black characters on white.

Threshold (Otsu, after flattening uneven light such as a shadow across the plate), erase
the straight runs of the plate's border, then keep only character-like connected
components: anything touching the crop's edge, too thin, or out of line with its
neighbours goes. Components are grouped into rows; a two-row plate's rows are laid side
by side, letters first, so Tesseract always reads a single line. Each row is deslanted,
and the characters are re-laid with even gaps. The number of character blobs is kept to
check Tesseract's reading against.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

LINE_CHAR_HEIGHT = 40  # px: the height Tesseract's LSTM reads best at
_PAD = 12
GAP_DIV = 4

_RULE_SLOPE = 0.15  # a border line's largest tilt to the characters' row (about 8.5 degrees)
_THINNEST_FIRST = 0.29  # width / height; measured on the tuning set: characters 0.31 and up
# Ink beside a row, as a share of a character's ink, that may be a broken character.
_STRAY_SHARE = 0.3
Box = tuple[int, int, int, int, int]  # x, y, width, height, label


@dataclass(frozen=True)
class Segmented:
    """A plate's characters, cleaned, in reading order, grouped as painted.

    ``groups`` are the runs of characters separated by a wide gap (single row) or by the
    row break (two rows): a standard mark is two groups, letters then number.
    """

    groups: list[list[np.ndarray]]  # glyphs: black on white, LINE_CHAR_HEIGHT tall
    # The same glyphs in grey levels, background white: drawn only when read (most
    # segmentations are judged by their layout alone and never read).
    grey_source: Callable[[], list[list[np.ndarray]]]
    rows: int  # 1 or 2
    imbalance: float  # |left margin - right margin| in character heights: plates are centred
    height_ratio: float  # character height / crop height (per row for two rows)
    contrast: float  # board minus character grey level, 0-255: ink on a plate is far darker
    framed_source: Callable[[], bool]  # see ``framed`` (looked for only when asked)
    cut: bool = False  # a character-sized blob on the characters' line at the crop's side
    cut_sides: tuple[str, ...] = ()  # where such a blob is: "left", "right" (a crop to widen)
    extent: tuple[int, int] = (0, 0)  # crop columns from the first character to the last
    char_px: float = 0.0  # median character height in crop pixels
    band: tuple[int, int] = (0, 0)  # crop rows from the characters' top to their bottom

    @functools.cached_property
    def framed(self) -> bool:
        """Whether a border runs above and below the characters, as on a plate."""
        return self.framed_source()

    @functools.cached_property
    def grey_groups(self) -> list[list[np.ndarray]]:
        return self.grey_source()

    @property
    def blobs(self) -> int:
        return sum(len(g) for g in self.groups)

    @property
    def glyphs(self) -> list[np.ndarray]:
        return [g for group in self.groups for g in group]

    @property
    def line(self) -> np.ndarray:
        return compose(self.glyphs)

    def views(self) -> list[list[np.ndarray]]:
        """The glyphs three ways, for readings that can disagree: binary, grey levels, and
        binary with thinned strokes (blur fattens strokes and closes the loops of 6, 8, 9, B)."""
        kernel = np.ones((2, 2), np.uint8)
        thin = [255 - cv2.erode(255 - g, kernel) for g in self.glyphs]
        return [self.glyphs, [g for group in self.grey_groups for g in group], thin]


def binarise(grey: np.ndarray) -> np.ndarray:
    """Characters as white (255) on black, uneven illumination flattened first."""
    return _erase_border(_threshold(flatten(grey)))


def flatten(grey: np.ndarray) -> np.ndarray:
    """Grey levels with uneven illumination (a shadow across the plate) divided out."""
    h = grey.shape[0]
    # Divide by a background estimate (closing removes dark strokes): shadows cancel.
    size = max(3, (h // 3) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    background = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, kernel)
    return cv2.divide(grey, background, scale=255)


def _threshold(flat: np.ndarray, ink_bias: float = 0.0) -> np.ndarray:
    """Otsu's threshold, moved by ``ink_bias`` grey levels: positive counts more as ink,
    closing the gaps that blur and a dim light break into thin strokes."""
    flat = cv2.GaussianBlur(flat, (3, 3), 0)
    level, binary = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if ink_bias:
        _, binary = cv2.threshold(flat, min(254.0, level + ink_bias), 255, cv2.THRESH_BINARY_INV)
    return binary


def _erase_border(binary: np.ndarray) -> np.ndarray:
    """Remove the straight runs of any plate-wide component (the border, a bumper edge).

    Only those components are touched, so a character joined to the border keeps its
    shape while the border around it goes.
    """
    h, w = binary.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    wide = [i for i in range(1, count) if stats[i, cv2.CC_STAT_WIDTH] > 0.5 * w]
    if not wide:
        return binary
    ring = np.isin(labels, wide).astype(np.uint8) * 255
    horizontal = cv2.morphologyEx(ring, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT,
                                                                                   (w // 8, 1)))
    vertical = cv2.morphologyEx(ring, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT,
                                                                                 (1, h // 4)))
    straight = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    return cv2.subtract(binary, straight)


def segment(grey: np.ndarray, expect_rows: int, ink_bias: float = 0.0) -> Segmented | None:
    """The plate's characters as one clean line, or None when nothing character-like is there.

    ``ink_bias``: grey levels added to Otsu's threshold (see ``_threshold``)."""
    flat = flatten(grey)
    raw = _threshold(flat, ink_bias)
    binary = _erase_border(raw)
    h, w = binary.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    row_h = h * (0.72 if expect_rows == 1 else 0.40)
    boxes: list[Box] = []
    next_label = count  # labels for the pieces of split blobs
    at_sides: list[tuple[int, int, int, int]] = []  # character-sized blobs at the crop's sides
    thin: list[tuple[int, int, int, int]] = []  # character-tall blobs too thin for a character
    for i in range(1, count):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        off_crop = x <= 1 or x + bw >= w - 1
        side = off_crop or not 0.08 * w < x + bw / 2 < 0.92 * w
        # Filled like a character, not a thin or slanted border side; or running off the
        # crop's side, where any slice of a character (a sliver of a 2) is evidence enough.
        if side and y > 1 and y + bh < h - 1 and 0.45 * row_h <= bh <= 1.3 * row_h and (
                off_crop or (0.3 * bh <= bw <= 1.6 * bh and 0.25 <= area / (bw * bh) <= 0.85)):
            at_sides.append((x, y, bw, bh))
        if x <= 1 or y <= 1 or x + bw >= w - 1 or y + bh >= h - 1:
            continue  # touches the edge: outside the plate
        if not 0.08 * w < x + bw / 2 < 0.92 * w:
            continue  # where the plate's border runs: characters are centred well inside it
        if bh > 1.1 * row_h and area < 0.3 * bw * bh:
            continue  # tall and sparse: a slanted border side, not a character
        if not (0.45 * row_h <= bh <= 1.3 * row_h):
            continue
        # Plates never use I, so the narrowest character is a 1 with its flag: anything
        # thinner is a piece of the border or a bolt, or a 1 thinned by blur (see below).
        if area < 0.08 * bw * bh or bw < 0.18 * bh:
            thin.append((x, y, bw, bh))
            continue
        if bw > 1.6 * bh:
            if bw <= 3.5 * bh:  # wider still is a bar or a smear, not characters
                pieces = _split(labels, (x, y, bw, bh), i, next_label)
                # Each piece must itself look like a character (a split bar yields slivers).
                boxes.extend(p for p in pieces if p[3] >= 0.45 * row_h and p[2] >= 0.18 * p[3])
                next_label += len(pieces)
            continue
        boxes.append((x, y, bw, bh, i))
    if not boxes:
        return None
    checked = [_consensus(row) for row in _rows(boxes)]
    if any(r is None for r in checked):
        return None
    rows = [r for r in checked if r]
    if not rows or len(rows) > 2:
        return None
    # A broken border side left of the first character: thinner than any character that can
    # begin a mark (a standard mark begins with a letter; the narrowest, a J, is wider).
    first = min(rows[0], key=lambda b: b[0])
    if len(rows[0]) >= 3 and first[2] < _THINNEST_FIRST * first[3]:
        rows[0] = [b for b in rows[0] if b is not first]
    boxes = [b for row in rows for b in row]
    groups = _glyph_groups(labels, rows, None)
    def grey_groups() -> list[list[np.ndarray]]:
        return _glyph_groups(labels, rows, flat)

    left = min(b[0] for b in boxes)
    right = w - max(b[0] + b[2] for b in boxes)
    median_h = float(np.median([b[3] for b in boxes]))
    ink = np.isin(labels, [b[4] for b in boxes])
    x0, x1 = left, w - right
    y0, y1 = min(b[1] for b in boxes), max(b[1] + b[3] for b in boxes)
    board = ~ink[y0:y1, x0:x1]
    span = grey[y0:y1, x0:x1]
    contrast = float(span[board].mean() - grey[ink].mean()) if board.any() else 0.0
    # A plate's border: long dark lines both above and below the characters.
    def framed() -> bool:
        return _has_rule(raw[:y0]) and _has_rule(raw[y1:])

    # A blob at the crop's side the size of the characters and on their line: the outline
    # cut the plate short, and what is left would read as a shorter, wrong mark.
    # A bent border corner sits further out: a cut character is a character's gap away.
    cut_sides = tuple(sorted({"left" if side[0] + side[2] / 2 < min(b[0] for b in row) else "right"
                              for side in at_sides for row in rows if _continues(side, row, median_h)}))
    cut = bool(cut_sides)
    # A sliver just after the last character may be a 1 that blur has thinned: dropping it
    # turns "CT71" into the valid "CT7". (Before the first there is no 1: marks begin with
    # a letter, and a border side stands there.)
    last = rows[-1]
    end = max(b[0] + b[2] for b in last)
    cut = cut or any(b[0] >= end - 2 and _continues(b, last, median_h) for b in thin)
    cut = cut or _stray_ink(binary, ink, rows, median_h)
    return Segmented(groups, grey_groups, len(rows), abs(left - right) / median_h, median_h / h, contrast,
                     framed, cut, cut_sides, (x0, x1), median_h, (y0, y1))


def _stray_ink(binary: np.ndarray, ink: np.ndarray, rows: list[list[Box]], median_h: float) -> bool:
    """Whether pieces of ink on a row's line, between its characters or just past its last,
    add up to a good part of a character: a glyph that blur or a threshold broke into bits
    too small to keep ("DL670" read as the valid "DL67" with its 0 in three pieces).

    Before the first character stands the border's side, and a mark that lost its first
    letter is no standard mark; past the last, tall thin strokes a gap away are the border's
    other side (a thinned 1 right beside the row is caught as a sliver)."""
    rest = np.where(ink, 0, binary).astype(np.uint8)
    w = binary.shape[1]
    reach = int(0.8 * median_h)
    for row in rows:
        ordered = sorted(row, key=lambda b: b[0])
        top, bottom = min(b[1] for b in row), max(b[1] + b[3] for b in row)
        glyph_ink = float(np.median([b[2] * b[3] for b in row])) * 0.5
        end = ordered[-1][0] + ordered[-1][2]
        windows = [(a[0] + a[2], b[0]) for a, b in itertools.pairwise(ordered)]
        windows.append((end, min(w, end + reach)))
        count, _, stats, _ = cv2.connectedComponentsWithStats(rest[top:bottom], connectivity=8)
        pieces = [tuple(int(v) for v in stats[i]) for i in range(1, count)]
        for lo, hi in windows:
            total = 0
            for x, _, bw, bh, area in pieces:
                if not lo <= x + bw / 2 <= hi or bh < 0.15 * median_h or x <= 1 or x + bw >= w - 1:
                    continue  # elsewhere, a speck of noise, or something running off the crop
                if lo == end and bh >= 0.5 * median_h and bw <= 0.3 * median_h and x - end > 0.3 * median_h:
                    continue  # the border's side
                total += area
            if total >= _STRAY_SHARE * glyph_ink:
                return True
    return False


def _has_rule(band: np.ndarray) -> bool:
    """Whether a straight dark line a third of the crop wide runs across ``band``, level
    or tilted a little: an outline found from the characters (the text cue) follows their
    row, and perspective leaves the border at a small angle to it."""
    h, w = band.shape
    if h < 2:
        return False
    lines = cv2.HoughLinesP(band, 1, np.pi / 180, threshold=max(10, w // 6), minLineLength=w // 3,
                            maxLineGap=3)
    if lines is None:
        return False
    return any(abs(int(y2) - int(y1)) <= _RULE_SLOPE * abs(int(x2) - int(x1))
               for x1, y1, x2, y2 in lines.reshape(-1, 4))


def _continues(side: tuple[int, int, int, int], row: list[Box], median_h: float) -> bool:
    """Whether a blob at the crop's side continues ``row``: as tall, on its line, and no
    further from its end than characters are from each other."""
    x, y, bw, bh = side
    top, bottom = min(b[1] for b in row), max(b[1] + b[3] for b in row)
    if not 0.8 * median_h <= bh <= 1.25 * median_h or abs(y + bh / 2 - (top + bottom) / 2) > 0.3 * median_h:
        return False
    left, right = min(b[0] for b in row), max(b[0] + b[2] for b in row)
    gap = left - (x + bw) if x + bw / 2 < left else x - right
    return -2 <= gap <= 0.5 * median_h


def _glyph_groups(
    labels: np.ndarray, rows: list[list[Box]], flat: np.ndarray | None
) -> list[list[np.ndarray]]:
    """Each row's glyphs cut out, deslanted and scaled, split into groups at wide gaps.

    With ``flat`` the glyphs keep their grey levels (Tesseract's LSTM reads grey, and the
    anti-aliased edges of a small blurred character carry its shape better than a
    threshold does); without, they are binary.
    """
    groups: list[list[np.ndarray]] = []
    for row in rows:
        row.sort(key=lambda b: b[0])
        top = min(b[1] for b in row)
        bottom = max(b[1] + b[3] for b in row)
        glyphs = [(labels[top:bottom, x:x + bw] == label).astype(np.uint8) * 255
                  for x, _, bw, _, label in row]
        slant = _slant(glyphs)
        if flat is not None:
            glyphs = [_grey_glyph(flat[top:bottom, x:x + bw], mask) for (x, _, bw, _, _), mask
                      in zip(row, glyphs, strict=True)]
        scale = LINE_CHAR_HEIGHT / max(1, bottom - top)
        scaled = []
        for glyph in glyphs:
            if abs(slant) > 0.06:
                glyph = _shear(glyph, slant)
            glyph = cv2.resize(glyph, (max(1, round(glyph.shape[1] * scale)), LINE_CHAR_HEIGHT),
                               interpolation=cv2.INTER_AREA)
            scaled.append(255 - glyph)

        gaps = [row[k + 1][0] - (row[k][0] + row[k][2]) for k in range(len(row) - 1)]
        median_h = float(np.median([b[3] for b in row]))
        # The usual gap is that between characters of one group: the widest gap may be the
        # painted space itself (of two gaps, as in "FU 6", the median would include it).
        usual = float(np.median(sorted(gaps)[:-1])) if len(gaps) > 1 else 0.0
        current = [scaled[0]]
        for gap, glyph in zip(gaps, scaled[1:], strict=True):
            # The painted space between letters and number is several character gaps wide.
            if gap > max(0.3 * median_h, 1.6 * usual) and len(gaps) > 1:
                groups.append(current)
                current = []
            current.append(glyph)
        groups.append(current)
    return groups


def _grey_glyph(region: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ink darkness (255 = darkest) inside the glyph's slightly grown mask, 0 elsewhere."""
    near = cv2.dilate(mask, np.ones((3, 3), np.uint8)) > 0
    ink = 255.0 - region.astype(np.float32)
    lo, hi = float(np.percentile(ink[near], 5)), float(ink[mask > 0].max(initial=1.0))
    ink = (ink - lo) * (255.0 / max(1.0, hi - lo))
    return np.where(near, ink.clip(0, 255), 0).astype(np.uint8)


def compose(glyphs: list[np.ndarray]) -> np.ndarray:
    """Glyphs laid side by side with even gaps, padded: one word for Tesseract.

    Even gaps matter: the wide gap between letters and number otherwise reads as a word
    break, and Tesseract scores the character after it poorly.
    """
    if not glyphs:
        raise ValueError("glyphs: at least one glyph is needed to compose a line")
    gap = np.full((LINE_CHAR_HEIGHT, LINE_CHAR_HEIGHT // GAP_DIV), 255, np.uint8)
    parts: list[np.ndarray] = []
    for glyph in glyphs:
        parts.extend([glyph, gap])
    line = np.hstack(parts[:-1])
    return cv2.copyMakeBorder(line, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_CONSTANT, value=255)


def _slant(glyphs: list[np.ndarray]) -> float:
    """Pooled within-glyph x-on-y slope: a sheared plate leans every character the same way."""
    mu11 = mu02 = 0.0
    for glyph in glyphs:
        m = cv2.moments(glyph, binaryImage=True)
        mu11 += m["mu11"]
        mu02 += m["mu02"]
    return mu11 / mu02 if mu02 > 0 else 0.0


def _shear(glyph: np.ndarray, slant: float) -> np.ndarray:
    h, w = glyph.shape
    extra = int(abs(slant) * h) + 1
    # x' = x - slant * y, shifted right just enough to keep every pixel in the image.
    matrix = np.array([[1, -slant, max(0.0, slant * h)], [0, 1, 0]], np.float32)
    out = cv2.warpAffine(glyph, matrix, (w + extra, h), flags=cv2.INTER_LINEAR, borderValue=0)
    cols = np.nonzero(out.max(axis=0))[0]
    return out[:, cols.min():cols.max() + 1] if len(cols) else out


def _rows(boxes: list[Box]) -> list[list[Box]]:
    """Group blobs by vertical centre: a new row starts where centres jump by over half a height."""
    ordered = sorted(boxes, key=lambda b: b[1] + b[3] / 2)
    median_h = float(np.median([b[3] for b in boxes]))
    rows: list[list[Box]] = [[ordered[0]]]
    for box in ordered[1:]:
        prev = rows[-1][-1]
        if (box[1] + box[3] / 2) - (prev[1] + prev[3] / 2) > 0.5 * median_h:
            rows.append([box])
        else:
            rows[-1].append(box)
    return sorted(rows, key=lambda r: min(b[1] for b in r))


def _consensus(row: list[Box]) -> list[Box] | None:
    """Characters of one row share a height and a centre line: drop blobs that do not.

    A misfit outside the text's span is a bolt or a border piece and goes; a misfit in
    the middle of the text may be a character, so the whole row is refused (None) rather
    than read with a character missing.
    """
    if len(row) < 3:
        return row
    median_h = float(np.median([b[3] for b in row]))
    centre = float(np.median([b[1] + b[3] / 2 for b in row]))

    def fits(b: Box) -> bool:
        # A descending J is up to about a third taller than the capitals.
        return 0.75 * median_h <= b[3] <= 1.35 * median_h and abs(b[1] + b[3] / 2 - centre) <= 0.3 * median_h

    kept = [b for b in row if fits(b)]
    if kept:
        left, right = min(b[0] for b in kept), max(b[0] + b[2] for b in kept)
        if any(left < b[0] + b[2] / 2 < right for b in row if not fits(b)):
            return None
        # A misfit just a character's gap from either end, most of a character tall, may be
        # a character blur has changed (a lost 1 turns "CT71" into the valid "CT7"): refuse.
        near = [b for b in row if not fits(b) and b[3] >= 0.6 * median_h
                and -2 <= max(left - (b[0] + b[2]), b[0] - right) <= 0.5 * median_h]
        if near:
            return None
    return kept


def _split(labels: np.ndarray, box: tuple[int, int, int, int], label: int, first_new: int) -> list[Box]:
    """Cut a blob of several joined characters at its thinnest columns; relabel the pieces."""
    x, y, bw, bh = box
    region = labels[y:y + bh, x:x + bw]
    mine = region == label
    pieces = max(2, round(bw / (0.68 * bh)))
    profile = mine.sum(axis=0)
    cuts = [0]
    for k in range(1, pieces):
        centre = k * bw / pieces
        lo, hi = int(centre - 0.3 * bw / pieces), int(centre + 0.3 * bw / pieces) + 1
        cuts.append(lo + int(np.argmin(profile[lo:hi])))
    cuts.append(bw)
    out = []
    for k in range(pieces):
        piece = np.zeros_like(mine)
        piece[:, cuts[k]:cuts[k + 1]] = mine[:, cuts[k]:cuts[k + 1]]
        ys, xs = np.nonzero(piece)
        if len(xs) == 0:
            continue
        new_label = first_new + k
        region[piece] = new_label
        left, top = x + int(xs.min()), y + int(ys.min())
        out.append((left, top, int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1, new_label))
    return out
