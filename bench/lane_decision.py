"""How long the pure lane logic takes to decide one crossing (target: p99 <= 10 ms).

A decision here is everything the machine does from the truck's arrival on the arming
loop to its decision: arrival, tag read, plate, trip look-up answer, card (the decision
is made on the card). Crossings cycle through release, inspection, hold, unknown truck,
tag/plate mismatch and a stale cache, so every decision path is timed. Wall time is what
counts; CPU time is shown beside it because the machine is shared. As a baseline
measured in the same run (the machine is shared by up to 8 processes here), the same
crossing's events are also encoded as journal lines, which the kiosk does anyway.

Run: .venv/bin/python bench/lane_decision.py   (no arguments; about ten seconds)
"""

from __future__ import annotations

import json
import statistics
import time

from lanes.commands import Command, LookupTrip, RecordCrossing
from lanes.config import LaneConfig
from lanes.events import (
    BarrierLimit,
    BarrierPosition,
    CacheSynced,
    CardAuthenticated,
    CardRemoved,
    Event,
    LaneStarted,
    Loop,
    LoopChanged,
    OfficerAction,
    OfficerCommand,
    PlateDecided,
    TagRead,
    Tick,
    TripFound,
)
from lanes.journal import entry_line
from lanes.machine import LaneMachine
from lanes.records import Direction, DriverRecord, TripRecord, VehicleRecord, Verdict

CROSSINGS = 5000
T0 = 1_790_000_000.0
CONFIG = LaneConfig("LMC-I-01", "LMC", Direction.IMPORT)
DRIVER = DriverRecord("D-1", "A123456(7)", "C-1", "CHAN Tai Man")
KINDS = ("clear", "inspect", "hold", "unknown", "mismatch", "stale")


def vehicle(i: int) -> VehicleRecord:
    return VehicleRecord(f"V-{i}", f"FV {i % 9999 + 1}", f"E28011606{i:08d}")


def trip_for(i: int, kind: str) -> TripRecord:
    verdict = {"inspect": Verdict.INSPECT, "hold": Verdict.HOLD}.get(kind, Verdict.CLEAR)
    reasons = ("R1",) if verdict is not Verdict.CLEAR else ()
    return TripRecord(f"T-{i}", f"V-{i}", None, "LMC", Direction.IMPORT, T0 - 600, T0 + 10**6, verdict,
                      reasons, tuple(f"{i:012d}{k}" for k in range(3)))


def run_one(machine: LaneMachine, i: int, at: float) -> tuple[int, int, int, str]:
    """One crossing; returns (decision wall ns, decision CPU ns, journal ns, outcome)."""
    kind = KINDS[i % len(KINDS)]
    v = vehicle(i)
    tag = TagRead(at + 0.2, v.tag_epc or "", None if kind == "unknown" else v)
    plate_vehicle = vehicle(i + 1) if kind == "mismatch" else v
    plate = PlateDecided(at + 0.5, plate_vehicle.registration_mark, 0.95, plate_vehicle)
    arrival: list[Event] = [LoopChanged(at, Loop.ARMING, True), tag, plate]
    if kind != "stale":
        arrival.insert(0, CacheSynced(at - 1, at - 5))
    card = CardAuthenticated(at + 2, DRIVER.card_number, T0 + 10**8, DRIVER)
    handled: list[tuple[Event, tuple[Command, ...]]] = []
    outcome = "none"
    start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
    for event in [*arrival, card]:
        commands = machine.handle(event)
        handled.append((event, commands))
        for c in commands:
            if isinstance(c, LookupTrip):  # the kiosk's cache answers at once
                answer = TripFound(event.at, c.vehicle_id, trip_for(i, kind))
                handled.append((answer, machine.handle(answer)))
            elif isinstance(c, RecordCrossing):
                outcome = str(c.record.outcome)
    decision_ns, cpu_ns = time.perf_counter_ns() - start, time.thread_time_ns() - cpu_start
    start = time.perf_counter_ns()
    for n, (event, commands) in enumerate(handled):
        entry_line(n, event, commands)
    journal_ns = time.perf_counter_ns() - start
    # Leave the lane empty for the next truck (untimed): officer-free paths just drive on.
    for dt, loop, occupied in ((3, Loop.SAFETY, True), (4, Loop.ARMING, False), (5, Loop.CLOSING, True),
                               (6, Loop.SAFETY, False), (7, Loop.CLOSING, False)):
        machine.handle(LoopChanged(at + dt, loop, occupied))
    machine.handle(CardRemoved(at + 8))
    machine.handle(LoopChanged(at + 8, Loop.ARMING, False))
    machine.handle(BarrierLimit(at + 9, BarrierPosition.DOWN))
    machine.handle(OfficerAction(at + 9, "bench", OfficerCommand.RESET))
    machine.handle(Tick(at + 20))
    return decision_ns, cpu_ns, journal_ns, outcome


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    machine = LaneMachine(CONFIG)
    machine.handle(LaneStarted(T0, 1, False, False, False, BarrierPosition.DOWN, synced_at=T0))
    for i in range(200):  # warm-up
        run_one(machine, i, T0 + 30 * i)
    decisions: list[float] = []
    cpu: list[float] = []
    journals: list[float] = []
    outcomes: dict[str, int] = {}
    for i in range(CROSSINGS):
        d, c, j, outcome = run_one(machine, i, T0 + 10_000 + 30 * i)
        decisions.append(d / 1e6)
        cpu.append(c / 1e6)
        journals.append(j / 1e6)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    figures = {
        "crossings": CROSSINGS,
        "decision_ms_p50": round(pct(decisions, 50), 4),
        "decision_ms_p99": round(pct(decisions, 99), 4),
        "decision_ms_max": round(max(decisions), 4),
        "decision_ms_mean": round(statistics.fmean(decisions), 4),
        "decision_cpu_ms_p99": round(pct(cpu, 99), 4),
        "journal_ms_p99": round(pct(journals, 99), 4),
        "decision_to_journal_p50_ratio": round(pct(decisions, 50) / pct(journals, 50), 2),
        "target_decision_ms_p99": 10.0,
        "meets_target": pct(decisions, 99) <= 10.0,
    }
    print(f"lane decision benchmark: {CROSSINGS} crossings; outcomes {outcomes}")
    print(f"{'measure':<34}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    print(f"{'decision (arrival -> decision)':<34}{pct(decisions, 50):>10.4f}{pct(decisions, 99):>10.4f}"
          f"{max(decisions):>10.4f}")
    print(f"{'decision, CPU time of this thread':<34}{pct(cpu, 50):>10.4f}{pct(cpu, 99):>10.4f}"
          f"{max(cpu):>10.4f}")
    print(f"{'baseline: journal lines, same run':<34}{pct(journals, 50):>10.4f}{pct(journals, 99):>10.4f}"
          f"{max(journals):>10.4f}")
    print(f"target: decision p99 <= 10 ms -> {'met' if figures['meets_target'] else 'NOT met'}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
