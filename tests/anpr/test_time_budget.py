"""The per-frame time limit counts the reading thread's CPU time, with a wall-clock cap.

A host busy with other work (the lane's other threads, a benchmark, a backup) slows a
read without the reader doing more work; counting wall-clock time turned such reads into
no-reads. What no real part can show on demand is a host loaded by exactly so much, so
the engine here is the real Tesseract engine with a sleep before each call: time that
passes on the clock while this thread uses no CPU, as when it waits for a core.
"""

from __future__ import annotations

import time

import numpy as np

from drivers.anpr.grammar import PLATE_CHARSET
from drivers.anpr.ocr import LineRead, OcrEngine, open_engine
from drivers.anpr.reader import WALL_LIMIT_FACTOR, PlateReader
from simulators.plates import render_sample


class _WaitingEngine:
    """The real engine, each call delayed by ``wait_s`` of wall-clock time (no CPU)."""

    def __init__(self, wait_s: float) -> None:
        self._engine: OcrEngine = open_engine("tesserocr")
        self.name = self._engine.name
        self.wait_s = wait_s
        self.calls = 0

    def read_line(self, image: np.ndarray, timeout_ms: int, charset: str = PLATE_CHARSET,
                  word: bool = False) -> LineRead:
        self.calls += 1
        time.sleep(self.wait_s)
        return self._engine.read_line(image, timeout_ms, charset, word)

    def close(self) -> None:
        self._engine.close()


def _frame() -> np.ndarray:
    return render_sample("KT 4567", rng=np.random.default_rng(3), level="normal", font="dejavu").image


def test_waiting_for_a_core_does_not_turn_a_read_into_a_no_read() -> None:
    engine = _WaitingEngine(0.06)
    with PlateReader(engine=engine, time_limit_ms=400) as reader:
        start = time.perf_counter()
        read = reader.read(_frame())
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    # More wall-clock time than the limit went by (so a wall-clock limit would have
    # given up), yet the read is whole.
    assert elapsed_ms > 400, f"only {elapsed_ms:.0f} ms: the test no longer waits past the limit"
    assert read.plate == "KT4567", read.reason


def test_a_starved_reader_still_gives_up_at_the_wall_clock_cap() -> None:
    engine = _WaitingEngine(0.25)
    with PlateReader(engine=engine, time_limit_ms=100) as reader:
        start = time.perf_counter()
        read = reader.read(_frame())
        elapsed_ms = (time.perf_counter() - start) * 1000.0
    assert read.plate is None and read.reason == "time limit reached"
    # The cap (WALL_LIMIT_FACTOR x 100 ms) plus the one call already under way when it passed.
    assert elapsed_ms < WALL_LIMIT_FACTOR * 100 + 250 + 300, f"{elapsed_ms:.0f} ms"
