"""Journal rotation: files cut at line boundaries, each replaying on its own and all of them
together, restoration from the current file alone, retention and compression, and no line
lost or doubled when the process dies at any step of a rotation (a real subprocess killed
between the renames, and a real kiosk daemon SIGKILLed while it rotates every second)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiosk.cli import main as kiosk_cli
from kiosk.config import ConfigError, parse_config
from kiosk.journal_file import JournalFile, archives, chain, read_text
from kiosk.replay import replay, replay_files
from lanes.commands import LookupTrip, RecordCrossing, SetBarrier
from lanes.config import LaneConfig
from lanes.events import (
    BarrierLimit,
    BarrierPosition,
    CardAuthenticated,
    CardRemoved,
    Event,
    LaneStarted,
    Loop,
    LoopChanged,
    PlateDecided,
    TagRead,
    Tick,
    TripFound,
)
from lanes.journal import JournalEntry, parse_journal
from lanes.machine_state import snapshot
from lanes.records import Direction, DriverRecord, TripRecord, VehicleRecord, Verdict

REPO = Path(__file__).resolve().parents[2]
CONFIG = LaneConfig("LMC-I-01", "LMC", Direction.IMPORT, plate_wait_s=0.5, tag_wait_s=0.5, vacate_s=1.0)
T0 = 1_900_000_000.0
TRUCK = VehicleRecord("V-1", "AB1234", "E2000000000000000000AAAA")
DRIVER = DriverRecord("D-1", "A123456(7)", "C-0001", "CHAN Tai Man")


def trip(at: float) -> TripRecord:
    return TripRecord(f"TRIP-{int(at)}", TRUCK.vehicle_id, None, "LMC", Direction.IMPORT, at - 600, at + 1800,
                      Verdict.CLEAR if int(at) % 3 else Verdict.HOLD)


def traffic(trucks: int) -> Iterator[Event]:
    """A lane's day, deterministic: trucks released or referred, each driving through."""
    yield LaneStarted(T0, 1, False, False, False, BarrierPosition.DOWN, synced_at=T0)
    for i in range(trucks):
        at = T0 + 10 + 60 * i
        yield LoopChanged(at, Loop.ARMING, True)
        yield TagRead(at + 0.2, TRUCK.tag_epc or "", TRUCK)
        yield PlateDecided(at + 0.4, TRUCK.registration_mark, 0.97, TRUCK)
        yield CardAuthenticated(at + 1.0, DRIVER.card_number, T0 + 86400 * 365, DRIVER)
        for k in range(6):
            yield Tick(at + 1.5 + k * 0.5)
        for dt, loop, occupied in ((5, Loop.SAFETY, True), (6, Loop.ARMING, False), (7, Loop.CLOSING, True),
                                   (8, Loop.SAFETY, False), (9, Loop.CLOSING, False)):
            yield LoopChanged(at + dt, loop, occupied)
        yield CardRemoved(at + 12)
        yield Tick(at + 15)  # vacated: a referred truck's crossing ends


class Lane:
    """What the kiosk's runner does with a journal: each event journaled with its commands,
    trip look-ups answered and fed back, rotation between events with decisions recorded."""

    def __init__(
        self, journal: JournalFile, config: LaneConfig = CONFIG, *, keep_states: bool = False
    ) -> None:
        self.journal = journal
        self.machine, self.restored = journal.open_and_restore(config)
        self.keys: list[str] = []
        self.keep_states = keep_states
        self.states: dict[int, dict[str, Any]] = {}  # the machine's, after line n

    def send(self, event: Event) -> None:
        pending = [event]
        while pending:
            e = pending.pop(0)
            commands = self.machine.handle(e)
            self.journal.append(e, commands)
            if self.keep_states:
                self.states[self.journal.next_n - 1] = json.loads(json.dumps(snapshot(self.machine)))
            for c in commands:
                if isinstance(c, LookupTrip):
                    pending.append(TripFound(e.at, c.vehicle_id, trip(e.at)))
                elif isinstance(c, RecordCrossing):
                    self.keys.append(c.record.idempotency_key)
                elif isinstance(c, SetBarrier):  # the arm reaches its limit switch
                    pending.append(BarrierLimit(e.at, BarrierPosition.UP if c.up else BarrierPosition.DOWN))
        self.journal.rotate_if_due(self.machine)

    def run(self, events: Iterator[Event] | list[Event]) -> Lane:
        for e in events:
            self.send(e)
        return self


def entries(paths: list[Path]) -> list[tuple[int, str]]:
    """(n, line text) of every event line in the files, in file order."""
    out = []
    for path in paths:
        journal = parse_journal(read_text(path))
        out += [(ln.item.n, ln.text) for ln in journal.lines if isinstance(ln.item, JournalEntry)]
    return out


@dataclass
class Reference:
    lines: list[tuple[int, str]]
    keys: list[str]
    states: dict[int, dict[str, Any]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The same day in one file that never rotates: the lines and states to compare with."""
    path = tmp_path_factory.mktemp("reference") / "LMC-I-01.jsonl"
    lane = Lane(JournalFile(path, max_bytes=1 << 40), keep_states=True).run(traffic(12))
    lane.journal.close()
    return Reference(entries([path]), lane.keys, lane.states)


def test_rotation_cuts_whole_lines_and_every_file_replays_alone_and_all_together(
    tmp_path: Path, reference: Reference
) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    lane = Lane(JournalFile(path, max_bytes=4000, keep=1000)).run(traffic(12))
    lane.journal.close()  # also waits for the compression of the last rotated file
    files = chain(path)
    assert len(files) >= 6 and all(p.name.endswith(".jsonl.gz") for p in files[:-1]), files
    assert [p.name for p in files[:2]] == ["LMC-I-01.000001.jsonl.gz", "LMC-I-01.000002.jsonl.gz"]
    # Every line once, in order, exactly as the unrotated journal has it.
    assert entries(files) == reference.lines
    assert lane.keys == reference.keys and len(set(lane.keys)) == len(lane.keys) >= 8
    for p in files:  # each file on its own (the rotated ones from the state they carry)
        result = replay(read_text(p), io.StringIO(), quiet=True)
        assert not result.differences and not result.torn, p
        assert os.path.getsize(p) < 4000 + 4000 or p.name.endswith(".gz")
    out = io.StringIO()
    together = replay_files([(str(p), read_text(p)) for p in files], out, quiet=True)
    assert not together.differences, out.getvalue()
    assert together.lines == len(reference.lines) and together.files == len(files)
    assert sum(together.outcomes.values()) == len(reference.keys)


def test_restoring_reads_only_the_current_file_and_goes_on_where_the_lane_was(
    tmp_path: Path, reference: Reference
) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    events = list(traffic(12))
    first = Lane(JournalFile(path, max_bytes=3000, compress=False)).run(events[:100])
    first.journal.close()
    n = first.journal.next_n - 1
    for _, archive in archives(path):  # nothing before the current file is read again
        archive.write_text("unreadable\n")
    second = Lane(JournalFile(path, max_bytes=3000, compress=False))
    assert snapshot(second.machine) == reference.states[n] and second.journal.next_n == n + 1
    assert len(second.restored) <= 1  # only the current file's decisions are re-offered
    second.run(events[100:])
    second.journal.close()
    assert second.keys == reference.keys[len(first.keys):]
    assert entries([path]) == [e for e in reference.lines if e[0] >= entries([path])[0][0]]


def test_replay_takes_the_journal_directory_or_files_in_order_and_flags_a_wrong_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], reference: Reference
) -> None:
    directory = tmp_path / "journal"
    for lane_id in ("LMC-I-01", "LMC-I-02"):
        config = LaneConfig(lane_id, "LMC", Direction.IMPORT, plate_wait_s=0.5, tag_wait_s=0.5, vacate_s=1.0)
        journal = JournalFile(directory / f"{lane_id}.jsonl", max_bytes=5000)
        Lane(journal, config).run(traffic(6)).journal.close()
    assert kiosk_cli(["replay", "--quiet", str(directory)]) == 0
    out = capsys.readouterr().out
    files = len(chain(directory / "LMC-I-01.jsonl"))
    assert out.count(f"events across {files} files, ") == 2 and out.count("replay identical") == 2, out
    lane1 = [str(p) for p in chain(directory / "LMC-I-01.jsonl")]
    assert kiosk_cli(["replay", "--quiet", *lane1]) == 0
    capsys.readouterr()
    swapped = [lane1[1], lane1[0], *lane1[2:]]
    assert kiosk_cli(["replay", "--quiet", *swapped]) == 1
    assert "line 1: does not continue the file before it" in capsys.readouterr().out
    assert kiosk_cli(["replay", "--quiet", lane1[1], lane1[0]]) == 1  # the first (fresh) file last
    assert "a new journal that starts before the file before it ends" in capsys.readouterr().out
    gap = [lane1[0], *lane1[2:]]  # a rotated file missing in between
    assert kiosk_cli(["replay", "--quiet", *gap]) == 1
    assert kiosk_cli(["replay", "--quiet", *lane1[2:]]) == 0  # the oldest gone: starts from a state
    (directory / "LMC-I-01.000001.jsonl.gz").write_bytes(b"not gzip")
    capsys.readouterr()
    assert kiosk_cli(["replay", str(directory / "LMC-I-01.000001.jsonl.gz")]) == 2
    assert "LMC-I-01.000001.jsonl.gz" in capsys.readouterr().err


def test_an_unreadable_current_file_is_set_aside_and_the_journal_begins_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    Lane(JournalFile(path, max_bytes=4000)).run(traffic(4)).journal.close()
    path.write_text(path.read_text().replace('"n":', '"n":"x', 1))  # damaged, not torn
    journal = JournalFile(path, max_bytes=4000)
    machine, records = journal.open_or_start_afresh(CONFIG)
    assert machine.now is None and records == [] and journal.next_n == 1
    journal.close()
    assert len(list(tmp_path.glob("LMC-I-01.jsonl.unreadable-*"))) == 1
    later = [dataclasses.replace(e, at=e.at + 3600) for e in traffic(2)]
    Lane(JournalFile(path, max_bytes=4000)).run(later).journal.close()
    assert kiosk_cli(["replay", str(tmp_path)]) == 0  # the set-aside file is not part of it
    assert "a new journal: the lane started afresh" in capsys.readouterr().out


def test_only_the_newest_rotated_files_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    Lane(JournalFile(path, max_bytes=3000, keep=3)).run(traffic(10)).journal.close()
    numbers = [n for n, _ in archives(path)]
    assert len(numbers) == 3 and numbers == list(range(numbers[0], numbers[0] + 3)) and numbers[0] > 3
    assert kiosk_cli(["replay", "--quiet", str(tmp_path)]) == 0


def test_the_decision_fsync_rule_holds_and_a_rotation_syncs_both_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fsync's effect shows only after a power cut, which no test here can cause: count the calls.
    synced: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    path = tmp_path / "LMC-I-01.jsonl"
    journal = JournalFile(path, max_bytes=1 << 30)
    lane = Lane(journal)
    synced.clear()
    events = list(traffic(1))
    lane.run(events[:4])  # LaneStarted, arrival, tag, plate: no decision yet
    assert synced == []
    lane.run(events[4:5])  # the card: the decision's line
    assert synced == [str(path)] and lane.keys
    synced.clear()
    journal.max_bytes = journal._next_try = 1
    lane.send(Tick(T0 + 20))
    assert str(path) + ".new" in synced and str(path) in synced and str(tmp_path) in synced
    journal.close()


def test_a_rotation_the_disk_refuses_leaves_the_current_file_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, reference: Reference
) -> None:
    # A full or failing disk refusing the rename is what no real part here can produce on
    # demand (root ignores permissions): the rename is made to fail, twice.
    import errno

    import kiosk.journal_file as journal_file

    real, refusals = os.rename, [0]

    def rename(src: Any, dst: Any) -> None:
        if refusals[0] < 2 and str(src).endswith("LMC-I-01.jsonl"):
            refusals[0] += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(journal_file.os, "rename", rename)
    path = tmp_path / "LMC-I-01.jsonl"
    caplog.set_level("INFO", logger="kiosk.journal_file")
    lane = Lane(JournalFile(path, max_bytes=4000, compress=False)).run(traffic(12))
    lane.journal.close()
    assert refusals[0] == 2 and not (tmp_path / "LMC-I-01.jsonl.new").exists()
    failing = [r.message for r in caplog.records if "cannot rotate" in r.message]
    assert len(failing) == 1 and "No space left" in failing[0]  # reported once, not per retry
    assert sum("rotating works again" in r.message for r in caplog.records) == 1
    files = chain(path)
    assert entries(files) == reference.lines
    # Refused, the first file went on: it holds more than a file normally does (tried again
    # after each further eighth of the limit), and the later ones are cut as usual.
    sizes = [sum(len(text.encode()) + 1 for _, text in entries([p])) for p in files]
    longest = max(len(text.encode()) + 1 for _, text in reference.lines)
    assert sizes[0] >= 4000 + 2 * 500 and 4000 <= min(sizes[1:-1]) <= max(sizes[1:-1]) < 4000 + longest


A, CUR, NEW = "LMC-I-01.000001.jsonl", "LMC-I-01.jsonl", "LMC-I-01.jsonl.new"
CRASH_POINTS = [  # where the process dies, and (at least) the files it leaves
    ("rotate", 1, "before", {CUR, NEW}),  # the new file written, the current one not yet renamed
    ("rotate", 1, "after", {A, NEW}),  # between the two renames: no current file for a moment
    ("rotate", 2, "after", {A, CUR}),  # renamed into place, not yet reopened
    ("rotate", 5, "before", {A, "LMC-I-01.000002.jsonl", CUR, NEW}),  # a later rotation
    # The compression runs on its own thread: the lane goes on meanwhile, and the process
    # dies wherever its control loop is (mid-rotation too).
    ("gzip", 1, "before", {A, A + ".gz.tmp"}),  # compressed to .gz.tmp, not yet renamed
    ("gzip", 1, "after", {A, A + ".gz"}),  # .gz in place, the plain file not yet removed
]


@pytest.mark.parametrize(("step", "count", "when", "left"), CRASH_POINTS)
def test_a_process_killed_at_any_step_of_a_rotation_loses_and_doubles_no_line(
    tmp_path: Path, reference: Reference, step: str, count: int, when: str, left: set[str]
) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    proc = subprocess.run(
        [sys.executable, __file__, str(path), step, str(count), when],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 9, f"the process was to die at {step} {count} {when}:\n{proc.stderr}"
    leftovers = {p.name for p in tmp_path.iterdir()}
    assert left <= leftovers and (step == "gzip" or left == leftovers), leftovers
    lane = Lane(JournalFile(path, max_bytes=4000))
    n = lane.journal.next_n - 1
    lane.journal.close()
    assert snapshot(lane.machine) == reference.states[n]
    files = chain(path)
    assert entries(files) == reference.lines[:n]
    names = {p.name for p in tmp_path.iterdir()}
    assert not any(name.endswith((".new", ".tmp")) for name in names), names
    assert all(p.name.endswith(".gz") for p in files[:-1]), names  # compression finished on restart
    out = io.StringIO()
    result = replay_files([(str(p), read_text(p)) for p in files], out, quiet=True)
    assert not result.differences and result.lines == n, out.getvalue()


def crash_at(path: Path, step: str, count: int, when: str) -> None:
    """Run the day with a process death at one rename of a rotation (``step`` rotate: the
    journal's own renames; gzip: a rename onto a .gz). A power cut stood in for by
    ``os._exit``: what the disk holds at that instant is what the next open finds."""
    import threading

    real = os.rename
    seen = {"rotate": 0, "gzip": 0}
    lock = threading.Lock()

    def rename(src: Any, dst: Any) -> None:
        kind = "gzip" if str(dst).endswith(".gz") else "rotate"
        with lock:
            seen[kind] += 1
            hit = kind == step and seen[kind] == count
        if hit and when == "before":
            os._exit(9)
        real(src, dst)
        if hit:
            os._exit(9)

    os.rename = rename  # type: ignore[assignment]
    Lane(JournalFile(path, max_bytes=4000, compress=step == "gzip")).run(traffic(12))
    time.sleep(5)  # a compression still under way
    sys.exit(0)


# --- a real kiosk daemon, killed while it rotates every second or so -------------------------------


@pytest.mark.pcscd
@pytest.mark.slow
def test_a_kiosk_killed_again_and_again_while_rotating_keeps_one_whole_journal(
    short_dir: Path, kiosk_factory: Callable[..., Any]
) -> None:
    from simulators.lane import render_toml
    from tests.kiosk.conftest import KNOWN_EPC, KNOWN_PLATE, UNKNOWN_EPC, make_rig, prefill_cache, wait_for

    rig = make_rig(short_dir)
    try:
        prefill_cache(rig.cache_path)
        tables = tomllib.loads(rig.config_path.read_text())
        tables["journal"].update(max_file_mib=0.001, keep_files=1000)
        flat = {k: v for k, v in tables.items() if k != "devices"}
        flat |= {f"devices.{name}": t for name, t in tables["devices"].items()}
        rig.config_path.write_text(render_toml(flat))
        journal_dir = rig.journal_path.parent
        rng = random.Random(7)
        for round_no in range(3):
            kiosk = kiosk_factory(rig)
            tag = KNOWN_EPC if round_no % 2 == 0 else UNKNOWN_EPC  # released, then referred
            rig.cmd("arrive", plate=KNOWN_PLATE if tag == KNOWN_EPC else "ZZ9999", tag=tag)
            # A truck at the kiosk: its ticks are journaled (about 10 lines a second), so the
            # journal rotates every second or so; kill at a random instant among them.
            wanted = len(archives(rig.journal_path)) + 2
            wait_for(lambda: len(archives(rig.journal_path)) >= wanted, 20, "two rotations",  # noqa: B023
                     detail=kiosk.log)
            rig.cmd("insert_card", card="good")
            time.sleep(rng.uniform(0.2, 1.5))
            kiosk.signal(signal.SIGKILL)
            kiosk.wait_exit(10)
            rig.cmd("leave")
            rig.cmd("pull_card")
        last = kiosk_factory(rig)
        last.signal(signal.SIGTERM)
        assert last.wait_exit(15) == 0
        files = chain(rig.journal_path)
        assert len(files) >= 8, files
        numbers = [n for n, _ in entries(files)]
        assert numbers == list(range(1, len(numbers) + 1)), "every line exactly once, in order"
        proc = subprocess.run([sys.executable, "-m", "kiosk.cli", "replay", "--quiet", str(journal_dir)],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        assert f"across {len(files)} files" in proc.stdout and "replay identical" in proc.stdout
        journaled = [json.loads(text)["commands"] for _, text in entries(files)]
        keys = [c["record"]["idempotency_key"] for cs in journaled for c in cs
                if c["type"] == "RecordCrossing"]
        assert sorted(keys) == sorted(k for k, _ in rig.crossings()) and len(set(keys)) == len(keys) >= 1
    finally:
        rig.sim.close()


def test_journal_settings_are_checked_naming_the_setting(tmp_path: Path) -> None:
    base = {"lane": {"id": "LMC-I-01", "control_point": "LMC", "direction": "import"},
            "devices": {"io": {"url": "loop://"}}}
    good = parse_config({**base, "journal": {"path": "j", "max_file_mib": 0.5, "keep_files": 7,
                                             "compress": False}}, tmp_path)
    assert (good.journal.max_file_mib, good.journal.keep_files, good.journal.compress) == (0.5, 7, False)
    default = parse_config(base, tmp_path).journal
    assert (default.max_file_mib, default.keep_files, default.compress) == (16.0, 90, True)
    with pytest.raises(ConfigError) as err:
        parse_config({**base, "journal": {"max_file_mib": 0, "keep_files": 0, "compress": "yes"}}, tmp_path)
    assert err.value.errors == [
        "journal.max_file_mib: must be a number of MiB from 0.001 to 4096 (got 0)",
        "journal.keep_files: must be an integer 1-100000 (got 0)",
        "journal.compress: must be true or false (got 'yes')",
    ]


if __name__ == "__main__":
    crash_at(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4])
