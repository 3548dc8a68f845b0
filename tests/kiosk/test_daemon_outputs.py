"""The kiosk's output writer against the I/O module simulator on a pseudo-terminal: wanted
state written off the control loop, a refused arm-down retried until the safety loop is
clear, everything written again after the module reset itself, nothing let go while a
decision is not durable."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.base import Backoff
from drivers.io import LaneIO
from kiosk.lane_commands import apply_output
from kiosk.outputs import Outputs
from lanes.commands import Light
from simulators.io_module import IoModuleSim
from tests.kiosk.conftest import wait_for


@pytest.fixture
def io_sim(tmp_path: Path) -> Iterator[IoModuleSim]:
    sim = IoModuleSim(str(tmp_path / "io0"), unit=1, motion_time=0.2, seed=3).start()
    yield sim
    sim.close()


@pytest.fixture
def outputs(io_sim: IoModuleSim) -> Iterator[Outputs]:
    io = LaneIO(
        io_sim.path, unit=1, watchdog_ms=1000, timeout=0.1, poll_interval=0.02, backoff=Backoff(0.02, 0.2)
    )
    io.open()
    io.start()

    out = Outputs("T-1", functools.partial(apply_output, io))  # the runner's own writer
    out.start()
    yield out
    out.stop()
    out.stop()  # safe twice
    io.close()


def test_wanted_outputs_are_written_in_the_background(io_sim: IoModuleSim, outputs: Outputs) -> None:
    started = time.perf_counter()
    outputs.set("lights", Light.GREEN)
    outputs.set("barrier", True)
    assert time.perf_counter() - started < 0.005, "the control loop must not wait on the bus"
    assert outputs.wait_applied(3.0)
    assert io_sim.coils["light_green"] and not io_sim.coils["light_red"] and io_sim.coils["barrier_raise"]


def test_a_refused_arm_down_is_retried_until_the_safety_loop_is_clear(
    io_sim: IoModuleSim, outputs: Outputs
) -> None:
    outputs.set("barrier", True)
    assert outputs.wait_applied(3.0)
    io_sim.set_loop("safety_loop", True)
    outputs.set("barrier", False)
    time.sleep(0.4)
    assert outputs.pending() and io_sim.coils["barrier_raise"], "never lowered onto the vehicle"
    io_sim.set_loop("safety_loop", None)
    assert outputs.wait_applied(3.0)
    assert not io_sim.coils["barrier_raise"]


def test_outputs_are_written_again_after_the_module_reset_itself(
    io_sim: IoModuleSim, outputs: Outputs
) -> None:
    outputs.set("lights", Light.GREEN)
    assert outputs.wait_applied(3.0)
    io_sim.coils.update(light_green=False, light_red=True)  # as the module's watchdog fallback does
    outputs.invalidate()
    wait_for(lambda: io_sim.coils["light_green"], 3.0, "green written again")


def test_nothing_is_let_go_while_a_decision_is_not_durable(io_sim: IoModuleSim, outputs: Outputs) -> None:
    outputs.blocked = True
    outputs.set("lights", Light.GREEN)
    outputs.set("barrier", True)
    assert outputs.wait_applied(3.0)
    assert io_sim.coils["light_red"] and not io_sim.coils["light_green"] and not io_sim.coils["barrier_raise"]
    outputs.blocked = False
    assert outputs.wait_applied(3.0)
    assert io_sim.coils["light_green"] and io_sim.coils["barrier_raise"]
