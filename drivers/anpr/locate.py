"""Find plate candidates in a frame and warp each one flat.

Cues, each giving contours that are then judged by geometry alone:

- colour: yellow (rear plates) in HSV; bright and unsaturated (front plates, and the
  retro-reflective plate in a grey infra-red night frame), at two brightness levels so a
  plate half in shadow still comes out whole at the lower one;
- edges: Canny edges closed into blobs, for plates whose colour the light has changed.

A candidate is a quadrilateral of plausible area and aspect (single-row about 4.7:1,
two-row about 1.6:1) that fills its rotated bounding box. Candidates are ranked by
how plate-like they are; the reader decides among the best few by reading them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from drivers.anpr.textcue import text_candidates

# Canonical sizes the plate is warped to: big enough for Tesseract at any input size.
SINGLE_ROW_SIZE = (376, 80)  # width, height
_OTHER_SLOTS = 2  # of find_candidates' places, kept for outlines not found by the text cue
TWO_ROW_SIZE = (248, 160)

_MIN_AREA = 600.0  # px^2 in a 640x480 frame: a plate about 80x16 px is the smallest read
_MAX_AREA_SHARE = 0.25


@dataclass(frozen=True)
class Candidate:
    corners: np.ndarray  # 4x2 float32, TL TR BR BL
    aspect: float  # long side / short side
    score: float  # higher is more plate-like
    cue: str
    rows: int = 0  # 1 or 2 when the cue knows; 0: judge by aspect

    @property
    def two_row(self) -> bool:
        return self.rows == 2 if self.rows else self.aspect < 2.6


def find_candidates(frame: np.ndarray, limit: int = 4) -> list[Candidate]:
    """Plate-like quadrilaterals, best first, overlapping ones merged."""
    if frame.ndim == 2:
        frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    _, sat, val = cv2.split(hsv)
    masks = {
        "yellow": cv2.inRange(hsv, np.array([14, 130, 60]), np.array([40, 255, 255])),
        "white": ((sat < 60) & (val > 150)).astype(np.uint8) * 255,
        "white-dim": ((sat < 70) & (val > 95)).astype(np.uint8) * 255,
    }
    found: list[Candidate] = []
    area_max = frame.shape[0] * frame.shape[1] * _MAX_AREA_SHARE
    for cue, mask in masks.items():
        found.extend(_from_mask(mask, cue, area_max))
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    edges = cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), 60, 160)
    closed = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    found.extend(_from_mask(closed, "edges", area_max))
    board = cv2.bitwise_or(masks["yellow"], masks["white-dim"])
    outlined = list(found)
    for corners, rows, score in text_candidates(grey, board):
        across = float(np.linalg.norm(corners[1] - corners[0]))
        down = float(np.linalg.norm(corners[3] - corners[0]))
        # The text cue guesses the outline from the characters it chained, and a chain that
        # missed a faint character guesses it off-centre: where a board's own outline was
        # found around the same place, that outline goes first.
        same = [c.score for c in outlined if _iou(corners, c.corners) >= 0.5]
        if same:
            score = min(score, max(same) - 0.01)
        found.append(Candidate(corners, max(across, down) / max(1.0, min(across, down)), score, "text", rows))
    found.sort(key=lambda c: c.score, reverse=True)
    kept: list[Candidate] = []
    for cand in found:
        # Painted lettering (a company name, a sign) chains into many confident text
        # outlines; they must not crowd out every board found by its colour or edges.
        if cand.cue == "text" and sum(k.cue == "text" for k in kept) >= limit - _OTHER_SLOTS:
            continue
        # Over the union, not the smaller area: an outline around half the characters
        # (a partial text chain, a half-shadowed board) must not hide the whole plate's.
        if all(_iou(cand.corners, k.corners) < 0.6 for k in kept):
            kept.append(cand)
        if len(kept) >= limit:
            break
    return kept


def _from_mask(mask: np.ndarray, cue: str, area_max: float) -> list[Candidate]:
    # Opening removes noise specks and thin lines that would join a plate to clutter.
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3)))
    # Every component's outer boundary, nested ones included (the board inside a plate's
    # black border sits inside whatever surrounds the plate when that has the plate's
    # colour), but never the boundary of a hole: lettering cut out of a coloured area is
    # not a board.
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    out: list[Candidate] = []
    for index, contour in enumerate(contours):
        if hierarchy[0][index][3] != -1:
            continue  # a hole
        area = cv2.contourArea(contour)
        if area < _MIN_AREA or area > area_max:
            continue
        (_, _), (w, h), _ = cv2.minAreaRect(contour)
        if min(w, h) < 12:
            continue
        aspect = max(w, h) / min(w, h)
        if not (1.3 <= aspect <= 6.5):
            continue
        hull = cv2.convexHull(contour)
        fill = area / max(1.0, w * h)
        if fill < 0.72:
            continue
        corners = _quad(hull)
        # Aspects near the two real plate shapes score best.
        shape = min(abs(aspect - 4.7) / 4.7, abs(aspect - 1.6) / 1.6 + 0.05)
        score = fill - shape + (0.2 if cue == "yellow" else 0.0) + min(area, 20000) / 200000
        out.append(Candidate(corners, aspect, score, cue))
    return out


def _quad(hull: np.ndarray) -> np.ndarray:
    """Four corners of a convex outline: polygon approximation, else the rotated box."""
    perimeter = cv2.arcLength(hull, True)
    hull_area = cv2.contourArea(hull)
    for eps in (0.02, 0.035, 0.05):
        poly = cv2.approxPolyDP(hull, eps * perimeter, True)
        # A quad that cuts off a corner of the outline would cut off characters too.
        if len(poly) == 4 and cv2.contourArea(poly) >= 0.93 * hull_area:
            return order_corners(poly.reshape(4, 2).astype(np.float32))
    box = cv2.boxPoints(cv2.minAreaRect(hull))
    return order_corners(np.asarray(box, np.float32))


def order_corners(points: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL, whatever order the points came in."""
    pts = points.reshape(4, 2).astype(np.float32)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # counter-clockwise from the left in image axes: TL first-ish
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller area of two quadrilaterals."""
    area, _ = cv2.intersectConvexConvex(a, b)
    small = min(cv2.contourArea(a), cv2.contourArea(b))
    return float(area) / small if small > 0 else 0.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    area, _ = cv2.intersectConvexConvex(a, b)
    union = cv2.contourArea(a) + cv2.contourArea(b) - float(area)
    return float(area) / union if union > 0 else 0.0


WARP_MARGIN = 0.07  # share of the crop on each side outside the outline


def warp(
    frame: np.ndarray, cand: Candidate, margin: float = WARP_MARGIN, *, colour: bool = False
) -> np.ndarray:
    """The candidate straightened to its canonical size, as grey levels (``colour``: as
    the frame's own channels).

    The quadrilateral is first grown by ``margin`` of its size on every side, so that a
    character cut by a tight or slightly wrong outline still lies whole inside the crop.
    """
    size = TWO_ROW_SIZE if cand.two_row else SINGLE_ROW_SIZE
    corners = cand.corners
    # The long side is the plate's width: rotate the corner order for a portrait quad.
    top = np.linalg.norm(corners[1] - corners[0])
    left = np.linalg.norm(corners[3] - corners[0])
    if left > top and not cand.two_row:
        corners = np.roll(corners, -1, axis=0)
    inner = (1 - 2 * margin) / 1.0
    dst = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float32) * inner + margin
    dst = dst * np.array([size[0] - 1, size[1] - 1], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, dst)
    source = frame if frame.ndim == 2 or colour else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return cv2.warpPerspective(source, matrix, size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def widened(cand: Candidate, sides: tuple[str, ...], by: float = 1.5) -> Candidate:
    """The candidate's outline stretched along its rows by ``by`` plate heights on each of
    ``sides`` ("left", "right"): a character cut by the crop's side means the plate goes on
    (a shadow or a neighbour of the board's colour ended the outline early)."""
    tl, tr, br, bl = (p.astype(np.float32) for p in cand.corners)
    if np.linalg.norm(bl - tl) > np.linalg.norm(tr - tl) and not cand.two_row:
        tl, tr, br, bl = tr, br, bl, tl  # portrait quad: the long side is the width
    height = float(np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    along = (tr - tl + br - bl) / max(1e-6, float(np.linalg.norm(tr - tl + br - bl)))
    step = along * by * height
    if "left" in sides:
        tl, bl = tl - step, bl - step
    if "right" in sides:
        tr, br = tr + step, br + step
    corners = np.array([tl, tr, br, bl], np.float32)
    width = float(np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    return Candidate(corners, max(width, height) / max(1.0, min(width, height)), cand.score, "grown",
                     2 if cand.two_row else 1)

