"""The checkpoint's own pieces that need no processes: kiosk file rendering, metrics
parsing, seeding data, traffic planning and journal reading."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from central.services.validate import hkid_valid
from simulators.checkpoint import plan_traffic
from simulators.scenario import EXPECTED, TruckCase, decisions, reason_codes
from simulators.seed import DRIVER_DOCS, Vehicle, epc_for, hkid
from simulators.stack import metric, render_toml, samples


def test_kiosk_file_round_trips_through_toml() -> None:
    tables = {
        "lane": {"id": "LMC-I-01", "control_point": "LMC", "vacate_s": 4.5, "flag": True},
        "devices": {
            "rfid": {"url": "/dev/pts/7", "baudrate": 115200},
            "card": {"issuer_public_keys": ["a b.pem"]},
        },
        "central": {"address": "127.0.0.1:1", "server_name": 'odd "name"'},
    }
    assert tomllib.loads(render_toml(tables)) == tables


def test_metrics_text_is_parsed_by_name_and_labels() -> None:
    text = (
        "# HELP rocars_kiosk_device_available x\n"
        'rocars_kiosk_device_available{device="rfid",lane="L1"} 0.0\n'
        'rocars_kiosk_device_available{device="io",lane="L1"} 1.0\n'
        'rocars_kiosk_cache_staleness_seconds{lane="L1"} +Inf\n'
    )
    assert metric(text, "rocars_kiosk_device_available", lane="L1", device="rfid") == 0.0
    assert metric(text, "rocars_kiosk_device_available", lane="L1", device="io") == 1.0
    assert metric(text, "rocars_kiosk_device_available", lane="L2") is None
    assert samples(text, "rocars_kiosk_cache_staleness_seconds")[0][1] == float("inf")


@pytest.mark.parametrize(
    ("letter", "digits"), [("A", "123456"), ("K", "123456"), ("R", "765432"), ("Z", "000001")]
)
def test_driver_documents_pass_centrals_check_digit(letter: str, digits: str) -> None:
    doc = hkid(letter, digits)
    assert hkid_valid(doc)
    check = doc[-2]
    other = "0" if check == "A" else ("A" if check == "9" else str(int(check) + 1))
    assert not hkid_valid(doc[:-2] + other + ")")


def test_seeded_drivers_and_tags_are_well_formed() -> None:
    assert all(hkid_valid(doc) for doc in DRIVER_DOCS.values())
    assert len({epc_for(n) for n in range(1, 500)}) == 499
    assert all(len(epc_for(n)) == 24 and int(epc_for(n), 16) for n in (1, 255, 10**6))


def test_every_lane_takes_its_referral_cases_then_a_clear_truck() -> None:
    fleet = [Vehicle(f"AB{n + 1}", epc_for(n + 1)) for n in range(20)]
    lanes = ["L1", "L2", "L3", "L4"]
    plan = plan_traffic(lanes, fleet, trucks=6, cards=("good", "second", "driver-01"))
    kinds = [t.kind for t in plan.all()]
    assert kinds.count("inspect") == 1 and kinds.count("clear") == 5 + len(lanes)
    assert [plan.last[lane][0].kind for lane in lanes] == ["unknown", "unbundled", "mismatch", "cloned"]
    assert all(plan.last[lane][-1].kind == "clear" for lane in lanes)  # the lane goes on
    assert sum(len(t) for t in plan.outage.values()) == 2
    plates = [t.plate for t in plan.all()]
    assert len(set(plates)) == len(plates)  # no truck comes twice
    mismatch = plan.last["L3"][0]
    assert mismatch.tag == fleet[0].tag and mismatch.plate != fleet[0].plate
    referrals = ("unknown", "unbundled", "mismatch", "cloned")
    officers = {t.kind: t.officer for t in plan.all() if t.kind in referrals}
    assert officers == {"unknown": None, "unbundled": "inspect", "mismatch": "release", "cloned": None}
    assert {t.card for t in plan.all() if t.kind == "clear"} == {"good", "second", "driver-01"}


def test_with_two_lanes_each_takes_two_referrals() -> None:
    fleet = [Vehicle(f"AB{n + 1}", epc_for(n + 1)) for n in range(20)]
    plan = plan_traffic(["L1", "L2"], fleet, trucks=4)
    assert [t.kind for t in plan.last["L1"]] == ["unknown", "mismatch", "clear"]
    assert [t.kind for t in plan.last["L2"]] == ["unbundled", "cloned", "clear"]


def test_decisions_are_read_from_the_journal_with_a_torn_last_line(tmp_path: Path) -> None:
    record = {"outcome": "referred", "reasons": [{"code": "NO_TRIP"}], "registration_mark": "AB1"}
    lines = [
        json.dumps({"journal": "rocars-lane", "version": 1, "config": {}}),
        json.dumps({"n": 1, "event": {"type": "Tick"}, "commands": [{"type": "SetLights", "colour": "red"}]}),
        json.dumps(
            {"n": 2, "event": {"type": "Tick"}, "commands": [{"type": "RecordCrossing", "record": record}]}
        ),
        '{"n": 3, "event": {"ty',
    ]
    journal = tmp_path / "L1.jsonl"
    journal.write_text("\n".join(lines))
    found = decisions(journal)
    assert [reason_codes(r) for r in found] == [["NO_TRIP"]] and found[0]["n"] == 2
    truck = TruckCase("unbundled", "AB1", None, record=found[0])
    assert truck.as_expected and truck.check() == []
    wrong = TruckCase("unknown", "AB1", None, record=found[0])
    assert not wrong.as_expected and EXPECTED["unknown"][1] in wrong.check()[0]
    assert decisions(tmp_path / "missing.jsonl") == []
