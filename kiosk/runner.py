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

Restart: the journal is replayed into a fresh machine; every decision it holds is made
sure of in the outbox (keys make that idempotent); then ``LaneStarted`` carries the loop
inputs read from the I/O module. Shutdown: ``LaneStopping``; the loop keeps running until
the arm is down or cannot safely be lowered within ``stop_grace_s``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import IO

from drivers.base import DriverError
from kiosk import metrics
from kiosk.cache import LaneCache
from kiosk.config import KioskConfig
from kiosk.journal_file import JournalFile
from kiosk.lane_devices import Input, LaneDevices, barrier_position, build_devices
from kiosk.outbox import Outbox, OutboxError, OutboxSender
from kiosk.outputs import Outputs
from kiosk.sync_client import SyncClient
from kiosk.tls import LaneTls
from lanes import events as ev
from lanes.commands import (
    Alarm,
    Command,
    CrossingRecord,
    Light,
    LookupTrip,
    RecordCrossing,
    ReportDevice,
    SetBarrier,
    SetInspectionSign,
    SetLights,
    ShowMessage,
)
from lanes.errors import JournalError
from lanes.events import Device, Loop
from lanes.machine import LaneMachine, Phase

log = logging.getLogger(__name__)

TICK_S = 0.1
SYNC_CHECK_S = 1.0
STARTUP_WAIT_S = 5.0  # for configured devices to come up before LaneStarted


class LaneError(RuntimeError):
    """The lane cannot start (its journal is held by another kiosk, or unreadable)."""


class Request:
    """An input whose sender waits for what the lane made of it (an officer's action)."""

    def __init__(self, make: Callable[[float], ev.Event]) -> None:
        self.make = make
        self.commands: tuple[Command, ...] = ()
        self.phase = ""
        self.phase_before = ""
        self.done = threading.Event()

    def __call__(self, at: float) -> ev.Event:
        return self.make(at)

    def finish(self, commands: tuple[Command, ...], phase: str) -> None:
        self.commands, self.phase = commands, phase
        self.done.set()


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
        journal_dir = config.journal.path
        self.journal = JournalFile(journal_dir / f"{self.lane_id}.jsonl")
        self._lock_fh: IO[str] | None = None
        self.outputs = Outputs(self.lane_id, self._io_call)
        self._unrecorded: list[CrossingRecord] = []
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
        self._lock_journal()
        self.cache = LaneCache.open(cfg.cache.path, cfg.lane.control_point, cfg.lane.direction)
        self.outbox = Outbox(self.cache, self.lane_id)
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
        self._wait_for_devices(STARTUP_WAIT_S)
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

    def _lock_journal(self) -> None:
        path = self.journal.path.with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("w")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise LaneError(f"journal.path: {self.journal.path} is in use by another kiosk process") from exc
        self._lock_fh = fh

    def _restore(self) -> LaneMachine:
        assert self.outbox is not None and self.cache is not None
        try:
            machine, records = self.journal.open_and_restore(self.lane_config)
        except JournalError as exc:
            # The outbox still numbers decisions on; a lane must not stay shut over its diary.
            aside = self.journal.path.with_name(f"{self.journal.path.name}.unreadable-{int(time.time())}")
            log.error(
                "journal %s unreadable (%s); moved to %s and starting afresh", self.journal.path, exc, aside
            )
            self.journal.path.rename(aside)
            machine, records = self.journal.open_and_restore(self.lane_config)
        for record in records:
            self._record(record, restoring=True)
        if machine.now is not None:
            self._last_at = machine.now
        return machine

    def _wait_for_devices(self, timeout: float) -> None:
        assert self.devices is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(a.available for a in self.devices.availabilities().values()):
                return
            time.sleep(0.05)
        down = [f"{d} ({a.reason})" for d, a in self.devices.availabilities().items() if not a.available]
        log.warning("lane %s starting with device(s) not available: %s", self.lane_id, ", ".join(down))

    def _lane_started(self, at: float) -> ev.LaneStarted:
        assert self.devices is not None and self.cache is not None
        inputs: dict[str, bool] = {}
        with contextlib.suppress(DriverError):
            inputs = self.devices.io.read_inputs()
        unavailable = tuple(d for d, a in self.devices.availabilities().items() if not a.available)
        if not inputs and Device.IO not in unavailable:
            unavailable = (*unavailable, Device.IO)
        self._synced_at = self.cache.status().last_message_at
        return ev.LaneStarted(
            at=at,
            next_sequence=self._next_sequence(),
            arming=inputs.get("arming_loop", False),
            safety=inputs.get("safety_loop", False),
            closing=inputs.get("closing_loop", False),
            barrier=barrier_position(inputs) if inputs else ev.BarrierPosition.UNKNOWN,
            synced_at=self._synced_at,
            unavailable=tuple(sorted(unavailable)),
        )

    def _next_sequence(self) -> int:
        assert self.cache is not None and self.machine is not None
        X = self.cache.m.LaneCrossing
        highest = 0
        prefix = f"{self.lane_id}:"
        for (key,) in X.select(X.idempotency_key).where(X.idempotency_key.startswith(prefix)).tuples():
            with contextlib.suppress(ValueError):
                highest = max(highest, int(key[len(prefix) :]))
        return max(highest + 1, self.machine.sequence)

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
        m = self.machine
        assert m is not None
        if self._unrecorded:
            self._retry_records()
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
        inputs = self.devices.io.inputs
        if inputs is None:
            with contextlib.suppress(DriverError):
                inputs = self.devices.io.read_inputs()
        if not inputs:
            return None
        return ev.InputsSnapshot(
            at, inputs["arming_loop"], inputs["safety_loop"], inputs["closing_loop"], barrier_position(inputs)
        )

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
        return first or ()

    def _arrival(self, at: float) -> None:
        if self.devices is not None and self.devices.plates is not None:
            self.devices.plates.trigger()

    def _execute(self, command: Command, at: float) -> ev.Event | None:
        if isinstance(command, RecordCrossing):
            self._record(command.record)
        elif isinstance(command, LookupTrip):
            return self._lookup(command.vehicle_id, at)
        elif isinstance(command, SetLights):
            self.outputs.set("lights", command.colour)
        elif isinstance(command, SetInspectionSign):
            self.outputs.set("sign", command.on)
        elif isinstance(command, SetBarrier):
            self.outputs.set("barrier", command.up)
        elif isinstance(command, ShowMessage):
            self.message = command.english
            log.info("lane %s display: %s / %s", self.lane_id, command.english, command.chinese)
        elif isinstance(command, Alarm):
            metrics.ALARMS.labels(self.lane_id, command.kind).inc()
            log.warning("lane %s ALARM %s: %s", self.lane_id, command.kind, command.detail)
        elif isinstance(command, ReportDevice):
            metrics.DEVICE_AVAILABLE.labels(self.lane_id, str(command.device)).set(
                1 if command.available else 0
            )
            if command.available:
                log.info("lane %s: device %s available", self.lane_id, command.device)
            else:
                log.warning(
                    "lane %s: device %s unavailable: %s", self.lane_id, command.device, command.reason
                )
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

    def _recorded(self, key: str) -> bool:
        assert self.cache is not None
        X = self.cache.m.LaneCrossing
        return bool(X.select().where(X.idempotency_key == key).exists())

    def _record(self, record: CrossingRecord, *, restoring: bool = False, retry: bool = False) -> None:
        assert self.outbox is not None
        key = record.idempotency_key
        if restoring and self._recorded(key):
            return
        try:
            self.outbox.record(record)
        except Exception as exc:
            # A duplicate key is success only if the record really is there: any other
            # refusal (a full disk, a failing constraint) holds the vehicle until it is written.
            with contextlib.suppress(Exception):
                if isinstance(exc, OutboxError) and self._recorded(key):
                    log.info("lane %s: decision %s already recorded", self.lane_id, key)
                    return
            if not retry:
                log.error(
                    "lane %s: decision %s not recorded yet (%s); the lane holds the vehicle, retrying",
                    self.lane_id,
                    key,
                    exc,
                )
            self._unrecorded.append(record)
            self.outputs.blocked = True
            return
        if restoring:
            log.warning("lane %s: decision %s restored from the journal into the outbox", self.lane_id, key)
            return
        if retry:
            log.info("lane %s: decision %s recorded after all", self.lane_id, key)
        metrics.CROSSINGS.labels(self.lane_id, str(record.outcome)).inc()
        if record.arrived_at is not None:
            latency = max(0.0, record.decided_at - record.arrived_at)
            metrics.DECISION_LATENCY.labels(self.lane_id).observe(latency)
        reasons = ", ".join(r.code for r in record.reasons)
        log.info("lane %s decision %s: %s (%s)", self.lane_id, key, record.outcome, reasons)

    def _retry_records(self) -> None:
        records, self._unrecorded = self._unrecorded, []
        for record in records:
            self._record(record, retry=True)
        if not self._unrecorded:
            self.outputs.blocked = False

    def _io_call(self, name: str, value: object) -> None:
        assert self.devices is not None
        io = self.devices.io
        if name == "lights":
            io.set_light(red=value is Light.RED, green=value is Light.GREEN)
        elif name == "sign":
            io.set_inspection_sign(bool(value))
        elif value:
            io.raise_barrier()
        else:
            io.lower_barrier()

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
        if self._lock_fh is not None:
            self._lock_fh.close()
            self._lock_fh = None


def _inf_if_none(value: float | None) -> float:
    return float("inf") if value is None else value
