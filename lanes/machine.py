"""The clearance state machine of one lane: events in, commands out, nothing else.

Phases: IDLE (no vehicle) -> IDENTIFYING (a vehicle on the arming loop; tag, plate,
card and trip are gathered) -> RELEASED (released, sent to inspection, or let through
by an officer; barrier up) or REFERRED (an officer must act; barrier down) -> IDLE.

Outputs (lights, inspection sign, barrier, display) are derived from the state after
every event and sent only when they change, so one rule decides each of them:

- the barrier is commanded down only while the safety and closing loops are both known
  clear (unknown, e.g. while the I/O module is faulty, counts as occupied), and is
  reopened if the safety loop is occupied while it is still closing;
- a released crossing ends (and the barrier closes) only after its vehicle has left the
  closing loop, or after all loops have been clear for ``vacate_s``;
- green only from a release decision made with every lane device available, and only
  until the vehicle reaches the safety loop; any fault or tailgating turns it red.

Shutdown: ``LaneStopping`` turns the lane red, takes no new vehicle and decides nothing
more; the barrier closes when (and only when) it is safe, by the same rule as always.

Restart: ``restore`` replays the journal (the machine is deterministic, so this rebuilds
the state exactly; a rotated journal file starts from the state it carries, see
``lanes.machine_state``), then the kiosk sends ``LaneStarted`` with the inputs it read;
lights go red, a pending trip look-up is asked again, and no decision is made twice.

The crossing and its records are in ``lanes.crossing``, the outputs' rules in ``lanes.outputs``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable

from lanes.commands import (
    Alarm,
    Command,
    CrossingRecord,
    Light,
    LookupTrip,
    Outcome,
    RecordCrossing,
    ReportDevice,
)
from lanes.config import LaneConfig
from lanes.crossing import Crossing, Phase, decision_record, inspection_record
from lanes.decision import Identification, decide, identify_vehicle
from lanes.errors import LaneError
from lanes.events import (
    LANE_DEVICES,
    BarrierLimit,
    BarrierPosition,
    CacheSynced,
    CardAuthenticated,
    CardInserted,
    CardRejected,
    CardRemoved,
    Device,
    DeviceAvailability,
    Event,
    InputsSnapshot,
    InspectionResult,
    LaneStarted,
    LaneStopping,
    Loop,
    LoopChanged,
    OfficerAction,
    OfficerCommand,
    PlateDecided,
    TagRead,
    Tick,
    TripFound,
)
from lanes.outputs import drive_outputs, safe_to_close
from lanes.reasons import Reason, reason

__all__ = ["USED_TRIPS_REMEMBERED", "Crossing", "LaneMachine", "Phase"]

USED_TRIPS_REMEMBERED = 4096


class LaneMachine:
    def __init__(self, config: LaneConfig) -> None:
        self.config = config
        self.sequence = 1
        self.now: float | None = None
        self.phase = Phase.IDLE
        self.loops: dict[Loop, bool | None] = dict.fromkeys(Loop)  # None: unknown
        self.barrier_position = BarrierPosition.UNKNOWN
        self.barrier_up: bool | None = None  # last command sent; None: none since start
        self.barrier_deadline: float | None = None
        self.lights: Light | None = None
        self.sign: bool | None = None
        self.message: str | None = None
        self.unavailable: dict[Device, str] = {}
        self.synced_at: float | None = None
        self.card: CardAuthenticated | CardRejected | None = None
        self.card_inserted = False
        self.card_used: CardAuthenticated | CardRejected | None = None  # the card a decision took
        self.crossing: Crossing | None = None
        self.pending_reads: list[TagRead | PlateDecided] = []
        self.previous_marks: tuple[str | None, str | None] = (None, None)  # epc, plate of the last passed
        self.used_trip_ids: deque[str] = deque(maxlen=USED_TRIPS_REMEMBERED)
        self.clear_since: float | None = None
        self.stopping = False

    # -- entry point -------------------------------------------------------------------

    def handle(self, event: Event) -> tuple[Command, ...]:
        if not math.isfinite(event.at):  # NaN would poison every later time comparison
            raise LaneError(f"{type(event).__name__}.at: must be a finite time, not {event.at!r}")
        self.now = event.at if self.now is None else max(self.now, event.at)
        out: list[Command] = []
        getattr(self, "_on_" + type(event).__name__)(event, out)
        self._progress(out)
        drive_outputs(self, out)
        return tuple(out)

    @classmethod
    def restore(cls, config: LaneConfig, events: Iterable[Event]) -> tuple[LaneMachine, list[CrossingRecord]]:
        """Rebuild a machine from its journal; returns it and every record it made, for the
        kiosk to make sure each is in the outbox (keys make that idempotent)."""
        machine = cls(config)
        records = [c.record for e in events for c in machine.handle(e) if isinstance(c, RecordCrossing)]
        return machine, records

    @property
    def lane_faults(self) -> list[Device]:
        return sorted(d for d in self.unavailable if d in LANE_DEVICES)

    # -- event handlers ----------------------------------------------------------------

    def _on_LaneStarted(self, e: LaneStarted, out: list[Command]) -> None:
        self.sequence = max(self.sequence, e.next_sequence)
        self.used_trip_ids.extend(t for t in e.released_trip_ids if t not in self.used_trip_ids)
        self.stopping = False
        for device in Device:
            self._set_availability(device, device not in e.unavailable, "at start-up", out)
        if Device.IO in self.unavailable:
            self.loops = dict.fromkeys(Loop)
        else:
            self.loops = {Loop.ARMING: e.arming, Loop.SAFETY: e.safety, Loop.CLOSING: e.closing}
        self.barrier_position, self.barrier_up, self.barrier_deadline = e.barrier, None, None
        self.lights = self.sign = self.message = None  # unknown after a restart: send them all again
        if e.synced_at is not None:
            self.synced_at = max(self.synced_at or e.synced_at, e.synced_at)
        self.card, self.card_inserted = None, False  # the card reader reports a present card again
        self.card_used = None
        self._update_clear_since()
        c = self.crossing
        if c is not None:
            c.green_allowed = False
            if all(v is False for v in self.loops.values()):
                self._end_crossing(out, passed=False)
            elif self.phase is Phase.IDENTIFYING and c.lookup_for is not None and not c.trip_answered:
                out.append(LookupTrip(c.lookup_for))  # the answer was lost with the old process
        elif self.loops[Loop.ARMING] is True:
            self._start_crossing()

    def _on_LaneStopping(self, e: LaneStopping, out: list[Command]) -> None:
        self.stopping = True

    def _on_Tick(self, e: Tick, out: list[Command]) -> None:
        pass

    def _on_LoopChanged(self, e: LoopChanged, out: list[Command]) -> None:
        self._apply_loop(e.loop, e.occupied, out)

    def _on_InputsSnapshot(self, e: InputsSnapshot, out: list[Command]) -> None:
        for loop, occupied in ((Loop.ARMING, e.arming), (Loop.SAFETY, e.safety), (Loop.CLOSING, e.closing)):
            self._apply_loop(loop, occupied, out)
        self._on_BarrierLimit(BarrierLimit(e.at, e.barrier), out)

    def _on_BarrierLimit(self, e: BarrierLimit, out: list[Command]) -> None:
        self.barrier_position = e.position
        target = {True: BarrierPosition.UP, False: BarrierPosition.DOWN, None: None}[self.barrier_up]
        if e.position is target:
            self.barrier_deadline = None
            self._set_availability(Device.BARRIER, True, "", out)

    def _on_TagRead(self, e: TagRead, out: list[Command]) -> None:
        c = self.crossing
        if self.phase is Phase.IDENTIFYING and c is not None and c.ident is None:
            if all(t.epc != e.epc for t in c.tags):
                c.tags.append(e)
        else:
            self._remember_read(e)

    def _on_PlateDecided(self, e: PlateDecided, out: list[Command]) -> None:
        c = self.crossing
        if self.phase is Phase.IDENTIFYING and c is not None and c.ident is None:
            if c.plate is None or e.confidence >= c.plate.confidence:
                c.plate = e
        else:
            self._remember_read(e)

    def _on_CardInserted(self, e: CardInserted, out: list[Command]) -> None:
        self.card_inserted = True

    def _on_CardAuthenticated(self, e: CardAuthenticated, out: list[Command]) -> None:
        self.card, self.card_inserted = e, True

    def _on_CardRejected(self, e: CardRejected, out: list[Command]) -> None:
        self.card, self.card_inserted = e, True

    def _on_CardRemoved(self, e: CardRemoved, out: list[Command]) -> None:
        self.card, self.card_inserted = None, False

    def _on_TripFound(self, e: TripFound, out: list[Command]) -> None:
        c = self.crossing
        if (self.phase is Phase.IDENTIFYING and c is not None and c.lookup_for == e.vehicle_id
                and not c.trip_answered):
            c.trip_answered, c.trip = True, e.trip

    def _on_CacheSynced(self, e: CacheSynced, out: list[Command]) -> None:
        self.synced_at = e.synced_at if self.synced_at is None else max(self.synced_at, e.synced_at)

    def _on_DeviceAvailability(self, e: DeviceAvailability, out: list[Command]) -> None:
        self._set_availability(e.device, e.available, e.reason, out)

    def _on_OfficerAction(self, e: OfficerAction, out: list[Command]) -> None:
        c = self.crossing
        if e.command is OfficerCommand.RESET:
            if c is not None:
                self._end_crossing(out, passed=False)
            return
        if c is None or self.phase not in (Phase.IDENTIFYING, Phase.REFERRED) or self.stopping:
            return  # nothing to override: no vehicle waiting for a decision, or the lane is closing
        inspect = e.command is OfficerCommand.INSPECT
        why = reason("OFFICER_INSPECT" if inspect else "OFFICER_RELEASE", e.note)
        self._record_decision(out, Outcome.OFFICER_OVERRIDE, (why,), officer_id=e.officer_id, note=e.note)
        self._release(c, Outcome.OFFICER_OVERRIDE, inspect)

    def _on_InspectionResult(self, e: InspectionResult, out: list[Command]) -> None:
        out.append(RecordCrossing(inspection_record(self.config, self._next_sequence(), self._now, e)))

    # -- loops, crossings, decisions ---------------------------------------------------

    def _apply_loop(self, loop: Loop, occupied: bool, out: list[Command]) -> None:
        before = self.loops[loop]
        self.loops[loop] = occupied
        self._update_clear_since()
        c = self.crossing
        released = self.phase is Phase.RELEASED and c is not None
        if loop is Loop.ARMING and occupied and self.phase is Phase.IDLE:
            self._start_crossing()  # also when nothing was known before (I/O module back)
        if before is None or before == occupied:
            return  # not an edge (or nothing known before it)
        if loop is Loop.ARMING and occupied:
            if released and c is not None and c.left_arming:
                self._tailgating(c, out, "second vehicle on the arming loop")
        elif not released or c is None:
            return
        elif loop is Loop.ARMING:
            c.left_arming = c.entered_safety
        elif loop is Loop.SAFETY and occupied:
            if c.left_safety:
                self._tailgating(c, out, "second vehicle under the arm")
            c.entered_safety = True
        elif loop is Loop.SAFETY:
            c.left_safety = c.entered_safety and self.loops[Loop.CLOSING] is True
        elif not occupied and c.entered_safety:  # closing loop, trailing edge
            c.passed = True

    def _tailgating(self, c: Crossing, out: list[Command], detail: str) -> None:
        if not c.tailgating:
            c.tailgating = True
            out.append(Alarm("tailgating", detail))

    def _start_crossing(self) -> None:
        if self.stopping:
            return
        now = self._now
        c = Crossing(arrived_at=now)
        epc, plate = self.previous_marks
        for read in self.pending_reads:
            if read.at < now - self.config.pre_arm_window_s:
                continue
            if isinstance(read, TagRead) and read.epc != epc and all(t.epc != read.epc for t in c.tags):
                c.tags.append(read)
            elif isinstance(read, PlateDecided) and (read.plate is None or read.plate != plate):
                c.plate = read
        self.pending_reads = []
        self.crossing, self.phase = c, Phase.IDENTIFYING

    def _end_crossing(self, out: list[Command], *, passed: bool) -> None:
        c = self.crossing
        if c is not None and passed and c.ident is not None:
            self.previous_marks = (c.ident.tag_epc, c.plate.plate if c.plate else None)
        if not passed:
            # The vehicle went away (reversed out, or moved by an officer) and every loop
            # has been clear for vacate_s: nothing read before now can belong to the next
            # vehicle, while late reads of the one that left (a plate decided after its
            # referral) would otherwise be taken for the next arrival's.
            self.pending_reads = []
        self.crossing, self.phase = None, Phase.IDLE
        if self.loops[Loop.ARMING] is True:
            self._start_crossing()  # the vehicle behind is next

    def _remember_read(self, read: TagRead | PlateDecided) -> None:
        horizon = self._now - self.config.pre_arm_window_s
        self.pending_reads = [*[r for r in self.pending_reads if r.at >= horizon][-15:], read]

    def _progress(self, out: list[Command]) -> None:
        now, cfg, c = self._now, self.config, self.crossing
        if self.phase is Phase.IDENTIFYING and c is not None and not self.stopping:
            forced = bool(self.lane_faults) or now >= c.arrived_at + cfg.identify_timeout_s
            if c.ident is None and (forced or self._identification_ready(c)):
                c.ident = identify_vehicle(tuple(c.tags), c.plate, cfg)
                if c.ident.vehicle is not None and not forced:
                    c.lookup_for = c.ident.vehicle.vehicle_id
                    out.append(LookupTrip(c.lookup_for))
            ident = c.ident
            card = self.card_for(c)
            answered = ident is not None and (ident.vehicle is None or c.trip_answered)
            if ident is not None and (forced or (card is not None and answered)):
                self._decide(c, ident, card, out)
        c = self.crossing
        if self.phase is Phase.RELEASED and c is not None and c.passed and safe_to_close(self):
            self._end_crossing(out, passed=True)
        elif (self.crossing is not None and self.clear_since is not None
              and now - self.clear_since >= cfg.vacate_s):
            self._end_crossing(out, passed=False)  # the vehicle went away (reversed, or officer moved it)
        if self.barrier_deadline is not None and now > self.barrier_deadline:
            self.barrier_deadline = None
            why = f"no limit within {cfg.barrier_travel_s:g}s"
            if self._set_availability(Device.BARRIER, False, why, out):
                out.append(Alarm("barrier_travel", f"commanded {'up' if self.barrier_up else 'down'}"))

    def _identification_ready(self, c: Crossing) -> bool:
        now, cfg = self._now, self.config
        if c.plate is not None:
            return bool(c.tags) or now >= max(c.arrived_at, c.plate.at) + cfg.tag_wait_s
        return now >= c.arrived_at + cfg.plate_wait_s

    def card_for(self, c: Crossing) -> CardAuthenticated | CardRejected | None:
        # A driver can be quicker than loop detection: a card read up to pre_arm_window_s
        # before the arrival is this driver's, as a tag read then is this vehicle's. Read
        # earlier (a card forgotten in the reader), or already taken by a decision on the
        # vehicle before, it is someone else's.
        card = self.card
        if card is None or (card is self.card_used and card is not c.card):
            return None
        return card if card.at >= c.arrived_at - self.config.pre_arm_window_s else None

    def _decide(self, c: Crossing, ident: Identification, card: CardAuthenticated | CardRejected | None,
                out: list[Command]) -> None:
        d = decide(config=self.config, now=self._now, ident=ident, trip_answered=c.trip_answered,
                   trip=c.trip, card=card, faults=self.lane_faults, synced_at=self.synced_at,
                   used_trip_ids=self.used_trip_ids)
        self._record_decision(out, d.outcome, d.reasons)
        if d.outcome is Outcome.REFERRED:
            c.outcome, self.phase = d.outcome, Phase.REFERRED
        else:
            self._release(c, d.outcome, d.outcome is Outcome.INSPECTION)

    def _release(self, c: Crossing, outcome: Outcome, inspect: bool) -> None:
        c.outcome, c.inspection, self.phase = outcome, inspect, Phase.RELEASED
        c.green_allowed = not self.lane_faults
        # A vehicle already under the arm when released is on its way through.
        c.entered_safety = self.loops[Loop.SAFETY] is True
        if c.trip is not None:
            self.used_trip_ids.append(c.trip.trip_id)

    def _record_decision(self, out: list[Command], outcome: Outcome, reasons: tuple[Reason, ...], *,
                         officer_id: str | None = None, note: str = "") -> None:
        c = self.crossing
        assert c is not None
        card = self.card_for(c)
        if card is not None:
            self.card_used = c.card = card
        out.append(RecordCrossing(decision_record(
            self.config, self._next_sequence(), self._now, c, outcome, reasons, card,
            officer_id=officer_id, note=note,
        )))

    # -- availability -----------------------------------------------------------------------

    def _set_availability(self, device: Device, available: bool, why: str, out: list[Command]) -> bool:
        if (device not in self.unavailable) == available:
            return False
        if available:
            del self.unavailable[device]
        else:
            self.unavailable[device] = why
            if device is Device.IO:  # the loops can no longer be seen: treat them as occupied
                self.loops = dict.fromkeys(Loop)
                self.clear_since = None
            if self.crossing is not None and device in LANE_DEVICES:
                self.crossing.green_allowed = False
        out.append(ReportDevice(device, available, why))
        return True

    # -- small helpers -----------------------------------------------------------------

    @property
    def _now(self) -> float:
        assert self.now is not None
        return self.now

    def _next_sequence(self) -> int:
        seq = self.sequence
        self.sequence += 1
        return seq

    def _update_clear_since(self) -> None:
        if all(v is False for v in self.loops.values()):
            if self.clear_since is None:
                self.clear_since = self._now
        else:
            self.clear_since = None
