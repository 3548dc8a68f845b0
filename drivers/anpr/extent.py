"""Where the plate's board ends, beside its characters: an outline that ended inside the
plate (a shadow, a board-coloured neighbour, a text chain that missed a faint character)
holds a shorter mark that is still valid ("HK 51" of "HK 5112").

A plate's characters stand on the board with a strip of bare board above and below them.
Along those strips, past the last character, the board's colour must give way to
something else (the border, the vehicle, a shadow) before the crop ends; where it runs
on to the crop's edge in both strips, the plate may go on, and so may its characters.
Colour, not grey: a vehicle body as bright as the board is rarely its colour too.
"""

from __future__ import annotations

import numpy as np

# Colour distance (BGR, 0-441) at which a column of a strip is no longer the board, and
# how many such columns in a row it takes (one is noise or JPEG ringing).
_CHANGE = 45.0
_RUN = 3


def open_sides(colour: np.ndarray, extent: tuple[int, int], band: tuple[int, int], char_px: float
               ) -> tuple[str, ...]:
    """The sides ("left", "right") where the board runs on to the crop's edge past the
    characters in columns ``extent``, rows ``band`` (top, bottom) of the crop ``colour``
    (BGR, or grey)."""
    if colour.ndim == 2:
        colour = colour[..., None]
    h, w = colour.shape[:2]
    start, end = extent
    top, bottom = band
    # Close to the characters: further out runs the border, as dark as many a vehicle.
    lo, hi = max(1, int(0.03 * char_px)), max(3, int(0.15 * char_px))
    strips = [colour[max(0, top - hi):max(0, top - lo)], colour[min(h, bottom + lo):min(h, bottom + hi)]]
    strips = [s for s in strips if s.shape[0] >= 1]
    if not strips or end - start < 2:
        return ()
    pad = int(0.2 * char_px)
    sides = []
    right, left = range(min(w, end + pad), w), range(max(0, start - pad) - 1, -1, -1)
    for side, columns in (("right", right), ("left", left)):
        if not any(_ends(strip, start, end, columns) for strip in strips):
            sides.append(side)
    return tuple(sorted(sides))


def _ends(strip: np.ndarray, start: int, end: int, columns: range) -> bool:
    board = np.median(strip[:, start:end].reshape(-1, strip.shape[2]).astype(np.float32), axis=0)
    per_column = np.median(strip.astype(np.float32), axis=0)  # columns x channels
    run = 0
    for c in columns:
        if float(np.linalg.norm(per_column[c] - board)) > _CHANGE:
            run += 1
            if run >= _RUN:
                return True
        else:
            run = 0
    return False
