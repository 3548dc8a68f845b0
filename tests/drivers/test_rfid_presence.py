"""Tag presence: one TagSeen per arrival however often it is read, one TagGone after hold time."""

from __future__ import annotations

import pytest

from drivers.rfid.presence import PresenceTracker, TagGone, TagSeen


def test_repeated_reads_are_one_arrival_and_one_departure() -> None:
    p = PresenceTracker(hold_time=1.0)
    assert p.read("E2", 0, -50, now=10.0) == TagSeen("E2", 0, -50, 10.0)
    for t in (10.1, 10.5, 10.9):
        assert p.read("E2", 1, -40, now=t) is None
    assert p.reads("E2") == 4
    assert p.expire(now=11.8) == []  # last read 10.9 + 1.0 hold > 11.8
    assert p.expire(now=11.9) == [TagGone("E2", 11.9)]
    assert p.present() == []
    assert p.read("E2", 0, -50, now=12.0) is not None  # comes back: a new arrival


def test_two_tags_are_tracked_apart() -> None:
    p = PresenceTracker(hold_time=0.5)
    p.read("AA", 0, -50, 0.0)
    p.read("BB", 0, -50, 0.4)
    assert p.expire(0.5) == [TagGone("AA", 0.5)]
    assert p.present() == ["BB"]
    assert p.clear(0.6) == [TagGone("BB", 0.6)]


def test_hold_time_must_be_positive() -> None:
    with pytest.raises(ValueError, match="hold_time"):
        PresenceTracker(0)
