"""The journal codec: exact round trips, canonical lines, and clear errors on bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lanes.commands import (
    COMMAND_TYPES,
    Alarm,
    LookupTrip,
    RecordCrossing,
    ReportDevice,
    SetBarrier,
    SetInspectionSign,
    SetLights,
    ShowMessage,
)
from lanes.errors import JournalError
from lanes.events import (
    EVENT_TYPES,
    BarrierLimit,
    BarrierPosition,
    CacheSynced,
    CardAuthenticated,
    CardInserted,
    CardRejected,
    CardRemoved,
    Device,
    DeviceAvailability,
    Event,
    InputsSnapshot,
    InspectionResult,
    LaneStarted,
    Loop,
    LoopChanged,
    OfficerAction,
    OfficerCommand,
    PlateDecided,
    TagRead,
    Tick,
    TripFound,
)
from lanes.journal import decode_entry, decode_header, entry_line, header_line
from lanes.records import ELockState, TripRecord, TripStatus, Verdict

from .builders import CONFIG, DRIVER, T0, TRUCK, Lane, started, trip

times = st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
text = st.text(max_size=12)
maybe_vehicle = st.sampled_from([TRUCK, None])
trips = st.builds(
    TripRecord, trip_id=text, vehicle_id=text, driver_id=st.none() | text, control_point=text,
    direction=st.sampled_from(list(CONFIG.direction.__class__)), slot_start=times, slot_end=times,
    verdict=st.sampled_from(list(Verdict)), verdict_reasons=st.lists(text, max_size=3).map(tuple),
    ccrns=st.lists(text, max_size=3).map(tuple), elock=st.sampled_from(list(ELockState)),
    status=st.sampled_from(list(TripStatus)),
)
EVENTS: st.SearchStrategy[Event] = st.one_of(
    st.builds(LaneStarted, times, st.integers(1, 10**9), st.booleans(), st.booleans(), st.booleans(),
              st.sampled_from(list(BarrierPosition)), st.none() | times,
              st.lists(st.sampled_from(list(Device)), max_size=3).map(tuple)),
    st.builds(Tick, times),
    st.builds(LoopChanged, times, st.sampled_from(list(Loop)), st.booleans()),
    st.builds(InputsSnapshot, times, st.booleans(), st.booleans(), st.booleans(),
              st.sampled_from(list(BarrierPosition))),
    st.builds(BarrierLimit, times, st.sampled_from(list(BarrierPosition))),
    st.builds(TagRead, times, text, maybe_vehicle),
    st.builds(PlateDecided, times, st.none() | text, st.floats(0, 1), maybe_vehicle),
    st.builds(CardInserted, times),
    st.builds(CardAuthenticated, times, text, times, st.sampled_from([DRIVER, None])),
    st.builds(CardRejected, times, text),
    st.builds(CardRemoved, times),
    st.builds(TripFound, times, text, st.none() | trips),
    st.builds(CacheSynced, times, times),
    st.builds(DeviceAvailability, times, st.sampled_from(list(Device)), st.booleans(), text),
    st.builds(OfficerAction, times, text, st.sampled_from(list(OfficerCommand)), text),
    st.builds(InspectionResult, times, text, text, text, text, text),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(event=EVENTS, n=st.integers(1, 10**6))
def test_every_event_round_trips_exactly_and_its_line_is_canonical(event: Event, n: int) -> None:
    line = entry_line(n, event, ())
    entry = decode_entry(line, 7)
    assert entry.event == event and entry.n == n
    assert entry_line(entry.n, entry.event, entry.commands) == line
    assert "\n" not in line


def test_every_event_and_command_type_is_covered_by_the_codec() -> None:
    lane = Lane(trips={TRUCK.vehicle_id: trip(Verdict.INSPECT)}, barrier_moves=False)
    lane.send(started())
    lane.arrive(T0 + 5)
    lane.card(T0 + 7)
    lane.send(DeviceAvailability(T0 + 8, Device.CAMERA, False, "stalled"))
    lane.send(Tick(T0 + 30))
    seen_commands = {type(c) for c in lane.all_commands()}
    assert seen_commands == set(COMMAND_TYPES)
    for n, line in enumerate(lane.lines[1:], start=1):
        entry = decode_entry(line, n + 1)
        assert entry_line(entry.n, entry.event, entry.commands) == line
        assert (entry.event, entry.commands) == lane.log[n - 1]
    assert {t.__name__ for t in EVENT_TYPES} >= {"LaneStarted", "TagRead", "TripFound"}
    assert {SetBarrier, SetLights, SetInspectionSign, ShowMessage, Alarm, LookupTrip, RecordCrossing,
            ReportDevice} == set(COMMAND_TYPES)


def test_integer_times_journal_as_the_floats_they_decode_to() -> None:
    line = entry_line(1, Tick(1_790_000_000), ())  # type: ignore[arg-type]
    assert '"at":1790000000.0' in line
    entry = decode_entry(line, 2)
    assert entry_line(1, entry.event, ()) == line


def test_chinese_text_is_journaled_as_utf8_not_escapes() -> None:
    command = ShowMessage("SEE_OFFICER", "Please wait for an officer", "請等候關員")
    assert "請等候關員" in entry_line(1, Tick(T0), (command,))


def test_header_round_trips_the_lane_settings() -> None:
    assert decode_header(header_line(CONFIG)) == CONFIG


def _line(event: str, n: str = "1", commands: str = "[]") -> str:
    return f'{{"n": {n}, "event": {event}, "commands": {commands}}}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"line 3: not JSON"),
        ("[1, 2]", r"line 3: must be a JSON object"),
        (_line('{"type": "Teleport", "at": 1}'), r"event\.type: unknown type 'Teleport'"),
        (_line('{"type": "LoopChanged", "at": 1, "loop": "arming"}'),
         r"event\(LoopChanged\)\.occupied: required"),
        (_line('{"type": "LoopChanged", "at": 1, "loop": "roof", "occupied": true}'),
         r"event\(LoopChanged\)\.loop: 'roof' is not one of arming, safety, closing"),
        (_line('{"type": "Tick", "at": "noon"}'), r"event\(Tick\)\.at: must be a number"),
        (_line('{"type": "Tick", "at": 1, "colour": 2}'), r"event\(Tick\): unknown field\(s\) colour"),
        (_line('{"type": "Tick", "at": 1}', n='"one"'), r"line 3: n: must be an integer"),
        (_line('{"type": "Tick", "at": 1}', commands="{}"), r"line 3: commands: must be a list"),
        (_line('{"type": "TagRead", "at": 1, "epc": "E", "vehicle": {"vehicle_id": "V"}}'),
         r"event\(TagRead\)\.vehicle\.registration_mark: required"),
        (_line('{"type": "Tick", "at": 1}', commands='[{"type": "SetBarrier", "up": "yes"}]'),
         r"commands\[0\]\(SetBarrier\)\.up: must be bool"),
    ],
)
def test_bad_lines_are_rejected_naming_line_and_field(line: str, message: str) -> None:
    with pytest.raises(JournalError, match=message):
        decode_entry(line, 3)


def test_bad_headers_are_rejected_naming_the_field() -> None:
    good = json.loads(header_line(CONFIG))
    with pytest.raises(JournalError, match="line 1: journal: must be 'rocars-lane'"):
        decode_header(json.dumps({**good, "journal": "other"}))
    with pytest.raises(JournalError, match="line 1: version: 9 is not supported"):
        decode_header(json.dumps({**good, "version": 9}))
    with pytest.raises(JournalError, match=r"line 1: config: lane\.direction: must be 'import' or 'export'"):
        decode_header(json.dumps({**good, "config": {**good["config"], "direction": "up"}}))


def test_non_finite_times_cannot_be_journaled() -> None:
    with pytest.raises(JournalError, match="non-finite"):
        entry_line(1, Tick(float("nan")), ())
