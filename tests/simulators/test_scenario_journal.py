"""The traffic scenario counts a lane's decisions across the kiosk's journal rotations:
it waits for "the next decision" by position, so a rotation must not restart the count."""

from __future__ import annotations

from pathlib import Path

from kiosk.journal_file import JournalFile
from simulators.scenario import decisions
from tests.kiosk.test_journal_rotation import Lane, traffic


def test_decisions_span_rotated_and_compressed_files_in_order(tmp_path: Path) -> None:
    path = tmp_path / "LMC-I-01.jsonl"
    rotating = Lane(JournalFile(path, max_bytes=4000, keep=1000)).run(traffic(12))
    rotating.journal.close()
    assert any(p.name.endswith(".jsonl.gz") for p in tmp_path.iterdir())  # it did rotate
    found = decisions(path)
    assert [d["idempotency_key"] for d in found] == rotating.keys
    assert len(found) == 12
    numbers = [d["n"] for d in found]
    assert numbers == sorted(numbers)
