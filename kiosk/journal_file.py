"""The lane journal on disk: open (restoring what was there), append, close.

Format and encoding are ``lanes.journal``'s; this module owns the file. A line is written
and flushed to the kernel before its commands run, so a killed process never acted on a
line it did not write; a line that carries a decision is also fsync'd before the barrier
moves, so a power cut cannot lose a decision the barrier acted on (the restored lane
would otherwise decide that truck again). A last line torn by a
crash was never acted on: it is cut off on open, and the file continues after the last
whole line. When the lane's settings changed since the file was written, a new header
line is appended (``rocars-kiosk replay`` takes reconfigurations mid-file).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO

from lanes.commands import Command, CrossingRecord, RecordCrossing
from lanes.config import LaneConfig
from lanes.events import Event
from lanes.journal import JournalEntry, entry_line, header_line, parse_journal
from lanes.machine import LaneMachine

log = logging.getLogger(__name__)


class JournalFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self.next_n = 1

    def open_and_restore(self, config: LaneConfig) -> tuple[LaneMachine, list[CrossingRecord]]:
        """Rebuild the lane machine from the journal (new file: a fresh machine) and open
        the file for appending; returns the machine and every decision record it made."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        machine = LaneMachine(config)
        records: list[CrossingRecord] = []
        header_config: LaneConfig | None = None
        if self.path.exists() and self.path.stat().st_size > 0:
            text = self.path.read_text(encoding="utf-8")
            journal = parse_journal(text)  # JournalError names the line: refuse to guess
            machine.config = header_config = journal.config
            for line in journal.lines:
                if isinstance(line.item, LaneConfig):
                    machine.config = header_config = line.item
                    continue
                assert isinstance(line.item, JournalEntry)
                for command in machine.handle(line.item.event):
                    if isinstance(command, RecordCrossing):
                        records.append(command.record)
            self.next_n = journal.next_n()
            if journal.torn_line is not None:
                keep = text.rfind("\n") + 1
                log.warning("journal %s: cutting off a torn last line (never acted on)", self.path)
                with self.path.open("r+b") as fh:
                    fh.truncate(len(text[:keep].encode("utf-8")))
            elif not text.endswith("\n"):
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write("\n")  # a whole last line that lost only its newline
            log.info(
                "journal %s: replayed %d event(s), %d decision(s)", self.path, self.next_n - 1, len(records)
            )
        self._fh = self.path.open("a", encoding="utf-8")
        if header_config != config:
            self._write(header_line(config), sync=True)
        machine.config = config
        return machine, records

    def append(self, event: Event, commands: tuple[Command, ...]) -> None:
        # Only a decision's line is worth a disk flush: a lost line without one is an event
        # the restart's LaneStarted (inputs read afresh) makes good.
        sync = any(isinstance(c, RecordCrossing) for c in commands)
        self._write(entry_line(self.next_n, event, commands), sync=sync)
        self.next_n += 1

    def _write(self, line: str, *, sync: bool) -> None:
        if self._fh is None:
            raise RuntimeError(f"journal {self.path} is closed")
        self._fh.write(line + "\n")
        self._fh.flush()
        if sync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
