"""Plate reading off the lane's control loop: a worker thread with a bounded queue.

The control loop calls ``submit(frame)`` and never waits: when the queue is full the
oldest frame is dropped (a fresher frame of the same vehicle is worth more), and the
count of dropped frames is kept. Results arrive through ``results()`` (a queue the loop
polls) or a callback. Each frame is bounded in time by the reader's ``time_limit_ms``;
a frame that takes longer gives a no-read, never a late answer.

Tesseract and OpenCV release the GIL while they work, so a thread is enough; the
worker owns its ``PlateReader`` (Tesseract's API is not thread-safe). ``stop()`` is safe
to call twice and from any thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from drivers.anpr.reader import PlateRead, PlateReader

log = logging.getLogger("drivers.anpr.worker")


@dataclass(frozen=True)
class FrameResult:
    tag: Any  # whatever the caller passed with the frame (a vehicle id, a timestamp)
    read: PlateRead
    queued_ms: float  # time spent waiting in the queue


class AnprWorker:
    def __init__(
        self,
        reader_factory: Callable[[], PlateReader] = PlateReader,
        *,
        queue_size: int = 4,
        on_result: Callable[[FrameResult], None] | None = None,
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size: must be at least 1, got {queue_size}")
        self._factory = reader_factory
        self._inbox: queue.Queue[tuple[np.ndarray, Any, float] | None] = queue.Queue(maxsize=queue_size)
        self._outbox: queue.Queue[FrameResult] = queue.Queue()
        self._on_result = on_result
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.dropped = 0

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread and wait until its reader is initialised (or raise its error)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="anpr-worker", daemon=True)
            self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"anpr worker: reader not ready within {timeout} s")
        if self._error is not None:
            raise RuntimeError("anpr worker: reader failed to start") from self._error

    def submit(self, frame: np.ndarray, tag: Any = None) -> bool:
        """Queue a frame without blocking; returns False if an older frame was dropped for it."""
        if self._stopping.is_set():
            raise RuntimeError("anpr worker: stopped")
        item = (frame, tag, time.perf_counter())
        kept_all = True
        while True:
            try:
                self._inbox.put_nowait(item)
                return kept_all
            except queue.Full:
                try:
                    self._inbox.get_nowait()
                    self.dropped += 1
                    kept_all = False
                except queue.Empty:
                    pass

    def results(self) -> queue.Queue[FrameResult]:
        return self._outbox

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the frame in hand; queued frames are discarded. Safe to call twice."""
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is None:
            return
        while True:  # make room for the sentinel, dropping what was queued
            try:
                self._inbox.put_nowait(None)
                break
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._inbox.get_nowait()
        thread.join(timeout)
        if thread.is_alive():
            log.warning("anpr worker did not stop within %.1f s", timeout)

    def _run(self) -> None:
        try:
            reader = self._factory()
        except BaseException as exc:  # reported to start(), which raises it
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stopping.is_set():
                item = self._inbox.get()
                if item is None:
                    break
                frame, tag, queued_at = item
                started = time.perf_counter()
                try:
                    read = reader.read(frame)
                except Exception as exc:  # a bad frame must not kill the worker
                    log.warning("anpr: frame failed: %s", exc)
                    read = PlateRead(None, 0.0, (time.perf_counter() - started) * 1000.0, reason=str(exc))
                result = FrameResult(tag, read, (started - queued_at) * 1000.0)
                self._outbox.put(result)
                if self._on_result is not None:
                    try:
                        self._on_result(result)
                    except Exception:
                        log.exception("anpr: result callback failed")
        finally:
            reader.close()

    def __enter__(self) -> AnprWorker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
