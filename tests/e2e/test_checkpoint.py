"""End to end over separate processes: central (gRPC, mutual TLS for lanes), the lane
simulators (pseudo-terminals, pcscd + vpcd, MJPEG camera) and the kiosks. Each case checks
the kiosk's decision and its reasons (the kiosk journal) and, where the case is about
delivery, what central holds afterwards.

The tests share one checkpoint and run in file order: a referred truck waits at the arm
for an officer, so the four referral cases come last, one per lane, and the last test
clears them (officer override or reversing out).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest

from simulators.checkpoint import central_event_count, outbox_depths, wait_outboxes_empty
from simulators.scenario import decisions, reason_codes
from simulators.seed import trip_statuses, trip_verdict
from simulators.stack import wait_until
from tests.e2e.conftest import Checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.pcscd, pytest.mark.timeout(240)]

TRIP_RELEASED, TRIP_SENT_TO_INSPECTION, TRIP_REFERRED = 4, 5, 7
INSPECT = 2


def _assert_clear(record: dict[str, Any]) -> None:
    """Released on a clear verdict with nothing that refers; a plate the camera could not
    read is allowed (the tag identified the truck: TAG_USED_NO_PLATE, for information)."""
    codes = reason_codes(record)
    assert "VERDICT_CLEAR" in codes, codes
    assert set(codes) <= {"VERDICT_CLEAR", "TAG_USED_NO_PLATE"}, codes
    assert all(r.get("severity") == "info" for r in record.get("reasons", ())), record["reasons"]


def _sent(cp: Checkpoint) -> int:
    return sum(len(decisions(lp.journal)) for lp in cp.stack.lane_procs.values())


def _delivered(cp: Checkpoint) -> int:
    wait_outboxes_empty(cp.stack, timeout=30.0)
    return (
        wait_until(
            "central's event count",
            lambda: (
                central_event_count(cp.seeded.officer) is not None and central_event_count(cp.seeded.officer)
            ),
            10.0,
        )
        or 0
    )


def test_clear_truck_is_released(checkpoint: Checkpoint) -> None:
    truck = checkpoint.truck("clear")
    checkpoint.driver(checkpoint.lanes[0]).run(truck)
    assert truck.record is not None, truck.problems
    assert truck.outcome == "released"
    _assert_clear(truck.record)
    assert truck.record["trip_id"] == truck.trip and truck.record["registration_mark"] == truck.plate
    assert truck.record["driver_id"] == "K1234560"
    _delivered(checkpoint)
    assert trip_statuses(checkpoint.seeded.officer, "LMC")[truck.trip] == TRIP_RELEASED


def test_selected_truck_goes_to_inspection(checkpoint: Checkpoint) -> None:
    truck = checkpoint.truck("inspect")
    assert trip_verdict(checkpoint.seeded.officer, truck.trip) == INSPECT  # the lithium rule
    checkpoint.driver(checkpoint.lanes[1]).run(truck)
    assert truck.record is not None, truck.problems
    assert truck.outcome == "inspection"
    assert "VERDICT_INSPECT" in reason_codes(truck.record)
    assert truck.record["verdict"] == "inspect"
    _delivered(checkpoint)
    assert trip_statuses(checkpoint.seeded.officer, "LMC")[truck.trip] == TRIP_SENT_TO_INSPECTION


def test_central_down_then_up_delivers_every_event_exactly_once(checkpoint: Checkpoint) -> None:
    before = _delivered(checkpoint)
    assert before == _sent(checkpoint)
    trucks = [checkpoint.truck("outage1"), checkpoint.truck("outage2")]
    time.sleep(0.5)  # both trips reach the kiosks' caches before central goes
    checkpoint.stack.stop_central()
    for lane, truck in zip(checkpoint.lanes[:2], trucks, strict=True):
        checkpoint.driver(lane).run(truck)
        assert truck.outcome == "released", truck.problems  # decided on the local cache
        _assert_clear(truck.record or {})
    depths = outbox_depths(checkpoint.stack)
    assert depths[checkpoint.lanes[0]] == 1 and depths[checkpoint.lanes[1]] == 1
    # Nothing reached central: it cannot answer, and both events wait in the outboxes.
    assert central_event_count(checkpoint.seeded.officer) is None
    checkpoint.stack.start_central()
    assert _delivered(checkpoint) == before + 2 == _sent(checkpoint)
    statuses = trip_statuses(checkpoint.seeded.officer, "LMC")
    assert [statuses[t.trip] for t in trucks] == [TRIP_RELEASED, TRIP_RELEASED]


def test_kiosk_killed_mid_crossing_and_restarted(checkpoint: Checkpoint) -> None:
    lane = checkpoint.lanes[2]
    truck = checkpoint.truck("killed")
    driver = checkpoint.driver(lane)
    before = driver.arrive(truck)
    assert driver.await_decision(truck, before) is not None, truck.problems
    assert truck.outcome == "released"
    lp = checkpoint.stack.lane_procs[lane]
    lp.kiosk.kill()  # SIGKILL after the decision, before the truck has moved: no shutdown path
    checkpoint.stack.start_kiosk(lane)
    # The restarted kiosk rebuilt its state from the journal: the truck may go on, and
    # the decision was neither taken again nor sent twice.
    driver.control.send("drive", lane=lane)
    assert driver.wait_empty(30.0), "the truck could not leave after the kiosk restarted"
    mine = [r for r in decisions(lp.journal) if r.get("registration_mark") == truck.plate]
    assert len(mine) == 1 and mine[0]["outcome"] == "released"
    assert _delivered(checkpoint) == _sent(checkpoint)
    assert trip_statuses(checkpoint.seeded.officer, "LMC")[truck.trip] == TRIP_RELEASED


@pytest.mark.parametrize(
    ("name", "lane", "reason"),
    [
        ("unknown", 0, "TAG_UNKNOWN"),
        ("unbundled", 1, "NO_TRIP"),
        ("mismatch", 2, "TAG_PLATE_MISMATCH"),
        ("cloned", 3, "CARD_REJECTED"),
    ],
)
def test_referred_cases(checkpoint: Checkpoint, name: str, lane: int, reason: str) -> None:
    truck = checkpoint.truck(name)
    driver = checkpoint.driver(checkpoint.lanes[lane])
    before = driver.arrive(truck)
    assert driver.await_decision(truck, before) is not None, truck.problems
    assert truck.outcome == "referred"
    record = truck.record or {}
    if name == "mismatch" and not record.get("plate"):
        # Only a plate the camera read can disagree with the tag. The simulated camera's
        # frames are not all readable (as on a real lane); the truck must then still be
        # referred, identified by the tag of a truck whose trip was already used.
        warnings.warn(f"plate {truck.plate} not read; tag-plate mismatch not exercised", stacklevel=1)
        assert "TAG_USED_NO_PLATE" in reason_codes(record), reason_codes(record)
        assert record["registration_mark"] == checkpoint.seeded.vehicles[0].plate
    else:
        assert reason in reason_codes(record), reason_codes(record)
    state = driver.control.send("state", lane=driver.lane_id)["state"]
    assert state["barrier"] == 0.0 and state["outputs"]["light_red"]  # the arm stays down, red
    assert _delivered(checkpoint) == _sent(checkpoint)
    if truck.trip and name != "unbundled":
        assert trip_statuses(checkpoint.seeded.officer, "LMC")[truck.trip] == TRIP_REFERRED


def test_referrals_are_cleared_by_an_officer_or_by_turning_away(checkpoint: Checkpoint) -> None:
    """After test_referred_cases: the officer at the kiosk releases the wrong-tag truck and
    sends the unbundled one to inspection (officer_override decisions, delivered to
    central); the unknown and cloned-card trucks reverse out; the lane takes the next truck."""
    for name, lane, action, code in (
        ("mismatch", 2, "release", "OFFICER_RELEASE"),
        ("unbundled", 1, "inspect", "OFFICER_INSPECT"),
    ):
        truck = checkpoint.trucks[name]
        assert truck.outcome == "referred", truck.problems
        truck.officer = action
        driver = checkpoint.driver(checkpoint.lanes[lane])
        assert driver.finish(truck), truck.problems
        override = truck.override or {}
        assert override.get("outcome") == "officer_override" and reason_codes(override) == [code], override
        assert override.get("officer_id") == "CP0001" and override.get("note")
        assert override.get("registration_mark") == (truck.record or {}).get("registration_mark")
    for name, lane in (("unknown", 0), ("cloned", 3)):
        truck = checkpoint.trucks[name]
        driver = checkpoint.driver(checkpoint.lanes[lane])
        assert driver.finish(truck) and truck.turned_away, truck.problems
    assert _delivered(checkpoint) == _sent(checkpoint)
    after = checkpoint.truck("after")
    driver = checkpoint.driver(checkpoint.lanes[0])
    driver.run(after)
    assert after.outcome == "released" and after.problems == [], after.problems
