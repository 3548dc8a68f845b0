"""The officer at the kiosk: actions over the kiosk's officer socket, a referred truck
released by an officer or reversing out, and the lane taking the next truck."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kiosk.config import ConfigError, parse_config
from tests.kiosk.conftest import KNOWN_EPC, KNOWN_PLATE, REPO, UNKNOWN_EPC, Kiosk, LaneRig, wait_for

pytestmark = [pytest.mark.pcscd, pytest.mark.slow]


def officer(rig: LaneRig, *args: str) -> tuple[int, dict[str, object]]:
    """``rocars-kiosk officer`` as an officer runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "kiosk.cli", "officer", "--socket", str(rig.officer_socket), *args],
        cwd=REPO, capture_output=True, text=True, timeout=30,
    )
    lines = done.stdout.strip().splitlines()
    return done.returncode, (json.loads(lines[-1]) if lines else {"stderr": done.stderr})


def records(rig: LaneRig) -> list[dict[str, object]]:
    with sqlite3.connect(f"file:{rig.cache_path}?mode=ro", uri=True, timeout=5) as db:
        rows = db.execute("SELECT record FROM lane_crossing ORDER BY seq").fetchall()
    return [json.loads(row[0]) for row in rows]


def referred_unknown_truck(rig: LaneRig, kiosk: Kiosk) -> None:
    before = len(rig.crossings())
    rig.cmd("arrive", plate="ZZ9999", tag=UNKNOWN_EPC, length=8, speed=10)
    time.sleep(0.3)
    rig.insert_card(kiosk)
    wait_for(lambda: len(rig.crossings()) == before + 1, 15, "the referral", detail=kiosk.log)
    assert rig.crossings()[-1][1] == "referred"


def test_an_officer_releases_a_referred_truck_and_the_lane_goes_on(
    rig: LaneRig, kiosk_factory: Callable[..., Kiosk]
) -> None:
    kiosk = kiosk_factory(rig)
    code, reply = officer(rig, "release", "--badge", "B1234", "--reason", "nothing waiting")
    assert (code, reply["applied"]) == (3, False)  # no truck: nothing to override
    referred_unknown_truck(rig, kiosk)
    code, reply = officer(rig, "release", "--badge", "B1234", "--reason", " ")
    assert code == 2 and "reason: required" in str(reply["error"])
    code, reply = officer(rig, "release", "--badge", "no badge", "--reason", "x")
    assert code == 2 and str(reply["error"]).startswith("badge:")
    assert len(rig.crossings()) == 1  # refused requests change nothing

    code, reply = officer(rig, "release", "--badge", "B1234", "--reason", "papers checked at the booth")
    assert code == 0 and reply["outcome"] == "officer_override" and reply["phase"] == "released", reply
    assert [o for _, o in rig.crossings()] == ["referred", "officer_override"]
    override = records(rig)[-1]
    assert override["officer_id"] == "B1234" and override["note"] == "papers checked at the booth"
    reasons = override["reasons"]
    assert isinstance(reasons, list)
    assert [r["code"] for r in reasons] == ["OFFICER_RELEASE"]
    wait_for(lambda: rig.outputs()["barrier_raise"], 5, "the arm raised for the officer's release")
    journal = rig.journal_path.read_text()
    assert '"officer_id":"B1234"' in journal and '"type":"OfficerAction"' in journal

    rig.cmd("drive")
    wait_for(lambda: rig.state()["truck"] is None and rig.state()["barrier"] == 0.0, 15, "the truck through")
    rig.cmd("arrive", plate=KNOWN_PLATE, tag=KNOWN_EPC, length=8, speed=10)
    time.sleep(0.3)
    rig.insert_card(kiosk)
    wait_for(lambda: len(rig.crossings()) == 3, 15, "the next truck's decision", detail=kiosk.log)
    assert rig.crossings()[-1][1] == "released"


def test_a_referred_truck_reversing_out_frees_the_lane(
    rig: LaneRig, kiosk_factory: Callable[..., Kiosk]
) -> None:
    kiosk = kiosk_factory(rig)
    referred_unknown_truck(rig, kiosk)
    rig.cmd("leave")  # turned away: it backs off the loops, its card goes with the driver
    wait_for(lambda: "display: Welcome" in kiosk.log().rsplit("wait for an officer", 1)[-1], 10,
             "the lane empty again", detail=kiosk.log)
    assert not rig.outputs()["barrier_raise"]
    referred_unknown_truck(rig, kiosk)  # a second referral on the same lane in one run
    code, reply = officer(rig, "reset", "--badge", "B77", "--reason", "lane reset after a check")
    # forgotten, and the truck still on the loop is identified afresh (its card is needed again)
    assert code == 0 and reply["phase"] == "identifying", reply
    assert [o for _, o in rig.crossings()] == ["referred", "referred"]


def test_the_officer_socket_setting_is_checked(tmp_path: Path) -> None:
    base = {"lane": {"id": "LMC-I-01", "control_point": "LMC", "direction": "import"},
            "devices": {"io": {"url": "/dev/pts/8"}}}
    ok = parse_config({**base, "officer": {"socket": "officer.sock"}}, tmp_path)
    assert ok.officer is not None and ok.officer.socket == tmp_path / "officer.sock"
    for value, message in (
        ("nowhere/officer.sock", "officer.socket: directory not found"),
        ("x" * 120, "officer.socket: must be at most 107 bytes long"),
        (3, "officer.socket: must be a non-empty path of a Unix socket"),
    ):
        with pytest.raises(ConfigError) as info:
            parse_config({**base, "officer": {"socket": value}}, tmp_path)
        assert info.value.errors[0].startswith(message), info.value.errors
    with pytest.raises(ConfigError) as info:
        parse_config({**base, "officer": {"socket": "o.sock", "mode": "0777"}}, tmp_path)
    assert info.value.errors == ["officer.mode: unknown key"]
