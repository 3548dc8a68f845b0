"""The lane journal on disk: open (restoring what was there), append, rotate, close.

Format and encoding are ``lanes.journal``'s; this module owns the files. A line is written
and flushed to the kernel before its commands run, so a killed process never acted on a
line it did not write; a line that carries a decision is also fsync'd before the barrier
moves, so a power cut cannot lose a decision the barrier acted on (the restored lane
would otherwise decide that truck again). A last line torn by a
crash was never acted on: it is cut off on open, and the file continues after the last
whole line. When the lane's settings changed since the file was written, a new header
line is appended (``rocars-kiosk replay`` takes reconfigurations mid-file).

Rotation: once the current file's event lines pass ``max_bytes``, the kiosk calls
``rotate_if_due`` between events (never while a decision is still to be written to the
outbox: a restart re-offers only the current file's decisions). ``LANE.jsonl`` becomes
``LANE.000042.jsonl`` (numbers only go up) and a new ``LANE.jsonl`` starts with a header
carrying the machine's state and the next line's number, so it restores and replays on its
own. The steps are ordered so that a crash at any point loses and doubles no line:

1. the new file is written whole as ``LANE.jsonl.new`` and fsync'd (a crash here: the
   current file still holds everything; the next open deletes the ``.new``);
2. the current file is fsync'd and renamed to its archive name (a crash after this: the
   next open finds no current file but a complete ``.new`` and renames it into place);
3. ``.new`` is renamed to ``LANE.jsonl`` and opened for appending.

Archives are then gzip'd (to ``.gz.tmp``, fsync'd, renamed to ``.gz``, the plain file
removed: a crash leaves either file whole, and the next open tidies up) and the oldest
beyond ``keep`` deleted, on a housekeeping thread so the control loop never waits for it.
"""

from __future__ import annotations

import fcntl
import gzip
import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import IO

from kiosk.config import JournalSection
from lanes.commands import Command, CrossingRecord, RecordCrossing
from lanes.config import LaneConfig
from lanes.errors import JournalError
from lanes.events import Event
from lanes.journal import JournalEntry, entry_line, header_line, parse_journal, state_header_line
from lanes.machine import LaneMachine
from lanes.machine_state import snapshot, start_machine

log = logging.getLogger(__name__)

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 16 * MIB
DEFAULT_KEEP = 90
HOUSEKEEPING_JOIN_S = 30.0  # close() waits this long for a compression under way


def archive_path(path: Path, number: int) -> Path:
    return path.with_name(f"{path.stem}.{number:06d}{path.suffix}")


def archives(path: Path) -> list[tuple[int, Path]]:
    """The rotated files of journal ``path``, oldest first; of a file both plain and gzip'd
    (a compression cut short), the plain one."""
    pattern = re.compile(re.escape(path.stem) + r"\.(\d{6,})" + re.escape(path.suffix) + r"(\.gz)?")
    found: dict[int, Path] = {}
    if not path.parent.is_dir():
        return []
    for candidate in path.parent.iterdir():
        match = pattern.fullmatch(candidate.name)
        if match is None:
            continue
        number = int(match[1])
        if number not in found or not match[2]:
            found[number] = candidate
    return sorted(found.items())


def chain(path: Path) -> list[Path]:
    """Every file of journal ``path`` in order: its archives, then the current file."""
    return [p for _, p in archives(path)] + ([path] if path.exists() else [])


def read_text(path: Path) -> str:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            return fh.read()
    return path.read_text(encoding="utf-8")


class JournalInUse(RuntimeError):
    """Another process holds the lane's journal (one kiosk process per lane)."""


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalFile:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep: int = DEFAULT_KEEP,
        compress: bool = True,
    ) -> None:
        if max_bytes < 1 or keep < 1:
            raise ValueError("journal: max_bytes and keep must be at least 1")
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self.compress = compress
        self._fh: IO[str] | None = None
        self.next_n = 1
        self._entry_bytes = 0  # lines written after the current file's first line
        self._next_try = max_bytes  # ... at which rotation is (re)tried
        self._rotation_failing = False
        self._house_lock = threading.Lock()
        self._house_wanted = False
        self._house_thread: threading.Thread | None = None
        self._lock_fh: IO[str] | None = None

    @classmethod
    def for_lane(cls, section: JournalSection, lane_id: str) -> JournalFile:
        return cls(
            section.path / f"{lane_id}.jsonl",
            max_bytes=max(1, int(section.max_file_mib * MIB)),
            keep=section.keep_files,
            compress=section.compress,
        )

    def lock(self) -> None:
        """Hold ``LANE.lock`` beside the journal until ``unlock``; ``JournalInUse`` if taken."""
        path = self.path.with_suffix(".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("w")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise JournalInUse(f"{self.path} is in use by another kiosk process") from exc
        self._lock_fh = fh

    def unlock(self) -> None:
        fh, self._lock_fh = self._lock_fh, None
        if fh is not None:
            fh.close()

    @property
    def new_path(self) -> Path:
        return self.path.with_name(self.path.name + ".new")

    def open_and_restore(self, config: LaneConfig) -> tuple[LaneMachine, list[CrossingRecord]]:
        """Rebuild the lane machine from the current journal file (none: a fresh machine) and
        open it for appending; returns the machine and every decision record the file holds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._finish_interrupted_rotation()
        machine = LaneMachine(config)
        records: list[CrossingRecord] = []
        header_config: LaneConfig | None = None
        self._entry_bytes = 0
        if self.path.exists() and self.path.stat().st_size > 0:
            data = self.path.read_bytes()
            text = data.decode("utf-8")
            journal = parse_journal(text)  # JournalError names the line: refuse to guess
            machine = start_machine(journal)
            header_config = journal.config
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
            first_line = data.find(b"\n")
            first_line = len(data) if first_line < 0 else first_line
            self._entry_bytes = max(0, self.path.stat().st_size - first_line - 1)
            log.info(
                "journal %s: replayed %d event line(s), %d decision(s)", self.path, len(journal.lines),
                len(records),
            )
        self._next_try = self.max_bytes
        self._fh = self.path.open("a", encoding="utf-8")
        if header_config != config:
            self._write(header_line(config), sync=True)
        machine.config = config
        self._start_housekeeping()  # archives a crash left uncompressed, or beyond ``keep``
        return machine, records

    def open_or_start_afresh(self, config: LaneConfig) -> tuple[LaneMachine, list[CrossingRecord]]:
        """``open_and_restore``; a current file it cannot read is set aside, and a new one begun."""
        try:
            return self.open_and_restore(config)
        except JournalError as exc:
            # The outbox still numbers decisions on; a lane must not stay shut over its diary.
            aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
            log.error("journal %s unreadable (%s); moved to %s and starting afresh", self.path, exc, aside)
            self.path.rename(aside)
            return self.open_and_restore(config)

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
        self._entry_bytes += len(line.encode("utf-8")) + 1

    # --- rotation -------------------------------------------------------------------------

    def rotate_if_due(self, machine: LaneMachine) -> bool:
        """Rotate if the current file is full; call between events, with every decision of
        the file already in the outbox. ``machine`` is the one this journal's lines came from."""
        if self._entry_bytes < self._next_try or self._fh is None:
            return False
        return self.rotate(machine)

    def rotate(self, machine: LaneMachine) -> bool:
        """Start a new current file (see the module's docstring for the crash-safe steps).
        A failure before the old file is renamed leaves it current, to be tried again after
        another eighth of ``max_bytes``; a failure after it propagates (the next open ends
        the rotation)."""
        fh, new = self._fh, self.new_path
        assert fh is not None
        header = state_header_line(machine.config, snapshot(machine), self.next_n)
        try:
            with new.open("w", encoding="utf-8") as out:
                out.write(header + "\n")
                out.flush()
                os.fsync(out.fileno())
            _fsync_dir(self.path.parent)
            fh.flush()
            os.fsync(fh.fileno())
        except OSError as exc:
            new.unlink(missing_ok=True)
            return self._rotation_failed(exc)
        archive = archive_path(self.path, self._next_number())
        fh.close()
        self._fh = None
        try:
            os.rename(self.path, archive)
        except OSError as exc:
            self._fh = self.path.open("a", encoding="utf-8")
            new.unlink(missing_ok=True)
            return self._rotation_failed(exc)
        _fsync_dir(self.path.parent)
        os.rename(new, self.path)
        _fsync_dir(self.path.parent)
        self._fh = self.path.open("a", encoding="utf-8")
        self._entry_bytes, self._next_try = 0, self.max_bytes
        if self._rotation_failing:
            self._rotation_failing = False
            log.warning("journal %s: rotating works again", self.path)
        log.info("journal %s: rotated to %s; next line %d", self.path, archive.name, self.next_n)
        self._start_housekeeping()
        return True

    def _rotation_failed(self, exc: OSError) -> bool:
        self._next_try = self._entry_bytes + max(1, self.max_bytes // 8)
        if not self._rotation_failing:
            self._rotation_failing = True
            log.error("journal %s: cannot rotate (%s); appending to the current file", self.path, exc)
        return False

    def _next_number(self) -> int:
        found = archives(self.path)
        return found[-1][0] + 1 if found else 1

    def _finish_interrupted_rotation(self) -> None:
        new = self.new_path
        if new.exists():
            if self.path.exists():  # cut before step 2: the current file holds every line
                log.warning("journal %s: removing a rotation cut short before it began", self.path)
                new.unlink()
            else:  # cut between steps 2 and 3: the new file is whole (fsync'd in step 1)
                log.warning("journal %s: finishing a rotation cut short", self.path)
                os.rename(new, self.path)
                _fsync_dir(self.path.parent)
        for leftover in self.path.parent.glob(f"{self.path.stem}.*{self.path.suffix}.gz.tmp"):
            leftover.unlink(missing_ok=True)  # a compression cut short; its plain file is still there

    # --- housekeeping: compress and prune archives, off the control loop ------------------------

    def _start_housekeeping(self) -> None:
        with self._house_lock:
            self._house_wanted = True
            if self._house_thread is not None and self._house_thread.is_alive():
                return
            self._house_thread = threading.Thread(
                target=self._housekeeping, name=f"journal-{self.path.stem}", daemon=True
            )
            self._house_thread.start()

    def _housekeeping(self) -> None:
        while True:
            with self._house_lock:
                if not self._house_wanted:
                    self._house_thread = None
                    return
                self._house_wanted = False
            try:
                self._compress_and_prune()
            except OSError as exc:
                log.error("journal %s: housekeeping of rotated files failed: %s", self.path, exc)

    def _compress_and_prune(self) -> None:
        directory = self.path.parent
        found = archives(self.path)
        for _, path in found[: max(0, len(found) - self.keep)]:
            for old in (path, path.with_name(path.name + ".gz")):
                old.unlink(missing_ok=True)
            log.info("journal %s: deleted %s (keeping the newest %d)", self.path, path.name, self.keep)
        for _, path in found[-self.keep :]:
            gz = path.with_name(path.name + ".gz")
            if not self.compress or path.name.endswith(".gz"):
                continue
            if gz.exists():  # compressed whole before a crash cut the clean-up short
                path.unlink()
                continue
            tmp = path.with_name(path.name + ".gz.tmp")
            with path.open("rb") as src, tmp.open("wb") as raw:
                # Level 6: ~19x smaller at ~130 MiB/s here (9 gains little and costs much more).
                gz_out = gzip.GzipFile(filename=path.name, mode="wb", compresslevel=6, fileobj=raw, mtime=0)
                with gz_out as out:
                    shutil.copyfileobj(src, out, 1024 * 1024)
                raw.flush()
                os.fsync(raw.fileno())
            os.rename(tmp, gz)
            _fsync_dir(directory)
            path.unlink()

    def close(self) -> None:
        """Flush, fsync and close; waits a while for a compression under way. Safe twice."""
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        thread = self._house_thread
        if thread is not None:
            thread.join(HOUSEKEEPING_JOIN_S)
