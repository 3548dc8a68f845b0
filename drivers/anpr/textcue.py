"""Find plates by their characters: a row of dark, equal-height blobs on a light board.

The colour and edge cues look for the board's outline, and lose it when the board touches
something of its own colour or the border blurs away. Characters survive that: this cue
finds character-like dark blobs, chains those of equal height on one line (two lines
stacked for two-row plates), and proposes the plate around them, at the plate's real
proportions. It checks that most of the proposed board really is plate-coloured, so
lettering on a truck body does not pass for a plate.
"""

from __future__ import annotations

import cv2
import numpy as np

_MIN_CHAR_H, _MAX_CHAR_H = 9, 90
_BOARD_SHARE = 0.6


def text_candidates(grey: np.ndarray, board: np.ndarray) -> list[tuple[np.ndarray, int, float]]:
    """(corners TL TR BR BL, rows, score) for each plausible character row or row pair.

    ``board``: mask (255) of plate-coloured pixels (yellow, white, or bright in infra-red).
    """
    rows = []
    # Two neighbourhood sizes: small characters need a small one, the thick strokes of large
    # characters a large one (else their insides count as background and they fall apart).
    for block in (31, 71):
        ink = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 15)
        count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
        blobs = []
        for i in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[i])
            # Up to two characters wide: blur joins neighbours ("UW" as one blob), and a
            # row that loses one drops out of its chain, leaving the plate's outline short.
            if not (_MIN_CHAR_H <= h <= _MAX_CHAR_H) or not (0.18 * h <= w <= 2.4 * h):
                continue
            if not (0.15 <= area / (w * h) <= 0.9):
                continue
            blobs.append((x, y, w, h))
        rows.extend(_chains(blobs))
    out: list[tuple[np.ndarray, int, float]] = []
    for row in rows:
        if 2 <= len(row) <= 8:
            quad = _plate_around([row], single=True)
            out.append((quad, 1, 0.9 + 0.02 * len(row)))
    # Each row's figures once (the pairing below is quadratic in the rows).
    tops = [(row, float(np.median([b[3] for b in row])), max(b[1] + b[3] for b in row),
             float(np.mean([b[0] + b[2] / 2 for b in row]))) for row in rows if 1 <= len(row) <= 3]
    bottoms = [(row, float(np.median([b[3] for b in row])), min(b[1] for b in row),
                min(b[0] for b in row), max(b[0] + b[2] for b in row)) for row in rows if 1 <= len(row) <= 4]
    for top, th, t_bottom, t_cx in tops:
        for bottom, bh, b_top, b_left, b_right in bottoms:
            if top is bottom:
                continue
            if abs(th - bh) <= 0.25 * bh and 0 < b_top - t_bottom < 0.8 * bh and b_left <= t_cx <= b_right:
                out.append((_plate_around([top, bottom], single=False), 2, 1.0))
    return [c for c in out if _board_share(board, c[0]) >= _BOARD_SHARE]


def _chains(blobs: list[tuple[int, int, int, int]]) -> list[list[tuple[int, int, int, int]]]:
    """Blobs linked left to right when of similar height, on one line, and close."""
    blobs = sorted(blobs)
    parent = list(range(len(blobs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (x1, y1, w1, h1) in enumerate(blobs):
        for j in range(i + 1, len(blobs)):
            x2, y2, _, h2 = blobs[j]
            if x2 > x1 + w1 + 1.6 * h1:
                break  # sorted by x: everything further is too far
            if abs(h1 - h2) > 0.2 * max(h1, h2):
                continue
            if abs((y1 + h1 / 2) - (y2 + h2 / 2)) > 0.3 * max(h1, h2):
                continue
            parent[find(j)] = find(i)
    groups: dict[int, list[tuple[int, int, int, int]]] = {}
    for i, blob in enumerate(blobs):
        groups.setdefault(find(i), []).append(blob)
    return list(groups.values())


def _plate_around(rows: list[list[tuple[int, int, int, int]]], *, single: bool) -> np.ndarray:
    """The plate's outline around its characters, at a Hong Kong plate's proportions."""
    points = np.array([[x, y] for row in rows for (x, y, w, h) in row for (x, y) in
                         ((x, y), (x + w, y), (x, y + h), (x + w, y + h))], np.float32)
    (cx, cy), (w, h), angle = cv2.minAreaRect(points)
    if w < h:  # OpenCV's angle convention: make w the text's width
        w, h, angle = h, w, angle - 90
    char_h = float(np.median([b[3] for row in rows for b in row]))
    if single:
        plate_h = char_h / 0.6
        plate_w = max(w + 2.4 * char_h, plate_h * 4.7)  # room for a character the chain missed
    else:
        plate_h = h / 0.8
        plate_w = max(w + 1.0 * char_h, plate_h * 1.55)
    box = cv2.boxPoints(((cx, cy), (plate_w, plate_h), angle))
    from drivers.anpr.locate import order_corners  # late import: locate imports this module

    return order_corners(np.asarray(box, np.float32))


def _board_share(board: np.ndarray, quad: np.ndarray) -> float:
    mask = np.zeros(board.shape, np.uint8)
    cv2.fillConvexPoly(mask, quad.astype(np.int32), 255)
    inside = mask > 0
    total = int(inside.sum())
    return float((board[inside] > 0).sum()) / total if total else 0.0
