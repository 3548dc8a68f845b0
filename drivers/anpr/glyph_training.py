"""Make ``glyph_model.npz``: synthetic plate crops, cut by ``segment``, classified by a small MLP.

Run ``python -m drivers.anpr.glyph_training`` (about five minutes on two cores); the
result is deterministic for a given seed, numpy and OpenCV.

The training crops are drawn here, not by the simulator's renderer, so that the
benchmark (which renders with the simulator) measures a model that never saw its
drawing code: lettering in the faces of ``TRAINING_FONTS`` laid out as plate makers do
(even gaps, a wide space between letters and number), on a board with a border, then
put through generic camera effects -- size, yaw (horizontal squeeze), tilt and slant,
a shadow edge, dim contrast, motion and focus blur, noise and JPEG -- and straightened
to the crop size ``locate.warp`` gives. No face of the families the benchmark holds out
(FreeSans, Liberation Sans Narrow) is among the training fonts.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from drivers.anpr.glyph_model import CLASSES, MODEL_PATH, GlyphModel, features
from drivers.anpr.glyphs import TEMPLATE_FONTS
from drivers.anpr.grammar import PLATE_DIGITS, PLATE_LETTERS
from drivers.anpr.locate import SINGLE_ROW_SIZE
from drivers.anpr.segment import segment

_FONT_DIR = Path("/usr/share/fonts/truetype")
TRAINING_FONTS = TEMPLATE_FONTS + tuple(str(_FONT_DIR / name) for name in (
    "dejavu/DejaVuSansMono.ttf",
    "liberation/LiberationMono-Regular.ttf",
    "dejavu/DejaVuSerif-Bold.ttf",
    "liberation/LiberationSerif-Bold.ttf",
    "dejavu/DejaVuSansMono-Oblique.ttf",
    "liberation/LiberationSans-Italic.ttf",
))
_SCALE = 4  # crops are drawn this much larger, then shrunk: anti-aliased like a camera's
_INK_BIASES = (0.0, -12.0, 12.0)


def random_text(rng: np.random.Generator) -> str:
    """A standard-looking mark ("AB 1234") or a free string of plate characters."""
    if rng.random() < 0.5:
        letters = "".join(rng.choice(list(PLATE_LETTERS), size=2))
        digits = "".join(rng.choice(list(PLATE_DIGITS), size=int(rng.integers(1, 5))))
        return f"{letters} {digits}"
    chars = "".join(rng.choice(list(CLASSES), size=int(rng.integers(3, 8))))
    cut = int(rng.integers(1, len(chars)))
    return chars if rng.random() < 0.5 else f"{chars[:cut]} {chars[cut:]}"


def _lettering(text: str, font_path: str, cap_px: int, stroke: int) -> np.ndarray:
    """The line as an ink mask (255 ink), capitals ``cap_px`` tall, characters evenly spaced."""
    face = ImageFont.truetype(font_path, cap_px * 4 // 3)
    cap_top = face.getbbox("H", anchor="ls")[1]
    gap, space = round(-cap_top * 0.14), round(-cap_top * 0.55)
    extents = [face.getbbox(c, anchor="ls", stroke_width=stroke) if c != " " else None for c in text]
    total = sum(space if e is None else e[2] - e[0] + gap for e in extents)
    descent = max((e[3] for e in extents if e is not None), default=0)
    image = Image.new("L", (int(total + 4 * stroke + 4), int(descent - cap_top + 4 * stroke + 4)), 0)
    draw = ImageDraw.Draw(image)
    x: float = 2 * stroke + 2
    for char, ext in zip(text, extents, strict=True):
        if ext is None:
            x += space
            continue
        draw.text((x - ext[0], 2 * stroke + 2 - cap_top), char, font=face, fill=255, anchor="ls",
                  stroke_width=stroke, stroke_fill=255)
        x += ext[2] - ext[0] + gap
    mask = np.asarray(image)
    ys, xs = np.nonzero(mask)
    return mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]


def synthetic_crop(rng: np.random.Generator, text: str, font_path: str) -> np.ndarray:
    """A straightened single-row plate crop (grey, ``SINGLE_ROW_SIZE``) showing ``text``."""
    cap = float(rng.uniform(10, 40))  # character height in camera pixels
    stroke = int(rng.choice([0, 0, 0, 1, 2]))
    ink = _lettering(text, font_path, int(cap * _SCALE), stroke * _SCALE // 2)
    if rng.random() < 0.2:
        ink = cv2.erode(ink, np.ones((3, 3), np.uint8), iterations=int(rng.integers(1, 3)))
    squeeze = float(rng.uniform(0.72, 1.25))  # yaw, and wider or narrower lettering
    ink = cv2.resize(ink, (max(1, int(ink.shape[1] * squeeze)), ink.shape[0]), interpolation=cv2.INTER_AREA)
    # The board: 520x110 mm, the characters about 0.6 of its height, centred.
    board_h = int(ink.shape[0] / rng.uniform(0.55, 0.66))
    board_w = max(int(board_h * 520 / 110), ink.shape[1] + board_h // 2)
    margin_x, margin_y = int(board_w * 0.08), int(board_h * 0.08)
    height, width = board_h + 2 * margin_y, board_w + 2 * margin_x
    surround, board = float(rng.uniform(0, 255)), float(rng.uniform(140, 250))
    dark = float(rng.uniform(0, 70))
    if rng.random() < 0.3:  # dim: a night's lifted blacks, or a dirty board
        dark = float(rng.uniform(40, min(120, board - 60)))
    canvas = np.full((height, width), surround, np.float32)
    canvas[margin_y:margin_y + board_h, margin_x:margin_x + board_w] = board
    line = max(_SCALE, int(board_h * rng.uniform(0.02, 0.05)))
    inset = int(board_h * rng.uniform(0.02, 0.06))
    cv2.rectangle(canvas, (margin_x + inset, margin_y + inset),
                  (margin_x + board_w - 1 - inset, margin_y + board_h - 1 - inset), dark, line)
    top = margin_y + (board_h - ink.shape[0]) // 2 + int(rng.normal(0, board_h * 0.03))
    left = margin_x + (board_w - ink.shape[1]) // 2 + int(rng.normal(0, board_h * 0.1))
    region = canvas[top:top + ink.shape[0], left:left + ink.shape[1]]
    alpha = ink[:region.shape[0], :region.shape[1]].astype(np.float32) / 255.0
    region[:] = region * (1 - alpha) + dark * alpha
    # Tilt and slant that straightening left over, as one affine map about the centre.
    angle = math.radians(rng.uniform(-4, 4))
    slant = float(rng.uniform(-0.15, 0.15))
    centre = np.array([width / 2, height / 2], np.float32)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    linear = rot @ np.array([[1, slant], [0, 1]], np.float32)
    affine = np.hstack([linear, (centre - linear @ centre)[:, None]])
    canvas = cv2.warpAffine(canvas, affine, (width, height), borderMode=cv2.BORDER_REPLICATE)
    if rng.random() < 0.5:  # a straight shadow edge across the board
        xs = np.arange(width, dtype=np.float32)[None, :] + np.arange(height, dtype=np.float32)[:, None] \
            * rng.uniform(-0.6, 0.6)
        cut = rng.uniform(0.25, 0.75) * width
        shade = np.where((xs > cut) == (rng.random() < 0.5), rng.uniform(0.45, 0.7), 1.0).astype(np.float32)
        canvas = canvas * cv2.GaussianBlur(shade, (0, 0), 3 * _SCALE)
    small = cv2.resize(canvas, (max(8, width // _SCALE), max(4, height // _SCALE)),
                       interpolation=cv2.INTER_AREA)
    if rng.random() < 0.35:
        length = int(rng.integers(2, 8))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        small = cv2.filter2D(small, -1, kernel)
    small = cv2.GaussianBlur(small, (0, 0), float(rng.uniform(0.3, 1.6)))
    noise = np.asarray(rng.normal(0, rng.uniform(1, 12), small.shape), np.float32)
    small = np.asarray(small, np.float32) + noise
    ok, data = cv2.imencode(".jpg", small.clip(0, 255).astype(np.uint8),
                            [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 96))])
    if not ok:
        raise RuntimeError("jpeg: OpenCV could not encode a training crop")
    grey = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise RuntimeError("jpeg: OpenCV could not decode a training crop")
    return np.asarray(cv2.resize(grey, SINGLE_ROW_SIZE, interpolation=cv2.INTER_CUBIC))


def labelled_glyphs(crop: np.ndarray, text: str) -> list[tuple[np.ndarray, str]]:
    """Every view of every glyph that ``segment`` cuts from the crop, with its character,
    at each threshold that finds exactly the text's characters."""
    chars = text.replace(" ", "")
    out: list[tuple[np.ndarray, str]] = []
    for ink_bias in _INK_BIASES:
        seg = segment(crop, 1, ink_bias)
        if seg is None or seg.blobs != len(chars):
            continue
        for view in seg.views():
            out.extend(zip(view, chars, strict=True))
    return out


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 7])
    cv2.setNumThreads(1)
    rows: list[np.ndarray] = []
    labels: list[int] = []
    for _ in range(50):
        text = random_text(rng)
        font = TRAINING_FONTS[int(rng.integers(len(TRAINING_FONTS)))]
        for glyph, char in labelled_glyphs(synthetic_crop(rng, text, font), text):
            row = features(glyph)
            if row is not None:
                rows.append(row)
                labels.append(CLASSES.index(char))
    if not rows:
        return np.zeros((0, 0), np.float32), np.zeros(0, np.int64)
    return np.vstack(rows), np.asarray(labels, np.int64)


def dataset(batches: int, first_seed: int = 0, processes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and class indices from ``batches`` batches of 50 synthetic crops."""
    seeds = range(first_seed, first_seed + batches)
    if processes > 1:
        with Pool(processes) as pool:
            made = pool.map(_samples, seeds)
    else:
        made = [_samples(seed) for seed in seeds]  # no fork: safe beside threads
    parts = [p for p in made if len(p[1])]
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def train(x: np.ndarray, y: np.ndarray, *, hidden: int = 192, epochs: int = 30, seed: int = 0,
          log_every: int = 5) -> dict[str, np.ndarray]:
    """A one-hidden-layer MLP by mini-batch Adam with weight decay; returns the model's arrays."""
    rng = np.random.default_rng(seed)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-3
    xn = ((x - mean) / scale).astype(np.float32)
    n, d = xn.shape
    k = len(CLASSES)
    params = {
        "w1": (rng.normal(0, math.sqrt(2.0 / d), (d, hidden))).astype(np.float32),
        "b1": np.zeros(hidden, np.float32),
        "w2": (rng.normal(0, math.sqrt(1.0 / hidden), (hidden, k))).astype(np.float32),
        "b2": np.zeros(k, np.float32),
    }
    moments = {name: (np.zeros_like(p), np.zeros_like(p)) for name, p in params.items()}
    step, batch, decay = 0, 256, 1e-4
    for epoch in range(epochs):
        rate = 2e-3 * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
        order = rng.permutation(n)
        loss = 0.0
        for start in range(0, n, batch):
            idx = order[start:start + batch]
            xb, yb = xn[idx], y[idx]
            # Input dropout and noise: a blurred glyph loses detail anywhere.
            xb = xb * (rng.random(xb.shape) > 0.1) + rng.normal(0, 0.1, xb.shape).astype(np.float32)
            h = np.maximum(0.0, xb @ params["w1"] + params["b1"])
            logits = h @ params["w2"] + params["b2"]
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            loss += float(-np.log(p[np.arange(len(yb)), yb] + 1e-9).sum())
            p[np.arange(len(yb)), yb] -= 1.0
            p /= len(yb)
            grads = {"w2": h.T @ p, "b2": p.sum(axis=0)}
            dh = (p @ params["w2"].T) * (h > 0)
            grads["w1"] = xb.T @ dh
            grads["b1"] = dh.sum(axis=0)
            step += 1
            for name, grad in grads.items():
                if name.startswith("w"):
                    grad = grad + decay * params[name]
                m, v = moments[name]
                m *= 0.9
                m += 0.1 * grad
                v *= 0.999
                v += 0.001 * grad * grad
                params[name] -= rate * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
        if log_every and (epoch + 1) % log_every == 0:
            print(f"epoch {epoch + 1}: loss {loss / n:.4f}", flush=True)
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32), **params,
            "classes": np.asarray(CLASSES)}


def accuracy(model: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float((GlyphModel(model).logits(x).argmax(axis=1) == y).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="batches of 50 synthetic crops")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    started = time.monotonic()
    x, y = dataset(args.batches, 0, args.processes)
    xv, yv = dataset(max(4, args.batches // 10), 1_000_000, args.processes)
    print(f"{len(y)} training glyphs, {len(yv)} validation glyphs "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    model = train(x, y, epochs=args.epochs)
    print(f"training accuracy {accuracy(model, x, y):.4f}, validation {accuracy(model, xv, yv):.4f} "
          f"({time.monotonic() - started:.0f} s)")
    # Weights in half precision: a quarter of the file, the same decisions.
    arrays: dict[str, Any] = {k: v.astype(np.float16) if k.startswith("w") else v for k, v in model.items()}
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
