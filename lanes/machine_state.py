"""A lane machine's whole state as plain JSON data, and back: what a rotated journal starts from.

The machine is deterministic, so a journal replayed from its first line rebuilds it exactly;
a journal that is rotated instead carries the state the old file ended in, so the new file
restores (and replays) on its own. ``snapshot`` after ``from_snapshot`` gives back the same
data, and a machine restored from it answers every later event as the original would
(``tests/lanes/test_machine_state.py`` checks both against random traffic, and that every
attribute of ``LaneMachine`` and ``Crossing`` is covered here: a new attribute left out of
the snapshot fails the build instead of being silently forgotten at the first rotation).

Cards are kept by reference: the machine tells "the card a decision already took" by
identity (``card is card_used``), so each card object is written once in ``cards`` and the
attributes holding it give its index.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from lanes.commands import Light, Outcome
from lanes.config import LaneConfig
from lanes.crossing import Crossing, Phase
from lanes.decision import Identification
from lanes.errors import JournalError
from lanes.events import BarrierPosition, CardAuthenticated, CardRejected, Device, Loop, PlateDecided, TagRead
from lanes.journal import ParsedJournal, decode_event, decode_value, tagged, to_json
from lanes.machine import USED_TRIPS_REMEMBERED, LaneMachine
from lanes.records import TripRecord

Card = CardAuthenticated | CardRejected

# Attributes whose JSON form is their plain value (floats written as floats).
_PLAIN: dict[str, Any] = {
    "sequence": int,
    "now": float | None,
    "phase": Phase,
    "barrier_position": BarrierPosition,
    "barrier_up": bool | None,
    "barrier_deadline": float | None,
    "lights": Light | None,
    "sign": bool | None,
    "message": str | None,
    "synced_at": float | None,
    "card_inserted": bool,
    "clear_since": float | None,
    "stopping": bool,
}
# Attributes with a form of their own below; with _PLAIN and "config" (the header's), all of them.
_SPECIAL = ("loops", "unavailable", "card", "card_used", "crossing", "pending_reads", "previous_marks",
            "used_trip_ids")
STATE_ATTRIBUTES = frozenset({*_PLAIN, *_SPECIAL})

_CROSSING_PLAIN: dict[str, Any] = {
    "arrived_at": float,
    "plate": PlateDecided | None,
    "ident": Identification | None,
    "lookup_for": str | None,
    "trip_answered": bool,
    "trip": TripRecord | None,
    "outcome": Outcome | None,
    "green_allowed": bool,
    "inspection": bool,
    "entered_safety": bool,
    "left_arming": bool,
    "left_safety": bool,
    "passed": bool,
    "tailgating": bool,
}
CROSSING_FIELDS = frozenset({*_CROSSING_PLAIN, "tags", "card"})


def snapshot(m: LaneMachine) -> dict[str, Any]:
    """The machine's state (all but its config) as JSON data."""
    cards: list[Card] = []

    def ref(card: Card | None) -> int | None:
        if card is None:
            return None
        for i, known in enumerate(cards):
            if known is card:
                return i
        cards.append(card)
        return len(cards) - 1

    state: dict[str, Any] = {name: _plain(tp, getattr(m, name)) for name, tp in _PLAIN.items()}
    state["loops"] = {str(loop): m.loops[loop] for loop in Loop}
    state["unavailable"] = [[str(d), why] for d, why in m.unavailable.items()]
    state["card"], state["card_used"] = ref(m.card), ref(m.card_used)
    c = m.crossing
    if c is None:
        state["crossing"] = None
    else:
        crossing = {name: _plain(tp, getattr(c, name)) for name, tp in _CROSSING_PLAIN.items()}
        crossing["tags"] = [to_json(t) for t in c.tags]
        crossing["card"] = ref(c.card)
        state["crossing"] = crossing
    state["cards"] = [tagged(card) for card in cards]
    state["pending_reads"] = [tagged(r) for r in m.pending_reads]
    state["previous_marks"] = list(m.previous_marks)
    state["used_trip_ids"] = list(m.used_trip_ids)
    return state


def from_snapshot(config: LaneConfig, state: Any, where: str = "state") -> LaneMachine:
    """A machine in ``state`` (``snapshot``'s data); ``JournalError`` names the field and rule."""
    data = _object(state, where, {*STATE_ATTRIBUTES, "cards"})
    m = LaneMachine(config)
    for name, tp in _PLAIN.items():
        setattr(m, name, decode_value(tp, data[name], f"{where}.{name}"))
    loops = _object(data["loops"], f"{where}.loops", {str(loop) for loop in Loop})
    m.loops = {loop: decode_value(bool | None, loops[str(loop)], f"{where}.loops.{loop}") for loop in Loop}
    unavailable = decode_value(tuple[tuple[str, ...], ...], data["unavailable"], f"{where}.unavailable")
    m.unavailable = {}
    for i, pair in enumerate(unavailable):
        if len(pair) != 2:
            raise JournalError(f"{where}.unavailable[{i}]: must be [device, reason]")
        m.unavailable[decode_value(Device, pair[0], f"{where}.unavailable[{i}][0]")] = pair[1]
    raw_cards = data["cards"]
    if not isinstance(raw_cards, list):
        raise JournalError(f"{where}.cards: must be a list")
    cards = [decode_event(c, f"{where}.cards[{i}]") for i, c in enumerate(raw_cards)]
    for i, card in enumerate(cards):
        if not isinstance(card, Card):
            raise JournalError(f"{where}.cards[{i}].type: must be CardAuthenticated or CardRejected")

    def deref(value: Any, at: str) -> Card | None:
        index = decode_value(int | None, value, at)
        if index is not None and not 0 <= index < len(cards):
            raise JournalError(f"{at}: card index {index} out of range (0-{len(cards) - 1})")
        return None if index is None else cards[index]

    m.card, m.card_used = deref(data["card"], f"{where}.card"), deref(data["card_used"], f"{where}.card_used")
    if data["crossing"] is not None:
        at = f"{where}.crossing"
        raw = _object(data["crossing"], at, CROSSING_FIELDS)
        c = Crossing(arrived_at=0.0)
        for name, tp in _CROSSING_PLAIN.items():
            setattr(c, name, decode_value(tp, raw[name], f"{at}.{name}"))
        c.tags = list(decode_value(tuple[TagRead, ...], raw["tags"], f"{at}.tags"))
        c.card = deref(raw["card"], f"{at}.card")
        m.crossing = c
    reads = data["pending_reads"]
    if not isinstance(reads, list):
        raise JournalError(f"{where}.pending_reads: must be a list")
    m.pending_reads = []
    for i, r in enumerate(reads):
        read = decode_event(r, f"{where}.pending_reads[{i}]")
        if not isinstance(read, TagRead | PlateDecided):
            raise JournalError(f"{where}.pending_reads[{i}].type: must be TagRead or PlateDecided")
        m.pending_reads.append(read)
    marks = decode_value(tuple[str | None, ...], data["previous_marks"], f"{where}.previous_marks")
    if len(marks) != 2:
        raise JournalError(f"{where}.previous_marks: must be [tag EPC, plate]")
    m.previous_marks = (marks[0], marks[1])
    used = decode_value(tuple[str, ...], data["used_trip_ids"], f"{where}.used_trip_ids")
    m.used_trip_ids = deque(used, maxlen=USED_TRIPS_REMEMBERED)
    return m


def start_machine(journal: ParsedJournal) -> LaneMachine:
    """The machine a journal file's events are to be replayed into: fresh for a file that
    starts a journal, in the carried state for a rotated one."""
    if journal.state is None:
        return LaneMachine(journal.config)
    return from_snapshot(journal.config, journal.state, "line 1: state")


def _plain(tp: Any, value: Any) -> Any:
    if tp in (float, float | None) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # as the decoder gives it back, so a snapshot compares equal
    return to_json(value)


def _object(value: Any, where: str, keys: set[str] | frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JournalError(f"{where}: must be an object")
    unknown = sorted(set(value) - keys)
    if unknown:
        raise JournalError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(keys - set(value))
    if missing:
        raise JournalError(f"{where}: missing field(s) {', '.join(missing)}")
    return value


