"""Records, events and a journaling harness shared by the lane tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from lanes.commands import Command, CrossingRecord, Light, LookupTrip, RecordCrossing, SetBarrier, SetLights
from lanes.config import LaneConfig
from lanes.events import (
    BarrierLimit,
    BarrierPosition,
    CardAuthenticated,
    Event,
    LaneStarted,
    Loop,
    LoopChanged,
    PlateDecided,
    TagRead,
    TripFound,
)
from lanes.journal import entry_line, header_line
from lanes.machine import LaneMachine
from lanes.records import Direction, DriverRecord, TripRecord, VehicleRecord, Verdict

T0 = 1_790_000_000.0  # a fixed instant; nothing here reads a clock

CONFIG = LaneConfig(lane_id="LMC-I-01", control_point="LMC", direction=Direction.IMPORT)

TRUCK = VehicleRecord("V-1", "FV 1234", "E2801160600002", watch_listed=False)
OTHER_TRUCK = VehicleRecord("V-2", "GK 77", "E2801160600099")
WATCHED_TRUCK = VehicleRecord("V-3", "HX 5", "E2801160600055", watch_listed=True)
DRIVER = DriverRecord("D-1", "A123456(7)", "C-0001", "CHAN Tai Man")
OTHER_DRIVER = DriverRecord("D-2", "B765432(1)", "C-0002", "WONG Siu Ming")
WATCHED_DRIVER = DriverRecord("D-3", "C111111(1)", "C-0003", "LEE Ka Ho", watch_listed=True)


def trip(verdict: Verdict = Verdict.CLEAR, **overrides: object) -> TripRecord:
    values: dict[str, object] = dict(
        trip_id="TRIP-1", vehicle_id=TRUCK.vehicle_id, driver_id=None, control_point="LMC",
        direction=Direction.IMPORT, slot_start=T0 - 600, slot_end=T0 + 1800, verdict=verdict,
        verdict_reasons=("R-RANDOM",) if verdict is not Verdict.CLEAR else (),
        ccrns=("1234567890123", "1234567890124"),
    )
    values.update(overrides)
    return TripRecord(**values)  # type: ignore[arg-type]


def started(
    at: float = T0, *, synced_at: float | None = T0, next_sequence: int = 1, **loops: bool
) -> LaneStarted:
    return LaneStarted(at, next_sequence, loops.get("arming", False), loops.get("safety", False),
                       loops.get("closing", False), BarrierPosition.DOWN, synced_at=synced_at)


@dataclass
class Lane:
    """A machine plus its journal, answering trip look-ups from a table like the kiosk.

    With ``barrier_moves`` the barrier reaches its limit at once after each command (the
    limit switch event follows the command, as the I/O module would report it)."""

    config: LaneConfig = CONFIG
    barrier_moves: bool = True
    trips: dict[str, TripRecord | None] = field(default_factory=dict)
    machine: LaneMachine = field(init=False)
    lines: list[str] = field(init=False)
    log: list[tuple[Event, tuple[Command, ...]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.machine = LaneMachine(self.config)
        self.lines = [header_line(self.config)]

    def send(self, event: Event) -> tuple[Command, ...]:
        commands = self.machine.handle(event)
        self.log.append((event, commands))
        self.lines.append(entry_line(len(self.lines), event, commands))
        answered: tuple[Command, ...] = ()
        for command in commands:
            if isinstance(command, LookupTrip):  # the kiosk answers synchronously from its cache
                answer = self.trips.get(command.vehicle_id)
                answered += self.send(TripFound(event.at, command.vehicle_id, answer))
            elif isinstance(command, SetBarrier) and self.barrier_moves:
                position = BarrierPosition.UP if command.up else BarrierPosition.DOWN
                answered += self.send(BarrierLimit(event.at, position))
        return commands + answered

    def all_commands(self) -> list[Command]:
        return [c for _, cs in self.log for c in cs]

    def records(self) -> list[CrossingRecord]:
        return [c.record for c in self.all_commands() if isinstance(c, RecordCrossing)]

    @property
    def lights(self) -> Light | None:
        return self.machine.lights

    def barrier_commands(self) -> list[bool]:
        return [c.up for c in self.all_commands() if isinstance(c, SetBarrier)]

    def lights_commands(self) -> list[Light]:
        return [c.colour for c in self.all_commands() if isinstance(c, SetLights)]

    # -- a truck, step by step ---------------------------------------------------------

    def arrive(self, at: float, *, tag: VehicleRecord | str | None = TRUCK,
               plate: VehicleRecord | str | None = TRUCK) -> None:
        self.send(LoopChanged(at, Loop.ARMING, True))
        if isinstance(tag, VehicleRecord):
            self.send(TagRead(at + 0.2, tag.tag_epc or "", tag))
        elif isinstance(tag, str):
            self.send(TagRead(at + 0.2, tag, None))  # a tag not in the cache
        if isinstance(plate, VehicleRecord):
            self.send(PlateDecided(at + 0.5, plate.registration_mark, 0.97, plate))
        elif isinstance(plate, str):
            self.send(PlateDecided(at + 0.5, plate, 0.97, None))  # a plate not in the cache

    def card(self, at: float, driver: DriverRecord | None = DRIVER, *, expires_at: float = T0 + 86400 * 365,
             number: str = "C-0001") -> tuple[Command, ...]:
        return self.send(CardAuthenticated(at, driver.card_number if driver else number, expires_at, driver))

    def drive_through(self, at: float) -> None:
        for dt, loop, occupied in ((0, Loop.SAFETY, True), (1, Loop.ARMING, False), (2, Loop.CLOSING, True),
                                   (3, Loop.SAFETY, False), (4, Loop.CLOSING, False)):
            self.send(LoopChanged(at + dt, loop, occupied))
