"""``rocars-anpr [--json] IMAGE...``: read the plate in each image on its own.

With ``--json`` one JSON object per line, a format other tools rely on::

    {"image": "PATH", "plate": "AB1234" or null, "confidence": 0.0-1.0}

The plate is upper case without spaces. An image that cannot be read gets plate null,
confidence 0.0, a message on stderr, and exit status 1 once all images are done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before Tesseract loads: one thread is faster

import cv2

from drivers.anpr.reader import DEFAULT_MIN_CONFIDENCE, PlateReader


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rocars-anpr", description="Read Hong Kong number plates in images")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (any format OpenCV reads)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                        help=f"below this a read is reported as none (default {DEFAULT_MIN_CONFIDENCE})")
    parser.add_argument("--engine", choices=("tesserocr", "pytesseract"), default=None,
                        help="Tesseract binding (default: tesserocr when installed)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 0.0 <= args.min_confidence <= 1.0:
        print(f"rocars-anpr: --min-confidence must be within 0..1, got {args.min_confidence}",
              file=sys.stderr)
        return 2
    status = 0
    with PlateReader(min_confidence=args.min_confidence, engine=args.engine) as reader:
        for path in args.images:
            frame = cv2.imread(path, cv2.IMREAD_COLOR)
            if frame is None:
                print(f"rocars-anpr: {path}: not a readable image", file=sys.stderr)
                status = 1
                plate, confidence, ms = None, 0.0, 0.0
            else:
                read = reader.read(frame)
                plate, confidence, ms = read.plate, read.confidence if read.plate else 0.0, read.ms
            if args.json:
                print(json.dumps({"image": path, "plate": plate, "confidence": round(confidence, 3)}),
                      flush=True)
            else:
                print(f"{path}\t{plate or '-'}\t{confidence:.2f}\t{ms:.0f} ms", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
