"""``rocars-kiosk replay JOURNAL``: re-run a lane's day and show each decision and why.

The journal (``lanes.journal``) holds every event with the commands the lane made from it.
Replay feeds the events to a fresh ``LaneMachine`` and checks that every line comes out
byte for byte as it was journaled; any difference is printed and the exit status is 1.
Exit 2: the file cannot be read or is not a lane journal (the message names the line and
field). A torn last line (a crash while writing it) was never acted on: it is reported
and skipped.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from lanes.commands import Alarm, CrossingRecord, RecordCrossing, ReportDevice
from lanes.config import LaneConfig
from lanes.errors import JournalError
from lanes.journal import entry_line, parse_journal
from lanes.machine import LaneMachine


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay", help="re-run a lane journal, show each decision and why, and check it is identical",
        description="Re-run a lane's journal through the lane logic, print each decision with its "
        "reasons, and check every line is reproduced byte for byte (exit 1 if not, 2 if unreadable).",
    )
    parser.add_argument("journal", type=Path, help="the lane's journal file (JSON lines)")
    parser.add_argument("--events", action="store_true", help="also print every event and its commands")
    parser.add_argument("--quiet", action="store_true", help="print only differences and the summary")
    parser.set_defaults(func=run)


@dataclass
class ReplayResult:
    lines: int = 0
    differences: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    alarms: int = 0
    torn: bool = False


def run(args: argparse.Namespace) -> int:
    try:
        text = args.journal.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"rocars-kiosk replay: cannot read {args.journal}: {exc}", file=sys.stderr)
        return 2
    try:
        result = replay(text, sys.stdout, show_events=args.events, quiet=args.quiet)
    except JournalError as exc:
        print(f"rocars-kiosk replay: {args.journal}: {exc}", file=sys.stderr)
        return 2
    return 1 if result.differences else 0


def replay(text: str, out: TextIO, *, show_events: bool = False, quiet: bool = False) -> ReplayResult:
    journal = parse_journal(text)  # every line is decoded before anything is shown
    config = journal.config
    machine = LaneMachine(config)
    result = ReplayResult()
    if not quiet:
        print(f"lane {config.lane_id} ({config.control_point}, {config.direction}); "
              f"cache staleness limit {config.stale_limit_s:g}s", file=out)
    for line in journal.lines:
        if isinstance(line.item, LaneConfig):
            machine.config = line.item  # reconfigured mid-day
            if not quiet:
                print(f"{'':24}  lane reconfigured (line {line.line_no})", file=out)
            continue
        entry = line.item
        commands = machine.handle(entry.event)
        result.lines += 1
        again = entry_line(entry.n, entry.event, commands)
        if again != line.text:
            result.differences.append(
                f"line {line.line_no}: differs\n  journaled: {line.text}\n  replayed:  {again}")
            print(result.differences[-1], file=out)
        when = _when(entry.event.at)
        if show_events and not quiet:
            names = ", ".join(type(c).__name__ for c in commands) or "-"
            print(f"{when}  {type(entry.event).__name__}: {names}", file=out)
        for command in commands:
            if isinstance(command, RecordCrossing):
                result.outcomes[str(command.record.outcome)] += 1
                if not quiet:
                    _print_decision(command.record, out)
            elif isinstance(command, Alarm):
                result.alarms += 1
                if not quiet:
                    print(f"{when}  ALARM {command.kind}: {command.detail}", file=out)
            elif isinstance(command, ReportDevice) and not quiet:
                state = "back" if command.available else f"LOST ({command.reason})"
                print(f"{when}  device {command.device} {state}", file=out)
    if journal.torn_line is not None:
        result.torn = True
        print(f"line {journal.torn_line}: incomplete last line skipped (torn by a crash, never acted on)",
              file=out)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "none"
    verdict = "identical" if not result.differences else f"{len(result.differences)} line(s) DIFFER"
    print(f"{result.lines} events, {sum(result.outcomes.values())} decisions ({outcomes}), "
          f"{result.alarms} alarms; replay {verdict}", file=out)
    return result


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _print_decision(r: CrossingRecord, out: TextIO) -> None:
    vehicle = " ".join(x for x in (r.vehicle_id, r.registration_mark) if x) or "unidentified"
    seen = ", ".join(f"{k} {v}" for k, v in (("tag", r.tag_epc), ("plate", r.plate)) if v)
    parts = [f"{_when(r.decided_at)}  {r.idempotency_key}  {str(r.outcome).upper()}",
             f"vehicle {vehicle}" + (f" ({seen})" if seen else ""),
             f"trip {r.trip_id or '-'}", f"driver {r.driver_id or '-'}"]
    if r.officer_id:
        parts.append(f"officer {r.officer_id}")
    print("  ".join(parts), file=out)
    for why in r.reasons:
        detail = f" [{why.detail}]" if why.detail else ""
        print(f"{'':26}{why.severity:<5} {why.code}{detail}: {why.english} / {why.chinese}", file=out)
