"""Tesseract behind one small interface: a persistent API (tesserocr) or a process per call.

Tesseract's cost through pytesseract is mostly starting a process and loading the
model for every call (tens of milliseconds); tesserocr keeps one initialised
``TessBaseAPI`` per engine, so a call costs only the recognition itself. The engine
is chosen at run time: tesserocr when importable, pytesseract otherwise, and both
read the same prepared line image with the same settings (LSTM, one text line,
plate characters only).

An engine is not thread-safe; each worker owns its own.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from drivers.anpr.grammar import PLATE_CHARSET
from drivers.base import DeviceTimeout, DeviceUnavailable

# Tesseract's OpenMP threads fight each other on a small shared machine: one is faster.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

TESSDATA_DIRS = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
)


@dataclass(frozen=True)
class LineRead:
    """Tesseract's reading of one text line: characters and their confidences (0-1)."""

    text: str
    confidences: tuple[float, ...]  # per character of ``text`` (spaces excluded)

    @property
    def min_confidence(self) -> float:
        return min(self.confidences, default=0.0)

    @property
    def mean_confidence(self) -> float:
        return sum(self.confidences) / len(self.confidences) if self.confidences else 0.0


class OcrEngine(Protocol):
    name: str

    def read_line(
        self, image: np.ndarray, timeout_ms: int, charset: str = PLATE_CHARSET, word: bool = False
    ) -> LineRead:
        """Read a single-line image (dark text on white) with only ``charset``; ``word``
        reads it as one word (Tesseract's page mode 8), for a lone character."""
        ...

    def close(self) -> None: ...


def tessdata_dir() -> str:
    env = os.environ.get("TESSDATA_PREFIX")
    for directory in ([env] if env else []) + list(TESSDATA_DIRS):
        if os.path.exists(os.path.join(directory, "eng.traineddata")):
            return directory
    raise DeviceUnavailable(
        "tesseract: eng.traineddata not found (install the Debian packages tesseract-ocr "
        "and tesseract-ocr-eng, or set TESSDATA_PREFIX)"
    )


class TesserocrEngine:
    """One initialised Tesseract API, reused for every call."""

    name = "tesserocr"

    def __init__(self) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._api = tesserocr.PyTessBaseAPI(
            path=tessdata_dir(),
            lang="eng",
            psm=tesserocr.PSM.SINGLE_LINE,
            oem=tesserocr.OEM.LSTM_ONLY,
        )
        self._charset = PLATE_CHARSET
        self._psm = tesserocr.PSM.SINGLE_LINE
        self._api.SetVariable("tessedit_char_whitelist", PLATE_CHARSET)
        # Plates are not dictionary words: keep the language model from "fixing" them.
        self._api.SetVariable("load_system_dawg", "0")
        self._api.SetVariable("load_freq_dawg", "0")

    def read_line(
        self, image: np.ndarray, timeout_ms: int, charset: str = PLATE_CHARSET, word: bool = False
    ) -> LineRead:
        from PIL import Image

        tesserocr = self._tesserocr
        psm = tesserocr.PSM.SINGLE_WORD if word else tesserocr.PSM.SINGLE_LINE
        if psm != self._psm:
            self._api.SetPageSegMode(psm)
            self._psm = psm
        if charset != self._charset:
            self._api.SetVariable("tessedit_char_whitelist", charset)
            self._charset = charset
        self._api.SetImage(Image.fromarray(image))
        if not self._api.Recognize(timeout=max(1, int(timeout_ms))):
            raise DeviceTimeout(f"tesseract: no result within {timeout_ms} ms")
        chars: list[str] = []
        confs: list[float] = []
        iterator = self._api.GetIterator()
        level = tesserocr.RIL.SYMBOL
        if iterator is not None:
            for symbol in tesserocr.iterate_level(iterator, level):
                try:
                    text = symbol.GetUTF8Text(level)
                except RuntimeError:  # tesserocr raises on an empty symbol
                    continue
                if not text or not text.strip():
                    continue
                chars.append(text.strip())
                confs.append(max(0.0, min(1.0, symbol.Confidence(level) / 100.0)))
        return LineRead("".join(chars), tuple(confs))

    def close(self) -> None:
        api, self._api = self._api, None
        if api is not None:
            api.End()


class PytesseractEngine:
    """The tesseract command, one process per call (pytesseract); slower, fewer dependencies."""

    name = "pytesseract"

    def __init__(self) -> None:
        import pytesseract

        if shutil.which("tesseract") is None:
            raise DeviceUnavailable("tesseract: command not found (install the Debian package tesseract-ocr)")
        self._pt = pytesseract
        self._config = "--oem 1 --psm 7 -c load_system_dawg=0 -c load_freq_dawg=0"

    def read_line(
        self, image: np.ndarray, timeout_ms: int, charset: str = PLATE_CHARSET, word: bool = False
    ) -> LineRead:
        config = f"{self._config} -c tessedit_char_whitelist={charset}"
        if word:
            config = config.replace("--psm 7", "--psm 8")
        try:
            data = self._pt.image_to_data(
                image, config=config, output_type=self._pt.Output.DICT,
                timeout=max(0.001, timeout_ms / 1000.0),
            )
        except RuntimeError as exc:  # pytesseract raises RuntimeError on its timeout
            raise DeviceTimeout(f"tesseract: no result within {timeout_ms} ms") from exc
        chars: list[str] = []
        confs: list[float] = []
        for text, conf in zip(data["text"], data["conf"], strict=True):
            text = text.strip()
            if not text:
                continue
            # The command line reports confidence per word only: spread it over the letters.
            chars.append(text)
            confs.extend([max(0.0, min(1.0, float(conf) / 100.0))] * len(text))
        return LineRead("".join(chars), tuple(confs))

    def close(self) -> None:
        pass


def open_engine(prefer: str | None = None) -> OcrEngine:
    """``prefer``: "tesserocr", "pytesseract" or None (tesserocr when installed)."""
    if prefer not in (None, "tesserocr", "pytesseract"):
        raise ValueError(f"engine: must be 'tesserocr' or 'pytesseract', got {prefer!r}")
    if prefer in (None, "tesserocr"):
        try:
            return TesserocrEngine()
        except ImportError:
            if prefer == "tesserocr":
                raise
    return PytesseractEngine()


def timed_read(engine: OcrEngine, image: np.ndarray, timeout_ms: int) -> tuple[LineRead, float]:
    start = time.perf_counter()
    read = engine.read_line(image, timeout_ms)
    return read, (time.perf_counter() - start) * 1000.0
