"""One simulated checkpoint for the end-to-end tests: central, four lanes of simulated
devices and one kiosk per lane, each its own process, started by the same orchestration
code as ``python -m simulators.checkpoint``, seeded over gRPC."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulators import seed as seeding
from simulators.checkpoint import TripSupply
from simulators.scenario import LaneControl, LaneDriver, TruckCase
from simulators.stack import Stack

LANES = 4


@dataclass
class Checkpoint:
    stack: Stack
    seeded: seeding.Seeded
    supply: TripSupply
    trucks: dict[str, TruckCase]  # name -> the truck a test drives
    lanes: list[str]

    def driver(self, lane: str) -> LaneDriver:
        lp = self.stack.lane_procs[lane]
        return LaneDriver(LaneControl(self.stack.control_socket), lane, lp.journal, lp.officer_socket)

    def truck(self, name: str) -> TruckCase:
        truck = self.trucks[name]
        self.supply.wait(truck, timeout=120.0)
        return truck


def _missing_system_parts() -> list[str]:
    needed = {"pcscd": "pcscd", "tesseract": "tesseract-ocr"}
    return [
        pkg
        for exe, pkg in needed.items()
        if shutil.which(exe) is None and not Path(f"/usr/sbin/{exe}").exists()
    ]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkpoint]:
    missing = _missing_system_parts()
    if missing:  # fail, not skip: a skipped end-to-end run must never count as passing
        pytest.fail(f"end-to-end tests need the Debian packages {', '.join(missing)} (scripts/setup.sh)")
    stack = Stack(tmp_path_factory.mktemp("checkpoint"), lanes=LANES)
    try:
        stack.start()
        lanes = list(stack.lane_procs)
        seeded = seeding.seed(stack.channel(), stack.officer_token, lanes, vehicles=16)
        v = iter(seeded.vehicles)
        trucks = {
            "clear": TruckCase("clear", *_pt(next(v)), "good"),
            "inspect": TruckCase("inspect", *_pt(next(v)), "second"),
            "outage1": TruckCase("clear", *_pt(next(v)), "good"),
            "outage2": TruckCase("clear", *_pt(next(v)), "second"),
            "killed": TruckCase("clear", *_pt(next(v)), "good"),
            "cloned": TruckCase("cloned", *_pt(next(v)), "cloned"),
            "unbundled": TruckCase("unbundled", *_pt(next(v)), "second"),
        }
        mismatch_plate = next(v).plate
        trucks["mismatch"] = TruckCase("mismatch", mismatch_plate, seeded.vehicles[0].tag, "good")
        trucks["unknown"] = TruckCase("unknown", "ZZ9001", "E2801160FFFF000000000001", "good")
        trucks["after"] = TruckCase("clear", *_pt(next(v)), "second")  # behind a turned-away truck
        # Kiosks first, as the checkpoint does: a lane learns a vehicle only with a trip,
        # so the unbundled truck's trip must exist once while they sync.
        stack.start_kiosks()
        supply = TripSupply(seeded, list(trucks.values())).start()
        yield Checkpoint(stack, seeded, supply, trucks, lanes)
    finally:
        stack.close()


def _pt(vehicle: seeding.Vehicle) -> tuple[str, str]:
    return vehicle.plate, vehicle.tag
