"""A character classifier trained on plate glyphs: a third opinion beside Tesseract and
the shape templates.

Tesseract's ``eng`` model was trained on printed text, in context; a plate's characters
are read out of context, small and blurred, and its confusions there (M as V, 8 as 3)
are consistent across views. This classifier was trained only on glyphs as ``segment``
cuts them from plate-like crops, so its mistakes are not Tesseract's.

The model is a small multi-layer perceptron (one hidden layer) over two feature sets of
the glyph cropped to its ink: its grey levels on a coarse grid and histograms of edge
directions per cell, plus its aspect ratio. Inference is two matrix products in numpy.
``drivers.anpr.glyph_training`` makes the model file from fonts and generic camera
degradations alone (never from the simulator's renderer, nor from the fonts the
benchmark holds out).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from drivers.anpr.grammar import PLATE_CHARSET

log = logging.getLogger("drivers.anpr")

MODEL_PATH = Path(__file__).with_name("glyph_model.npz")
GRID = (16, 24)  # width, height the glyph is stretched to
_CELL = 4  # px: edge-direction histograms per 4x4 cell of the grid
_BINS = 8
CLASSES = PLATE_CHARSET


def features(glyph: np.ndarray) -> np.ndarray | None:
    """The feature vector of a glyph (dark ink on white, any size), or None without ink."""
    ink = 255.0 - glyph.astype(np.float32)
    mask = ink > 96
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    crop = ink[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    height, width = crop.shape
    # Scaled to the grid's height, its width kept in proportion up to the grid's: a 1 stays
    # a narrow bar (stretched to the full width it looks like a T), an M or a W is squeezed.
    fit_w = min(GRID[0], max(1, round(GRID[1] * width / height)))
    grid = np.zeros((GRID[1], GRID[0]), np.float32)
    left = (GRID[0] - fit_w) // 2
    grid[:, left:left + fit_w] = cv2.resize(crop, (fit_w, GRID[1]), interpolation=cv2.INTER_AREA) / 255.0
    gx = cv2.Sobel(grid, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grid, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.sqrt(gx * gx + gy * gy)
    # Unsigned directions: dark-on-light and light-on-dark edges of a stroke are one edge.
    direction = (np.arctan2(gy, gx) % np.pi) * (_BINS / np.pi)
    bins = np.minimum(direction.astype(np.int32), _BINS - 1)
    cells_y, cells_x = GRID[1] // _CELL, GRID[0] // _CELL
    hist = np.zeros((cells_y, cells_x, _BINS), np.float32)
    cell_y = np.arange(GRID[1])[:, None] // _CELL
    cell_x = np.arange(GRID[0])[None, :] // _CELL
    np.add.at(hist, (np.broadcast_to(cell_y, bins.shape), np.broadcast_to(cell_x, bins.shape), bins),
              magnitude)
    hist /= float(np.linalg.norm(hist)) + 1e-6
    shape = [width / max(1.0, float(height)), float(mask.mean())]
    parts = [grid.ravel(), hist.ravel() * 4.0, np.asarray(shape, np.float32)]
    return np.concatenate(parts).astype(np.float32)


class GlyphModel:
    """The trained classifier: probabilities over ``CLASSES`` for a glyph."""

    def __init__(self, arrays: Mapping[str, np.ndarray], source: str = "model") -> None:
        """``arrays`` as ``glyph_training.train`` returns them and the model file holds them."""
        self.mean = arrays["mean"].astype(np.float32)
        self.scale = arrays["scale"].astype(np.float32)
        self.w1 = arrays["w1"].astype(np.float32)
        self.b1 = arrays["b1"].astype(np.float32)
        self.w2 = arrays["w2"].astype(np.float32)
        self.b2 = arrays["b2"].astype(np.float32)
        self.classes = str(arrays["classes"])
        if self.classes != CLASSES:
            raise ValueError(f"{source}: classes {self.classes!r} are not the grammar's {CLASSES!r}")

    @classmethod
    def from_file(cls, path: Path = MODEL_PATH) -> GlyphModel:
        with np.load(path) as data:
            return cls({name: data[name] for name in data.files}, str(path))

    def logits(self, rows: np.ndarray) -> np.ndarray:
        hidden = np.maximum(0.0, ((rows - self.mean) / self.scale) @ self.w1 + self.b1)
        return np.asarray(hidden @ self.w2 + self.b2)

    def probabilities(self, glyph: np.ndarray, allowed: str = CLASSES) -> dict[str, float]:
        """Each character of ``allowed`` with its probability (renormalised over
        ``allowed``); empty when the glyph has no ink."""
        row = features(glyph)
        if row is None:
            return {}
        logits = self.logits(row[None, :])[0]
        index = [CLASSES.index(c) for c in allowed]
        chosen = logits[index]
        exp = np.exp(chosen - chosen.max())
        probs = exp / exp.sum()
        return dict(zip(allowed, probs.tolist(), strict=True))

    def best(self, glyph: np.ndarray, allowed: str = CLASSES) -> tuple[str, float]:
        """The likeliest character of ``allowed`` and its probability ("", 0.0 without ink)."""
        probs = self.probabilities(glyph, allowed)
        if not probs:
            return "", 0.0
        char = max(probs, key=probs.__getitem__)
        return char, probs[char]


@functools.lru_cache(maxsize=1)
def load() -> GlyphModel | None:
    """The packaged model, or None (with one warning) when its file is missing."""
    if not MODEL_PATH.exists():
        log.warning("anpr: no glyph model at %s: no trained second opinion on characters", MODEL_PATH)
        return None
    return GlyphModel.from_file(MODEL_PATH)


def view_opinion(
    model: GlyphModel, view: list[np.ndarray], charsets: list[str]
) -> list[dict[str, float]] | None:
    """Each glyph's probabilities over the characters of its charset, for one view of the
    glyphs; None when a glyph has no ink."""
    opinion = [model.probabilities(glyph, charset) for glyph, charset in zip(view, charsets, strict=False)]
    return None if any(not probs for probs in opinion) else opinion


def likeliest(opinion: list[dict[str, float]]) -> list[tuple[str, float]]:
    """Each glyph's likeliest character and its probability."""
    return [max(probs.items(), key=lambda item: item[1]) for probs in opinion]


def pooled(opinions: list[list[dict[str, float]] | None]) -> list[tuple[str, float]]:
    """Each glyph's likeliest character and probability, the views' opinions pooled
    (geometric mean): a character must look itself in binary and in grey levels. Empty
    when a view has a glyph without ink."""
    if not opinions or any(opinion is None for opinion in opinions):
        return []
    present = [opinion for opinion in opinions if opinion is not None]
    out: list[tuple[str, float]] = []
    for i, first in enumerate(present[0]):
        logs = {char: sum(float(np.log(max(opinion[i][char], 1e-9))) for opinion in present)
                for char in first}
        exp = {char: float(np.exp(total / len(present))) for char, total in logs.items()}
        char = max(exp, key=exp.__getitem__)
        out.append((char, exp[char] / sum(exp.values())))
    return out


def read_glyphs(
    model: GlyphModel, views: list[list[np.ndarray]], charsets: list[str]
) -> list[tuple[str, float]]:
    """The views' pooled reading of each glyph (see ``pooled``)."""
    return pooled([view_opinion(model, view, charsets) for view in views])
