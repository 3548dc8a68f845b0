"""``rocars-kiosk replay JOURNAL...``: re-run a lane's days and show each decision and why.

The journal (``lanes.journal``) holds every event with the commands the lane made from it.
Replay feeds the events to a ``LaneMachine`` and checks that every line comes out byte for
byte as it was journaled; any difference is printed and the exit status is 1. Exit 2: a
file cannot be read or is not a lane journal (the message names the file, line and field).
A torn last line (a crash while writing it) was never acted on: it is reported and skipped.

Rotated journals (``kiosk.journal_file``): give the files in order, or the journal
directory (each lane's rotated files, oldest first, then its current file; ``.gz`` files
are read as they are). A file that starts from a carried state replays on its own; after
the file before it, replay also checks that the carried state and line number are exactly
where that file left the lane (a missing or reordered file shows as a difference).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from kiosk.journal_file import chain, read_text
from lanes.commands import Alarm, CrossingRecord, RecordCrossing, ReportDevice
from lanes.config import LaneConfig
from lanes.errors import JournalError
from lanes.journal import JournalLine, entry_line, parse_journal
from lanes.machine import LaneMachine
from lanes.machine_state import snapshot, start_machine

_LANE_FILE = re.compile(r"(?P<lane>[^.]+)(\.\d{6,})?\.jsonl(\.gz)?")  # in a journal directory


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "replay", help="re-run a lane journal, show each decision and why, and check it is identical",
        description="Re-run a lane's journal through the lane logic, print each decision with its "
        "reasons, and check every line is reproduced byte for byte (exit 1 if not, 2 if unreadable). "
        "Several files are replayed in the order given, as one journal across its rotations; a "
        "directory stands for each lane's rotated files, oldest first, then its current file.",
    )
    parser.add_argument("journal", type=Path, nargs="+",
                        help="journal file(s) (JSON lines, .gz read as is), or a journal directory")
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
    files: int = 0


def chains(paths: list[Path]) -> list[list[Path]]:
    """What to replay: the files given as one journal, or per lane for each directory."""
    out: list[list[Path]] = []
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # A lane may have rotated files only (copied off a kiosk without its current file).
            matches = (_LANE_FILE.fullmatch(p.name) for p in path.iterdir())
            lanes = sorted({m["lane"] for m in matches if m is not None})
            out += [c for c in (chain(path / f"{lane}.jsonl") for lane in lanes) if c]
        else:
            files.append(path)
    return ([files] if files else []) + out


def run(args: argparse.Namespace) -> int:
    journals = chains(args.journal)
    if not journals:
        print(f"rocars-kiosk replay: no lane journal in {', '.join(map(str, args.journal))}", file=sys.stderr)
        return 2
    status = 0
    for paths in journals:
        texts: list[tuple[str, str]] = []
        for path in paths:
            try:
                texts.append((str(path), read_text(path)))
            except (OSError, UnicodeDecodeError, EOFError) as exc:
                print(f"rocars-kiosk replay: cannot read {path}: {exc}", file=sys.stderr)
                return 2
        if len(journals) > 1 and not args.quiet:
            print(f"== {paths[-1]}", file=sys.stdout)
        try:
            result = replay_files(texts, sys.stdout, show_events=args.events, quiet=args.quiet)
        except JournalError as exc:
            print(f"rocars-kiosk replay: {exc}", file=sys.stderr)
            return 2
        status = max(status, 1 if result.differences else 0)
    return status


def replay(text: str, out: TextIO, *, show_events: bool = False, quiet: bool = False) -> ReplayResult:
    """One journal file's text."""
    return replay_files([("", text)], out, show_events=show_events, quiet=quiet)


def replay_files(
    files: list[tuple[str, str]], out: TextIO, *, show_events: bool = False, quiet: bool = False
) -> ReplayResult:
    """(name, text) of each file of one journal, in order; ``JournalError`` names the file."""
    result = ReplayResult()
    machine: LaneMachine | None = None
    expected_n = 0
    for name, text in files:
        where = f"{name}: " if name and len(files) > 1 else ""
        try:
            journal = parse_journal(text)  # every line is decoded before anything of it is shown
            fresh = start_machine(journal)
        except JournalError as exc:
            raise JournalError(f"{name}: {exc}" if name else str(exc)) from exc
        result.files += 1
        if machine is None:
            config = journal.config
            if not quiet:
                print(f"lane {config.lane_id} ({config.control_point}, {config.direction}); "
                      f"cache staleness limit {config.stale_limit_s:g}s", file=out)
        elif journal.state is None:  # a journal begun afresh (the one before set aside, or lost)
            events = journal.events()
            if events and machine.now is not None and events[0].at < machine.now:
                result.differences.append(
                    f"{where}line 2: a new journal that starts before the file before it ends "
                    "(files out of order?)")
                print(result.differences[-1], file=out)
            elif not quiet:
                print(f"{'':24}  {where}a new journal: the lane started afresh", file=out)
        elif (journal.first_n, journal.config, journal.state) != (
                expected_n, machine.config, snapshot(machine)):
            result.differences.append(
                f"{where}line 1: does not continue the file before it (it starts at line "
                f"{journal.first_n} in a state of its own; the replay is at line {expected_n})")
            print(result.differences[-1], file=out)
        elif not quiet and show_events:
            print(f"{'':24}  {where}continues at line {journal.first_n}", file=out)
        machine = fresh
        _replay_lines(journal.lines, machine, where, result, out, show_events=show_events, quiet=quiet)
        expected_n = journal.next_n()
        if journal.torn_line is not None:
            result.torn = True
            print(f"{where}line {journal.torn_line}: incomplete last line skipped "
                  "(torn by a crash, never acted on)", file=out)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "none"
    verdict = "identical" if not result.differences else f"{len(result.differences)} line(s) DIFFER"
    across = f" across {result.files} files" if result.files > 1 else ""
    print(f"{result.lines} events{across}, {sum(result.outcomes.values())} decisions ({outcomes}), "
          f"{result.alarms} alarms; replay {verdict}", file=out)
    return result


def _replay_lines(
    lines: tuple[JournalLine, ...], machine: LaneMachine, where: str, result: ReplayResult, out: TextIO, *,
    show_events: bool, quiet: bool,
) -> None:
    for line in lines:
        if isinstance(line.item, LaneConfig):
            machine.config = line.item  # reconfigured mid-day
            if not quiet:
                print(f"{'':24}  lane reconfigured ({where}line {line.line_no})", file=out)
            continue
        entry = line.item
        commands = machine.handle(entry.event)
        result.lines += 1
        again = entry_line(entry.n, entry.event, commands)
        if again != line.text:
            result.differences.append(
                f"{where}line {line.line_no}: differs\n  journaled: {line.text}\n  replayed:  {again}")
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
