"""The worker thread: off the control loop, bounded queue, bounded time, clean stop."""

from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

from drivers.anpr.reader import PlateRead, PlateReader
from drivers.anpr.worker import AnprWorker, FrameResult
from simulators.plates import sample_for_seed


def _wait_results(results: queue.Queue[FrameResult], n: int, timeout: float = 20.0) -> list[FrameResult]:
    got: list[FrameResult] = []
    deadline = time.monotonic() + timeout
    while len(got) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {n} results within {timeout} s"
        got.append(results.get(timeout=left))
    return got


def test_frames_are_read_off_the_calling_thread() -> None:
    samples = [sample_for_seed(s, "normal") for s in (5003, 5004, 5005)]
    seen_threads: list[str] = []

    def on_result(result: FrameResult) -> None:
        seen_threads.append(threading.current_thread().name)

    with AnprWorker(queue_size=8, on_result=on_result) as worker:
        for k, sample in enumerate(samples):
            started = time.perf_counter()
            assert worker.submit(sample.image, tag=k)
            assert time.perf_counter() - started < 0.05  # submit never waits for a read
        results = sorted(_wait_results(worker.results(), 3), key=lambda r: r.tag)
    assert [r.read.plate for r in results] == [s.plate for s in samples]
    assert set(seen_threads) == {"anpr-worker"}


class _SlowReader:
    """Stands in for a reader stuck on a frame: only blocking can show queue overflow."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def read(self, frame: np.ndarray) -> PlateRead:
        self.gate.wait(10)
        return PlateRead(None, 0.0, 0.0)

    def close(self) -> None:
        pass


def test_full_queue_drops_the_oldest_frame() -> None:
    gate = threading.Event()
    worker = AnprWorker(lambda: _SlowReader(gate), queue_size=2)  # type: ignore[arg-type,return-value]
    worker.start()
    try:
        frame = np.zeros((10, 10, 3), np.uint8)
        worker.submit(frame, tag=0)
        time.sleep(0.1)  # the worker takes frame 0 and blocks on it
        assert worker.submit(frame, tag=1) and worker.submit(frame, tag=2)
        assert not worker.submit(frame, tag=3)  # frame 1 dropped for it
        assert worker.dropped == 1
        gate.set()
        tags = [r.tag for r in _wait_results(worker.results(), 3)]
        assert tags == [0, 2, 3]
    finally:
        gate.set()
        worker.stop()
        worker.stop()  # twice is safe


def test_a_bad_frame_gives_a_no_read_and_the_worker_goes_on() -> None:
    with AnprWorker() as worker:
        worker.submit(np.zeros((0, 0), np.uint8), tag="bad")
        sample = sample_for_seed(5006, "normal")
        worker.submit(sample.image, tag="good")
        results = {r.tag: r for r in _wait_results(worker.results(), 2)}
    assert results["bad"].read.plate is None and "frame" in results["bad"].read.reason
    assert results["good"].read.plate == sample.plate


def test_reader_that_cannot_start_is_reported_by_start() -> None:
    def broken() -> PlateReader:
        raise OSError("no tessdata")

    worker = AnprWorker(broken)
    with pytest.raises(RuntimeError, match="failed to start"):
        worker.start()
    worker.stop()


def test_submit_after_stop_is_refused() -> None:
    worker = AnprWorker()
    worker.start()
    worker.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(np.zeros((4, 4, 3), np.uint8))
