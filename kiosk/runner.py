"""One lane, running: its control loop owns the lane machine and executes its commands.

The loop takes inputs from one queue (driver callbacks, plate results, availability
changes), stamps each with the kiosk's clock (never earlier than the previous event, so
the journal's times only go forward), feeds the machine, journals the event with its
commands, and executes the commands in order:

- ``RecordCrossing``: the decision and its outbox event, one SQLite transaction, durable
  before anything after it runs. If that write fails the barrier does not go up and the
  lights stay red; the write is retried every tick (the journal already holds it).
- ``LookupTrip``: a local cache query, answered at once with ``TripFound`` (fed back
  before the next queued input). Nothing on this path waits for central.
- ``SetBarrier``/``SetLights``/``SetInspectionSign``: the outputs wanted, handed to the
  output writer (``kiosk.outputs``), which applies them to the I/O module off this loop
  and re-applies them whenever the module comes back (it resets itself to safe outputs
  on every connect) or refused one (the driver refuses to lower the arm onto an
  occupied safety loop).
- ``ShowMessage``, ``Alarm``, ``ReportDevice``: logged (and counted).

A ``Tick`` every ``TICK_S`` lets time-outs fire; ticks that cannot change anything (no
vehicle, no barrier travel being timed) are not journaled, which replays identically
because event times never go back.

Restart: the journal's current file is replayed into a machine (fresh, or in the state a
rotated file carries); every decision it holds is made sure of in the outbox (keys make
that idempotent); then ``LaneStarted`` carries the loop inputs read from the I/O module.
Between events, with every decision written, the journal rotates once its file is full
(``kiosk.journal_file``). Shutdown: ``LaneStopping``; the loop keeps running until the arm
is down or cannot safely be lowered within ``stop_grace_s``.

Split by concern: decisions into the outbox in ``kiosk.lane_records``, device inputs as
lane events in ``kiosk.lane_inputs``, what the other commands do in ``kiosk.lane_commands``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable

from drivers.base import DriverError
from kiosk import metrics
from kiosk.cache import LaneCache
from kiosk.config import KioskConfig
from kiosk.journal_file import JournalFile, JournalInUse
from kiosk.lane_commands import announce, apply_output
from kiosk.lane_devices import Input, LaneDevices, build_devices
from kiosk.lane_inputs import Request, inputs_snapshot, lane_started, wait_for_devices
from kiosk.lane_records import DecisionRecorder
from kiosk.outbox import Outbox, OutboxSender
from kiosk.outputs import Outputs
from kiosk.sync_client import SyncClient
from kiosk.tls import LaneTls
from lanes import events as ev
from lanes.commands import (
    Command,
    LookupTrip,
    RecordCrossing,
    SetBarrier,
    SetInspectionSign,
    SetLights,
)
from lanes.events import Loop
from lanes.machine import LaneMachine, Phase

log = logging.getLogger(__name__)

TICK_S = 0.1
SYNC_CHECK_S = 1.0
STARTUP_WAIT_S = 5.0  # for configured devices to come up before LaneStarted


class LaneError(RuntimeError):
    """The lane cannot start (its journal is held by another kiosk, or unreadable)."""


class LaneRunner:
    def __init__(
        self,
        config: KioskConfig,
        *,
        clock: Callable[[], float] = time.time,
        on_alive: Callable[[LaneRunner], None] | None = None,
        stop_grace_s: float = 15.0,
    ) -> None:
        if config.lane.logic is None:
            raise LaneError("lane: settings are not valid")
        self.config = config
        self.lane_config = config.lane.logic
        self.lane_id = config.lane.id
        self.clock = clock
        self.on_alive = on_alive
        self.stop_grace_s = stop_grace_s
        self.queue: queue.Queue[Input] = queue.Queue()
        self.cache: LaneCache | None = None
        self.outbox: Outbox | None = None
        self.devices: LaneDevices | None = None
        self.sync: SyncClient | None = None
        self.sender: OutboxSender | None = None
        self.machine: LaneMachine | None = None
        self.journal = JournalFile.for_lane(config.journal, self.lane_id)
        self.outputs = Outputs(self.lane_id, self._io_call)
        self.recorder: DecisionRecorder | None = None
        self._last_at = 0.0
        self._stop_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._synced_at: float | None = None
        self.last_alive = time.monotonic()
        self.message = ""
        self.done = threading.Event()
        self.closed = False

    # --- start ----------------------------------------------------------------------------

    def start(self) -> None:
        cfg = self.config
        try:
            self.journal.lock()
        except JournalInUse as exc:
            raise LaneError(f"journal.path: {exc}") from exc
        self.cache = LaneCache.open(cfg.cache.path, cfg.lane.control_point, cfg.lane.direction)
        self.outbox = Outbox(self.cache, self.lane_id)
        self.recorder = DecisionRecorder(self.lane_id, self.cache, self.outbox, self.outputs)
        cache, outbox = self.cache, self.outbox
        metrics.bind_lane(
            self.lane_id,
            lambda: _inf_if_none(cache.staleness_s()),
            lambda: float(outbox.pending_count()),
        )
        self.machine = self._restore()
        self.devices = build_devices(cfg, self.cache, self.post)
        self.devices.on_io_back = lambda: self.post(self._io_back)
        self.devices.on_watchdog_fallback = lambda: self.post(self._io_back)
        self.devices.start()
        self.outputs.start()
        wait_for_devices(self.devices, STARTUP_WAIT_S, self.lane_id)
        if cfg.central is not None:
            tls = LaneTls(cfg.central.ca, cfg.central.cert, cfg.central.key, cfg.central.server_name)
            self.sync = SyncClient(self.cache, cfg.central.address, tls, self.lane_id)
            self.sender = OutboxSender(
                outbox, cfg.central.address, tls, call_timeout_s=cfg.central.rpc_timeout_s
            )
            self.sync.start()
            self.sender.start()
        self._handle(self._lane_started(self._stamp()))
        for device in self.devices.availabilities():  # as state from the start, not only on changes
            up = device not in self.machine.unavailable
            metrics.DEVICE_AVAILABLE.labels(self.lane_id, str(device)).set(1 if up else 0)
        if self.sync is not None:
            sync = self.sync
            metrics.DEVICE_AVAILABLE.labels(self.lane_id, "central").set_function(
                lambda: 1.0 if sync.availability.available else 0.0
            )
        self.last_alive = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"lane-{self.lane_id}", daemon=True)
        self._thread.start()

    def _restore(self) -> LaneMachine:
        assert self.recorder is not None
        machine, records = self.journal.open_or_start_afresh(self.lane_config)
        for record in records:
            self.recorder.record(record, restoring=True)
        if machine.now is not None:
            self._last_at = machine.now
        return machine

    def _lane_started(self, at: float) -> ev.LaneStarted:
        assert self.devices is not None and self.cache is not None
        self._synced_at = self.cache.status().last_message_at
        return lane_started(self.devices, at, self._next_sequence(), self._synced_at)

    def _next_sequence(self) -> int:
        assert self.recorder is not None and self.machine is not None
        return self.recorder.next_sequence(self.machine.sequence)

    # --- inputs -----------------------------------------------------------------------------

    def post(self, item: Input) -> None:
        self.queue.put(item)

    def submit(
        self, make: Callable[[float], ev.Event], timeout: float
    ) -> tuple[tuple[Command, ...], str, str]:
        """Feed an input through the control loop and wait for its commands and the phases
        before and after it; raises TimeoutError when the loop does not get to it in time."""
        request = Request(make)
        self.post(request)
        if not request.done.wait(timeout):
            raise TimeoutError(f"lane {self.lane_id}: the control loop did not take the input in time")
        return request.commands, request.phase_before, request.phase

    def request_stop(self) -> None:
        self._stop_requested.set()
        self.queue.put(lambda at: None)  # wake the loop

    def _stamp(self) -> float:
        self._last_at = max(self._last_at, self.clock())
        return self._last_at

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        next_tick = time.monotonic()
        next_sync_check = time.monotonic()
        stopping_since: float | None = None
        try:
            while True:
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + TICK_S
                    self._tick()
                if now >= next_sync_check:
                    next_sync_check = now + SYNC_CHECK_S
                    self._check_sync()
                if self._stop_requested.is_set() and stopping_since is None:
                    stopping_since = now
                    self._handle(ev.LaneStopping(self._stamp(), "SIGTERM"))
                if stopping_since is not None and self._stopped_safely(now - stopping_since):
                    break
                self._alive()
                try:
                    item = self.queue.get(timeout=max(0.0, next_tick - time.monotonic()))
                except queue.Empty:
                    continue
                if isinstance(item, Request) and self.machine is not None:
                    item.phase_before = str(self.machine.phase)
                try:
                    event = item(self._stamp())
                except Exception:  # e.g. the cache unreadable for one look-up
                    log.exception("lane %s: an input could not be turned into an event", self.lane_id)
                    continue
                commands = self._handle(event) if event is not None else ()
                if isinstance(item, Request):
                    item.finish(commands, str(self.machine.phase) if self.machine else "")
        except Exception:
            log.exception("lane %s: control loop failed; leaving the lane safe", self.lane_id)
        finally:
            self.done.set()

    def _alive(self) -> None:
        self.last_alive = time.monotonic()
        metrics.LOOP_ALIVE.labels(self.lane_id).set(time.time())
        if self.on_alive is not None:
            self.on_alive(self)

    def _tick(self) -> None:
        assert self.recorder is not None
        if self.recorder.unrecorded:
            self.recorder.retry()
        self._handle(ev.Tick(self._stamp()))

    def _check_sync(self) -> None:
        assert self.cache is not None
        try:
            last = self.cache.status().last_message_at
        except Exception as exc:
            log.warning("lane %s: cannot read the cache's sync state: %s", self.lane_id, exc)
            return
        # Each heartbeat need not become a journal line: staleness is judged against
        # minutes, so news of a sync matters once it moves by a twentieth of the limit.
        step = min(10.0, self.lane_config.stale_limit_s / 20)
        if last is not None and (self._synced_at is None or last - self._synced_at >= step):
            self._synced_at = last
            self._handle(ev.CacheSynced(self._stamp(), last))

    def _stopped_safely(self, waited: float) -> bool:
        m = self.machine
        assert m is not None
        down = m.barrier_up is False and not self.outputs.pending()
        if down or waited >= self.stop_grace_s:
            if not down:
                log.warning("lane %s: stopping with the arm not lowered (safety loop occupied)", self.lane_id)
            return True
        return False

    def _io_back(self, at: float) -> ev.Event | None:
        """The I/O module (re)connected and set itself safe: every output is to be applied
        again, and the lane learns all loop inputs at once."""
        assert self.devices is not None
        self.outputs.invalidate()
        return inputs_snapshot(self.devices, at)

    # --- one event --------------------------------------------------------------------------------

    def _handle(self, event: ev.Event) -> tuple[Command, ...]:
        """Feed one input (and the answers its commands bring); returns its own commands."""
        m = self.machine
        assert m is not None
        pending: list[ev.Event] = [event]
        first: tuple[Command, ...] | None = None
        while pending:
            e = pending.pop(0)
            started = time.perf_counter()
            quiet = isinstance(e, ev.Tick) and m.crossing is None and m.barrier_deadline is None
            arming_before = m.loops.get(Loop.ARMING)
            commands = m.handle(e)
            first = commands if first is None else first
            if commands or not quiet:
                self.journal.append(e, commands)
            for command in commands:
                answer = self._execute(command, e.at)
                if answer is not None:
                    pending.append(answer)
            if arming_before is not True and m.loops.get(Loop.ARMING) is True:
                self._arrival(e.at)
            metrics.EVENT_LATENCY.labels(self.lane_id).observe(time.perf_counter() - started)
        self._update_phase()
        if self.recorder is not None and not self.recorder.unrecorded:
            self.journal.rotate_if_due(m)  # only with every decision of the file in the outbox
        return first or ()

    def _arrival(self, at: float) -> None:
        if self.devices is not None and self.devices.plates is not None:
            self.devices.plates.trigger()

    def _execute(self, command: Command, at: float) -> ev.Event | None:
        if isinstance(command, RecordCrossing):
            assert self.recorder is not None
            self.recorder.record(command.record)
        elif isinstance(command, LookupTrip):
            return self._lookup(command.vehicle_id, at)
        elif isinstance(command, SetLights):
            self.outputs.set("lights", command.colour)
        elif isinstance(command, SetInspectionSign):
            self.outputs.set("sign", command.on)
        elif isinstance(command, SetBarrier):
            self.outputs.set("barrier", command.up)
        else:
            message = announce(self.lane_id, command)
            if message is not None:
                self.message = message
        return None

    def _lookup(self, vehicle_id: str, at: float) -> ev.Event | None:
        assert self.cache is not None
        try:
            trip = self.cache.open_trip_for_vehicle(vehicle_id, at=at)
        except Exception as exc:
            # Unanswered, the lane refers the vehicle at its identify timeout: no guessing.
            log.error("lane %s: trip look-up for %s failed: %s", self.lane_id, vehicle_id, exc)
            return None
        return ev.TripFound(at, vehicle_id, trip)

    def _io_call(self, name: str, value: object) -> None:
        assert self.devices is not None
        apply_output(self.devices.io, name, value)

    # --- status -------------------------------------------------------------------------------------

    def _update_phase(self) -> None:
        m = self.machine
        assert m is not None
        for phase in Phase:
            metrics.PHASE.labels(self.lane_id, phase.value).set(1 if m.phase is phase else 0)

    def status(self) -> str:
        m = self.machine
        if m is None:
            return f"{self.lane_id}: starting"
        faults = ",".join(str(d) for d in m.lane_faults) or "none"
        stale = self.cache.staleness_s() if self.cache is not None else None
        age = "never synced" if stale is None else f"cache {stale:.0f}s old"
        return f"{self.lane_id}: {m.phase}, lights {m.lights}, faults {faults}, {age}"

    # --- stop ------------------------------------------------------------------------------------------

    def fail_safe(self) -> None:
        """From outside a wedged loop: red, and the arm let down only if the safety loop is clear."""
        if self.devices is None:
            return
        try:
            self.devices.io.fail_safe()
        except DriverError as exc:
            log.error("lane %s: could not set the safe outputs: %s", self.lane_id, exc)

    def join(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def close(self) -> None:
        """Stop everything of this lane, leaving it safe; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        self.request_stop()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(self.stop_grace_s + 5.0)
        for stop in (
            self.outputs.stop,
            self.sender.stop if self.sender else None,
            self.sync.stop if self.sync else None,
            self.devices.close if self.devices else None,
        ):
            if stop is not None:
                try:
                    stop()
                except Exception:
                    log.exception("lane %s: stopping a part failed", self.lane_id)
        with contextlib.suppress(Exception):
            self.journal.close()
        if self.cache is not None:
            self.cache.close()
        self.journal.unlock()


def _inf_if_none(value: float | None) -> float:
    return float("inf") if value is None else value
