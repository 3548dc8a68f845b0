"""Plate recognition for the lane, off its control loop: camera frames -> ANPR worker -> voter.

``trigger()`` (the arming loop became occupied) starts one bounded session: up to
``frames_per_vehicle`` fresh frames, ``frame_interval_ms`` apart, go to the worker; its
reads vote; the session ends as soon as the voter is sure, or when every frame has been
read, or when its time is up, and reports exactly one result (``plate`` None: no reading
worth using). The control loop never waits on any of it; a trigger while a session runs
is ignored (the same vehicle).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from drivers.anpr import AnprWorker, FrameResult, PlateReader, PlateVoter
from drivers.base import DriverError
from drivers.camera import PlateCamera

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PlateResult:
    plate: str | None
    confidence: float  # mean OCR confidence of the reads that agreed on ``plate``
    frames: int
    elapsed_s: float


class PlateRecognizer:
    def __init__(
        self,
        camera: PlateCamera,
        on_result: Callable[[PlateResult], None],
        *,
        frames_per_vehicle: int = 5,
        frame_interval_ms: int = 200,
        frame_time_limit_ms: int = 1000,
        reader_factory: Callable[[], PlateReader] | None = None,
    ) -> None:
        self.camera = camera
        self.on_result = on_result
        self.frames = frames_per_vehicle
        self.interval = frame_interval_ms / 1000.0
        self.frame_limit = frame_time_limit_ms / 1000.0
        factory = reader_factory or (lambda: PlateReader(time_limit_ms=frame_time_limit_ms))
        self.worker = AnprWorker(factory, queue_size=2)
        self._trigger = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sessions = 0

    def start(self) -> None:
        if self._thread is None:
            self.worker.start()
            self._thread = threading.Thread(target=self._run, name="plates", daemon=True)
            self._thread.start()

    def trigger(self) -> None:
        self._trigger.set()

    def stop(self) -> None:
        """Safe to call twice; a session in progress ends without a result."""
        self._stop.set()
        self._trigger.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
        self.worker.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._trigger.wait()
            if self._stop.is_set():
                return
            self._trigger.clear()
            try:
                result = self._session()
            except Exception:  # a bug in one session must not end recognition for the day
                log.exception("plate session failed")
                result = PlateResult(None, 0.0, 0, 0.0)
            if result is not None and not self._stop.is_set():
                self.sessions += 1
                self.on_result(result)

    def _session(self) -> PlateResult | None:
        started = time.monotonic()
        deadline = started + 2 * self.frames * self.interval + 2 * self.frame_limit
        results: queue.Queue[FrameResult] = self.worker.results()
        while not results.empty():  # leftovers of an earlier session
            results.get_nowait()
        # frames_per_vehicle is what a clear view needs; a session without a decision may
        # look at as many again while its time lasts (a first frame can precede the plate).
        most = 2 * self.frames
        voter = PlateVoter()
        submitted = read = 0
        last_seq = 0
        confidences: dict[str, list[float]] = {}
        next_frame = started
        while not self._stop.is_set() and time.monotonic() < deadline:
            now = time.monotonic()
            if submitted < most and now >= next_frame:
                try:
                    frame = self.camera.wait_frame(last_seq, timeout=min(self.interval * 2, 1.0))
                except DriverError:
                    frame = None  # no fresh frame this turn; the deadline bounds the session
                if frame is not None:
                    last_seq = frame.seq
                    self.worker.submit(frame.image, tag=frame.seq)
                    submitted += 1
                next_frame = now + self.interval
            try:
                res = results.get(timeout=0.02)
            except queue.Empty:
                if submitted >= most and read >= submitted:
                    break
                continue
            read += 1
            voter.add(res.read.plate, max(0.0, min(1.0, res.read.confidence)) if res.read.plate else 0.0)
            if res.read.plate:
                confidences.setdefault(res.read.plate, []).append(res.read.confidence)
            decision = voter.decision()
            if decision.plate is not None:
                scores = confidences[decision.plate]
                return PlateResult(
                    decision.plate, sum(scores) / len(scores), read, time.monotonic() - started
                )
            if read >= most:
                break
        if self._stop.is_set():
            return None
        return PlateResult(None, 0.0, read, time.monotonic() - started)
