"""The kiosk's journal file: restore after a crash (a torn last line), reconfiguration, and
every line replaying byte for byte through ``rocars-kiosk replay``."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from kiosk.journal_file import JournalFile
from kiosk.replay import replay
from lanes.commands import RecordCrossing
from lanes.config import LaneConfig
from lanes.events import BarrierPosition, Event, LaneStarted, Loop, LoopChanged, TagRead, Tick
from lanes.records import Direction, VehicleRecord

CONFIG = LaneConfig("LMC-I-01", "LMC", Direction.IMPORT, plate_wait_s=0.5)
T0 = 1_900_000_000.0


def run_events(journal: JournalFile, config: LaneConfig, events: list[Event]) -> list[str]:
    machine, _ = journal.open_and_restore(config)
    keys = []
    for event in events:
        commands = machine.handle(event)
        journal.append(event, commands)
        keys += [c.record.idempotency_key for c in commands if isinstance(c, RecordCrossing)]
    journal.close()
    return keys


def truck(at: float, epc: str = "E2000000000000000000AAAA") -> list[Event]:
    vehicle = None if epc.endswith("FFFF") else VehicleRecord("AB1234", "AB1234", epc)
    return [
        LoopChanged(at, Loop.ARMING, True),
        TagRead(at + 0.1, epc, vehicle),
        Tick(at + 1.0),
        Tick(at + CONFIG.identify_timeout_s + 1),  # no card: referred at the timeout
    ]


def started(at: float, seq: int = 1) -> LaneStarted:
    return LaneStarted(at, seq, False, False, False, BarrierPosition.DOWN)


def test_restore_continues_the_journal_and_replays_identically(tmp_path: Path) -> None:
    path = tmp_path / "j" / "LMC-I-01.jsonl"
    keys = run_events(JournalFile(path), CONFIG, [started(T0), *truck(T0 + 1)])
    assert keys == ["LMC-I-01:000000000001"]
    again = JournalFile(path)
    machine, records = again.open_and_restore(CONFIG)
    assert [r.idempotency_key for r in records] == keys
    assert machine.sequence == 2 and again.next_n == 6
    again.close()
    keys2 = run_events(
        JournalFile(path), CONFIG, [started(T0 + 100, 2), LoopChanged(T0 + 100.5, Loop.ARMING, False)]
    )
    assert keys2 == []
    out = io.StringIO()
    result = replay(path.read_text(), out, quiet=True)
    assert not result.differences and result.lines == 7
    assert path.read_text().count('"journal":"rocars-lane"') == 1  # same settings: one header


def test_a_torn_last_line_is_cut_off_and_the_journal_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    run_events(JournalFile(path), CONFIG, [started(T0), *truck(T0 + 1)])
    whole = path.read_text()
    path.write_text(whole + '{"commands":[],"event":{"at":19000')  # killed mid-write
    journal = JournalFile(path)
    machine, records = journal.open_and_restore(CONFIG)
    assert len(records) == 1
    journal.append(Tick(T0 + 200), machine.handle(Tick(T0 + 200)))
    journal.close()
    text = path.read_text()
    assert text.startswith(whole) and "19000" not in text.replace(whole, "")[:20]
    result = replay(text, io.StringIO(), quiet=True)
    assert not result.differences and not result.torn


def test_changed_settings_add_a_header_and_still_replay(tmp_path: Path) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    run_events(JournalFile(path), CONFIG, [started(T0)])
    changed = replace(CONFIG, vacate_s=7.0)
    run_events(JournalFile(path), changed, [started(T0 + 10, 1), *truck(T0 + 11)])
    text = path.read_text()
    assert text.count('"journal":"rocars-lane"') == 2
    result = replay(text, io.StringIO(), quiet=True)
    assert not result.differences and sum(result.outcomes.values()) == 1
