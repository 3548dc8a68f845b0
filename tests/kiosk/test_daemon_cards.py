"""More driver cards than the standard set: a card directory (``python -m simulators.card
drivers DIR``) loaded by the lane simulator, trusted by the kiosk, with valid HKIDs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from central.services.validate import hkid_valid
from tests.kiosk.conftest import (
    KNOWN_EPC,
    KNOWN_PLATE,
    REPO,
    Kiosk,
    LaneRig,
    make_rig,
    prefill_cache,
    wait_for,
)

pytestmark = [pytest.mark.pcscd, pytest.mark.slow]


@pytest.fixture
def card_dir(short_dir: Path) -> Path:
    directory = short_dir / "more-cards"
    done = subprocess.run(
        [sys.executable, "-m", "simulators.card", "drivers", str(directory), "--count", "3"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return directory


@pytest.fixture
def rig_with_cards(short_dir: Path, card_dir: Path) -> Iterator[LaneRig]:
    rig = make_rig(short_dir, card_dir=card_dir)
    holder = rig.sim.card_holders()["driver-02"]
    prefill_cache(rig.cache_path, driver=(holder["document_number"], holder["card_number"], holder["name"]))
    yield rig
    rig.sim.close()


def test_every_simulated_card_holder_has_a_valid_hkid(rig_with_cards: LaneRig) -> None:
    holders = json.loads((rig_with_cards.sim.directory / "lanes.json").read_text())["holders"]
    assert {"good", "second", "driver-01", "driver-02", "driver-03"} <= set(holders)
    numbers = [h["card_number"] for h in holders.values()]
    assert len(set(numbers)) == len(numbers) - 1  # all distinct but "cloned", a copy of "good"
    for label, holder in holders.items():
        assert hkid_valid(holder["document_number"]), (label, holder)


def test_a_driver_from_the_card_directory_is_cleared(
    rig_with_cards: LaneRig, kiosk_factory: Callable[..., Kiosk]
) -> None:
    rig = rig_with_cards
    kiosk = kiosk_factory(rig)
    rig.cmd("arrive", plate=KNOWN_PLATE, tag=KNOWN_EPC, length=8, speed=10)
    time.sleep(0.3)
    rig.insert_card(kiosk, card="driver-02")
    wait_for(lambda: rig.crossings(), 15, "the decision", detail=kiosk.log)
    with sqlite3.connect(f"file:{rig.cache_path}?mode=ro", uri=True, timeout=5) as db:
        (record,) = [json.loads(r[0]) for r in db.execute("SELECT record FROM lane_crossing").fetchall()]
    holder = rig.sim.card_holders()["driver-02"]
    assert record["outcome"] == "released", record
    assert record["card_number"] == holder["card_number"]
