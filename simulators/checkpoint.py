"""The whole simulated checkpoint: ``python -m simulators.checkpoint`` (``scripts/checkpoint.sh``).

What runs, each as its own process: central on SQLite (mutual TLS for lanes, material
from ``rocars pki``), the lane simulators (``rocars-sim lane``: RFID reader, I/O module,
card reader on a private pcscd, plate camera per lane) and one kiosk per lane
(``rocars-kiosk daemon``). Central is seeded over its public API (companies, drivers,
vehicles, lanes, cargo, bundled trips, a selection rule), then traffic goes through:

1. mostly clear trucks, one whose cargo a rule selects for inspection;
2. central goes down; trucks keep crossing on the kiosks' local caches, their events
   wait in the outboxes; central comes back and every event is delivered;
3. the trucks an officer must see: unknown, unbundled, a tag on the wrong truck, a cloned
   driver card. Each is cleared so its lane goes on: the officer at the kiosk releases the
   wrong-tag truck and sends the unbundled one to inspection (``[officer] socket``), the
   others are turned away and reverse out (the simulator's ``leave``); with fewer lanes
   than cases a lane takes several, and a clear truck follows them on each lane.

Drivers: the simulator's two standard cards plus ``--drivers`` more (valid HKIDs, cards
from ``python -m simulators.card drivers``), each registered at central; a driver's code
bundles one trip per 30 s, so more drivers bundle the trips sooner.

A live view shows each lane; a closing summary counts trucks by outcome, decisions per
lane, and events received by central against those the lanes sent, and lists anything
unexpected. Every process started is stopped at the end, on error and on Ctrl-C.
Exit status: 0 when every truck got the decision it should and central has every event.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import grpc
from rich.console import Console
from rich.table import Table

from simulators import seed as seeding
from simulators.liveview import LiveView
from simulators.scenario import OFFICER_ACTIONS, LaneControl, LaneDriver, TruckCase, decisions, reason_codes
from simulators.stack import Stack, StackError, metric, scrape, wait_until

log = logging.getLogger("checkpoint")

REFERRAL_ORDER = ("unknown", "unbundled", "mismatch", "cloned")


@dataclass
class Plan:
    """Trucks per lane, in the order they come, by phase."""

    before: dict[str, list[TruckCase]] = field(default_factory=dict)
    outage: dict[str, list[TruckCase]] = field(default_factory=dict)
    last: dict[str, list[TruckCase]] = field(default_factory=dict)

    def all(self) -> list[TruckCase]:
        return [
            t for phase in (self.before, self.outage, self.last) for trucks in phase.values() for t in trucks
        ]


def plan_traffic(
    lane_ids: list[str],
    fleet: list[seeding.Vehicle],
    trucks: int,
    cards: tuple[str, ...] = ("good", "second"),
) -> Plan:
    """``trucks`` clear/inspect trucks spread over the lanes (one inspect), a third of
    them during the outage; then every referral case (at least one per lane, cleared by
    an officer or turned away), and one more clear truck per lane after them."""
    vehicles = iter(fleet)
    plan = Plan(
        {lane: [] for lane in lane_ids}, {lane: [] for lane in lane_ids}, {lane: [] for lane in lane_ids}
    )
    outage_from = trucks - max(1, trucks // 3)
    for n in range(trucks):
        v = next(vehicles)
        kind = "inspect" if n == 1 else "clear"
        phase = plan.outage if n >= outage_from else plan.before
        phase[lane_ids[n % len(lane_ids)]].append(TruckCase(kind, v.plate, v.tag, cards[n % len(cards)]))
    spare_tag_owner = fleet[0]
    for n in range(max(len(lane_ids), len(REFERRAL_ORDER))):
        lane = lane_ids[n % len(lane_ids)]
        kind = REFERRAL_ORDER[n % len(REFERRAL_ORDER)]
        if kind == "unknown":
            truck = TruckCase(kind, f"ZZ{9000 + n}", f"E2801160FFFF{n:012X}")
        elif kind == "mismatch":  # another registered truck carrying the first truck's tag
            truck = TruckCase(kind, next(vehicles).plate, spare_tag_owner.tag)
        elif kind == "cloned":
            v = next(vehicles)
            truck = TruckCase(kind, v.plate, v.tag, "cloned")
        else:  # unbundled: the driver bundled, then cancelled the trip
            v = next(vehicles)
            truck = TruckCase(kind, v.plate, v.tag)
        truck.officer = OFFICER_ACTIONS[kind][0] if kind in OFFICER_ACTIONS else None
        plan.last[lane].append(truck)
    for n, lane in enumerate(lane_ids):  # the lane works on after its referrals
        v = next(vehicles)
        plan.last[lane].append(TruckCase("clear", v.plate, v.tag, cards[(trucks + n) % len(cards)]))
    return plan


class TripSupply:
    """Files cargo and bundles a trip for every truck that needs one, in the order the
    trucks come, in its own thread; ``wait(truck)`` until its trip exists."""

    def __init__(self, seeded: seeding.Seeded, trucks: list[TruckCase]) -> None:
        self.seeded = seeded
        self.bundler = seeding.Bundler(seeded)
        self.trucks = [t for t in trucks if t.kind in ("clear", "inspect", "cloned", "unbundled")]
        self.ready: dict[str, threading.Event] = {t.plate: threading.Event() for t in self.trucks}
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="trip-supply", daemon=True)

    def start(self) -> TripSupply:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for truck in self.trucks:
                ccrns = [seeding.file_cargo(self.seeded, dangerous=truck.kind == "inspect")]
                if truck.kind == "clear":
                    ccrns.append(seeding.file_cargo(self.seeded, company=1))
                driver = "good" if truck.card == "cloned" else truck.card
                truck.trip = self.bundler.bundle(driver, seeding.Vehicle(truck.plate, truck.tag or ""), ccrns)
                if truck.kind == "unbundled":
                    self.bundler.unbundle(driver, truck.trip)
                self.ready[truck.plate].set()
        except BaseException as exc:  # reported by wait(); the run goes on without more trips
            self.error = exc
            log.exception("trip supply failed")

    def wait(self, truck: TruckCase, timeout: float = 120.0) -> None:
        event = self.ready.get(truck.plate)
        if event is None:
            return
        if not event.wait(timeout):
            raise StackError(
                f"trip for {truck.plate} not bundled within {timeout:g} s ({self.error or 'slow'})"
            )
        time.sleep(0.3)  # the sync feed's turn (it polls central's change log every 50 ms)


@dataclass
class Summary:
    trucks: list[TruckCase]
    lanes: dict[str, int]  # decisions recorded per lane
    sent: int  # decisions the kiosks recorded
    received: int | None  # crossing events stored at central
    trip_statuses: Counter[str]
    unexpected: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unexpected


def central_event_count(officer: seeding.Api) -> int | None:
    """Crossing events central stored, by its officer query (rocars.v1.Crossings);
    None while central cannot answer (down, restarting)."""
    try:
        return seeding.crossing_event_count(officer)
    except grpc.RpcError:
        return None


def outbox_depths(stack: Stack) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for lane_id, lp in stack.lane_procs.items():
        try:
            out[lane_id] = metric(scrape(lp.metrics_port), "rocars_kiosk_outbox_depth", lane=lane_id)
        except OSError:
            out[lane_id] = None
    return out


def wait_outboxes_empty(stack: Stack, timeout: float = 60.0) -> None:
    wait_until(
        "kiosk outboxes delivered to central",
        lambda: all(d == 0 for d in outbox_depths(stack).values()),
        timeout,
        interval=0.25,
    )


def device_fault_drill(stack: Stack, control: LaneControl, lane_id: str) -> list[str]:
    """Unplug the lane's RFID reader and plug it back: the kiosk must report the reader
    lost, then back (availability as state, on its metrics endpoint). Problems, if any."""
    port = stack.lane_procs[lane_id].metrics_port

    def rfid_available() -> float | None:
        return metric(scrape(port), "rocars_kiosk_device_available", lane=lane_id, device="rfid")

    try:
        control.send("fault", lane=lane_id, device="rfid", kind="unplug")
        wait_until(f"{lane_id}: kiosk reports the RFID reader lost", lambda: rfid_available() == 0, 15.0)
        control.send("fault", lane=lane_id, device="rfid", kind="replug")
        wait_until(f"{lane_id}: kiosk reports the RFID reader back", lambda: rfid_available() == 1, 15.0)
    except (StackError, OSError) as exc:
        return [f"device fault drill: {exc}"]
    return []


def run_phase(drivers: dict[str, LaneDriver], phase: dict[str, list[TruckCase]], supply: TripSupply) -> None:
    """Each lane's trucks in order, the lanes in parallel."""

    def lane_run(lane_id: str) -> None:
        driver = drivers[lane_id]
        for truck in phase.get(lane_id, []):
            if driver.blocked_by is not None:
                truck.problems = [f"{truck.kind} {truck.plate}: lane {lane_id} blocked by a referred truck"]
                continue
            try:
                supply.wait(truck)
            except StackError as exc:
                truck.problems = [f"{truck.kind} {truck.plate}: {exc}"]
                continue
            driver.run(truck)

    errors: list[BaseException] = []

    def guarded(lane_id: str) -> None:
        try:
            lane_run(lane_id)
        except Exception as exc:  # re-raised in the main thread below
            errors.append(exc)

    # Daemon threads joined in short slices: the main thread stays free to take Ctrl-C
    # and stop every process at once, without waiting for trucks still on their way.
    threads = [
        threading.Thread(target=guarded, args=(lane,), name=f"traffic-{lane}", daemon=True)
        for lane in drivers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
    if errors:
        raise errors[0]


def summarise(stack: Stack, plan: Plan, seeded: seeding.Seeded | None) -> Summary:
    trucks = plan.all()
    lanes = {lane: len(decisions(lp.journal)) for lane, lp in stack.lane_procs.items()}
    sent = sum(lanes.values())
    received = central_event_count(seeded.officer) if seeded is not None else None
    statuses: Counter[str] = Counter()
    if seeded is not None:
        names = {
            1: "bundled",
            2: "unbundled",
            3: "crossed",
            4: "released",
            5: "sent to inspection",
            6: "inspected",
            7: "referred",
        }
        try:
            for status in seeding.trip_statuses(seeded.officer, seeded.control_point).values():
                statuses[names.get(status, str(status))] += 1
        except Exception as exc:  # the summary must still print
            statuses[f"query failed: {exc}"] += 1
    unexpected = [p for t in trucks for p in t.problems]
    if received is not None and received != sent:
        unexpected.append(f"central holds {received} crossing events, the lanes recorded {sent}")
    for proc in stack.procs:
        if proc.popen is not None and not proc.alive and proc.popen.returncode not in (0, -15):
            unexpected.append(f"{proc.name} exited with {proc.popen.returncode} (see {proc.log_path})")
    return Summary(trucks, lanes, sent, received, statuses, unexpected)


def print_summary(summary: Summary, console: Console) -> None:
    table = Table(title="Trucks")
    for column in ("lane", "truck", "kind", "decision", "reasons", "expected", "decided in", "then"):
        table.add_column(column)
    for t in summary.trucks:
        reasons = ", ".join(str(r.get("code")) for r in (t.record or {}).get("reasons", []))
        mark = "[green]yes[/]" if t.as_expected else "[red]NO[/]"
        took = "-" if t.decided_after_s is None else f"{t.decided_after_s:.1f}s"
        table.add_row(t.lane or "-", t.plate, t.kind, t.outcome, reasons or "-", mark, took, t.afterwards)
    console.print(table)
    outcomes = Counter(t.outcome for t in summary.trucks)
    console.print("Trucks by outcome: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    overrides = [t for t in summary.trucks if t.override is not None]
    turned = sum(1 for t in summary.trucks if t.turned_away)
    console.print(
        f"Referrals cleared: {len(overrides)} by an officer's override at the kiosk "
        f"({', '.join(f'{t.plate} {t.officer}' for t in overrides) or 'none'}), {turned} turned away"
    )
    for t in overrides:
        override = t.override or {}
        codes = ", ".join(reason_codes(override))
        console.print(f"  {t.plate}: {codes} by officer {override.get('officer_id')}: {override.get('note')}")
    console.print("Decisions per lane: " + ", ".join(f"{k} {v}" for k, v in summary.lanes.items()))
    console.print(
        f"Crossing events: lanes sent {summary.sent}, central received "
        f"{'?' if summary.received is None else summary.received}"
    )
    console.print(
        "Trips at central: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.trip_statuses.items()))
    )
    for note in summary.notes:
        console.print(note[0].upper() + note[1:])
    if summary.unexpected:
        console.print("[red]Unexpected:[/]")
        for line in summary.unexpected:
            console.print(f"  - {line}")
    else:
        console.print(
            "[green]Nothing unexpected: every truck got the decision it should, "
            "and central has every event.[/]"
        )


def run(directory: Path, *, lanes: int, trucks: int, console: Console, driver_cards: int = 4) -> Summary:
    stack = Stack(directory, lanes=lanes, driver_cards=driver_cards)
    view: LiveView | None = None
    plan = Plan()
    seeded: seeding.Seeded | None = None
    drill_problems: list[str] = []
    drill_done = False
    try:
        console.print(
            f"[bold]ROCARS simulated checkpoint[/] ({lanes} lanes, {trucks} cleared or inspected "
            f"trucks, then the referral cases); working directory {directory}"
        )
        stack.start()
        console.print(
            f"central up (SQLite, mutual TLS for lanes); {lanes} lanes of simulated devices up "
            "(RFID reader, I/O module, card reader on pcscd, plate camera)"
        )
        lane_ids = list(stack.lane_procs)
        holders = {
            label: (h["card_number"], h["document_number"], h["name"])
            for label, h in stack.card_holders.items()
            if label in ("good", "second") or label.startswith("driver-")
        }
        seeded = seeding.seed(
            stack.channel(),
            stack.officer_token,
            lane_ids,
            vehicles=trucks + 3 * max(len(lane_ids), 4) + 2,
            drivers=holders,
        )
        console.print(
            f"seeded over gRPC: 2 companies, {len(seeded.drivers)} drivers, {len(seeded.vehicles)} vehicles, "
            f"{lanes} lanes, rule dg-lithium (lithium batteries -> inspection)"
        )
        plan = plan_traffic(lane_ids, seeded.vehicles, trucks, tuple(sorted(seeded.drivers)))
        # Kiosks first: central's feed sends a lane only vehicles with a trip at its control
        # point, so the unbundled truck is known to the lanes (and referred NO_TRIP, not as
        # unknown) only if its trip existed once while they were syncing.
        stack.start_kiosks()
        supply = TripSupply(seeded, plan.all()).start()
        console.print("kiosks up and synced with central; traffic starts")
        console.print("cargo filed and trips bundled as trucks need them (a driver's code: once per 30 s)")
        view = LiveView(
            {lane: (lp.metrics_port, lp.journal) for lane, lp in stack.lane_procs.items()}, console=console
        ).start()
        control = {lane: LaneControl(stack.control_socket) for lane in lane_ids}
        drivers = {
            lane: LaneDriver(
                control[lane], lane, stack.lane_procs[lane].journal, stack.lane_procs[lane].officer_socket
            )
            for lane in lane_ids
        }
        view.note("clear trucks, one selected for inspection")
        run_phase(drivers, plan.before, supply)
        view.note(f"device fault drill: {lane_ids[0]}'s RFID reader unplugged, then plugged back")
        drill_problems = device_fault_drill(stack, control[lane_ids[0]], lane_ids[0])
        drill_done = True
        for truck in [t for trucks in plan.outage.values() for t in trucks]:
            supply.wait(truck)  # trips bundled and synced to the lanes before central goes
        view.note("central DOWN: lanes decide from their caches, events wait in the outboxes")
        stack.stop_central()
        run_phase(drivers, plan.outage, supply)
        view.note(f"central back up; outboxes {outbox_depths(stack)} being delivered")
        stack.start_central()
        wait_outboxes_empty(stack)
        view.note(
            "trucks an officer must see: unknown, unbundled, wrong tag, cloned card "
            "(the officer releases or inspects some at the kiosk, the rest are turned away)"
        )
        run_phase(drivers, plan.last, supply)
        time.sleep(1.0)  # let the last events reach central
        with_timeout_wait(stack)
        view.note("done")
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if view is not None:
                view.stop()
            summary = summarise(stack, plan, seeded)
            summary.unexpected += drill_problems
            if drill_done and not drill_problems:
                summary.notes.append(
                    "device fault drill: the kiosk reported the unplugged RFID reader "
                    "lost, then back (lane kept safe)"
                )
            stack.close()
        finally:
            signal.signal(signal.SIGINT, previous)
    return summary


def with_timeout_wait(stack: Stack) -> None:
    try:
        wait_outboxes_empty(stack, timeout=20.0)
    except StackError as exc:
        log.warning("%s", exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.checkpoint", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--lanes", type=int, default=4, help="lanes (2-8)")
    parser.add_argument(
        "--drivers", type=int, default=4, help="driver cards beyond the standard two (0-50)"
    )
    parser.add_argument("--trucks", type=int, default=6, help="clear and inspected trucks in all (>= 3)")
    parser.add_argument("--dir", type=Path, help="working directory (default: a new temporary one, kept)")
    args = parser.parse_args(argv)
    if not 2 <= args.lanes <= 8:
        parser.error(f"--lanes: must be 2 to 8 (got {args.lanes})")
    if not 3 <= args.trucks <= 200:
        parser.error(f"--trucks: must be 3 to 200 (got {args.trucks})")
    if not 0 <= args.drivers <= 50:
        parser.error(f"--drivers: must be 0 to 50 (got {args.drivers})")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    directory = args.dir or Path(tempfile.mkdtemp(prefix="rocars-checkpoint-"))
    console = Console()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds through run()'s finally: every process is stopped

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # even when started with SIGINT ignored
    started = time.monotonic()
    try:
        summary = run(
            directory, lanes=args.lanes, trucks=args.trucks, console=console, driver_cards=args.drivers
        )
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted; every process started was stopped.[/]")
        return 130
    except (StackError, OSError, grpc.RpcError) as exc:
        console.print(f"[red]The checkpoint could not run:[/] {exc}")
        console.print(f"Logs: {directory / 'logs'}")
        return 1
    print_summary(summary, console)
    console.print(f"Ran in {time.monotonic() - started:.0f} s; logs, journals and databases in {directory}")
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
