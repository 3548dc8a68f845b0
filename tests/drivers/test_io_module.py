"""Contract tests of the lane I/O module driver against the simulator, through a real pty.

Modbus RTU end to end: pymodbus in the driver, the simulator's own slave, ``mbpoll`` as a
third, independent master. Writes, reads, events, the barrier interlock, the module's
watchdog fall-back, every line fault, and recovery after each.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Callable

import pytest

from drivers.base import DeviceTimeout, DeviceUnavailable
from drivers.io import InputChanged, IoEvent, LaneIO, SafetyLoopOccupied, WatchdogFellBack
from drivers.io import registers as reg
from simulators.io_module import IoModuleSim
from tests.drivers.conftest import wait_until


def events_until(io: LaneIO, predicate: Callable[[IoEvent], bool], timeout: float = 3.0) -> list[IoEvent]:
    got: list[IoEvent] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = io.get_event(0.05)
        if event is not None:
            got.append(event)
            if callable(predicate) and predicate(event):
                return got
    pytest.fail(f"condition not met within {timeout} s; events: {got}")


def test_connect_sets_watchdog_and_safe_outputs(io_sim: IoModuleSim, lane_io: LaneIO) -> None:
    io_sim.coils.update(light_red=False, light_green=True, inspection_sign=True)
    assert lane_io.open() == "2.04"
    assert io_sim.watchdog_ms == 400
    assert lane_io.read_watchdog_ms() == 400
    assert lane_io.read_outputs() == reg.SAFE_OUTPUTS


def test_barrier_moves_and_limit_switches_follow(io_sim: IoModuleSim, lane_io: LaneIO) -> None:
    lane_io.open()
    assert lane_io.read_inputs()["barrier_down_limit"]
    lane_io.raise_barrier()
    assert lane_io.read_outputs()["barrier_raise"]
    assert not lane_io.read_inputs()["barrier_up_limit"]  # it takes motion_time to get there
    wait_until(lambda: lane_io.read_inputs()["barrier_up_limit"], 2, "arm up")
    lane_io.lower_barrier()
    wait_until(lambda: lane_io.read_inputs()["barrier_down_limit"], 2, "arm down")


def test_lights_and_sign(io_sim: IoModuleSim, lane_io: LaneIO) -> None:
    lane_io.open()
    lane_io.set_light(red=False, green=True)
    lane_io.set_inspection_sign(True)
    assert io_sim.coils == {
        "barrier_raise": False,
        "light_red": False,
        "light_green": True,
        "inspection_sign": True,
    }
    lane_io.fail_safe()
    assert io_sim.coils == reg.SAFE_OUTPUTS


def test_barrier_down_refused_while_safety_loop_occupied(io_sim: IoModuleSim, lane_io: LaneIO) -> None:
    lane_io.open()
    lane_io.raise_barrier()
    io_sim.set_loop("safety_loop", True)
    with pytest.raises(SafetyLoopOccupied, match="safety loop is occupied"):
        lane_io.lower_barrier()
    assert io_sim.coils["barrier_raise"] is True  # never commanded down
    lane_io.fail_safe()  # the fail-safe path keeps the same rule
    assert io_sim.coils["barrier_raise"] is True and io_sim.coils["light_red"] is True
    io_sim.set_loop("safety_loop", None)
    lane_io.lower_barrier()
    assert io_sim.coils["barrier_raise"] is False


def test_drive_through_events(io_sim: IoModuleSim, lane_io: LaneIO) -> None:
    lane_io.start()
    wait_until(lambda: lane_io.availability.available, 2, "io available")
    io_sim.arrive("AB1234", length=6.0, speed=12.0)
    events_until(lane_io, lambda e: isinstance(e, InputChanged) and e.name == "arming_loop" and e.value)
    io_sim.drive_through()
    wait_until(lambda: io_sim.truck is not None and io_sim.truck.front >= 3.8, 2, "truck at the arm")
    assert io_sim.truck is not None and io_sim.truck.front == pytest.approx(3.8)  # the arm holds it
    lane_io.raise_barrier()
    seen = events_until(
        lane_io, lambda e: isinstance(e, InputChanged) and e.name == "closing_loop" and not e.value
    )
    order = [(e.name, e.value) for e in seen if isinstance(e, InputChanged) and e.name.endswith("loop")]
    assert order.index(("safety_loop", True)) < order.index(("closing_loop", True))
    assert ("safety_loop", False) in order
    wait_until(lambda: io_sim.trucks_passed == 1, 2, "truck gone from the lane")
    lane_io.lower_barrier()


def test_controller_reopens_when_a_vehicle_enters_under_a_closing_arm(
    io_sim: IoModuleSim, lane_io: LaneIO
) -> None:
    lane_io.open()
    lane_io.raise_barrier()
    wait_until(lambda: io_sim.barrier >= 1.0, 2, "arm up")
    lane_io.lower_barrier()
    wait_until(lambda: io_sim.barrier < 0.7, 2, "arm closing")
    io_sim.set_loop("safety_loop", True)
    wait_until(lambda: io_sim.barrier >= 1.0, 2, "arm back up")


def test_watchdog_falls_back_when_the_host_goes_quiet(io_sim: IoModuleSim, lane_io: LaneIO) -> None:
    lane_io.open()  # no poll loop: after these writes the host says nothing more
    lane_io.raise_barrier()
    lane_io.set_light(red=False, green=True)
    wait_until(lambda: io_sim.fallback, 2, "module watchdog fall-back")
    assert io_sim.coils == reg.SAFE_OUTPUTS
    assert lane_io.read_inputs()["watchdog_fallback"]
    assert lane_io.read_watchdog_trips() == 1
    lane_io.set_light(red=True, green=False)  # the host's next coil write clears the flag
    assert not lane_io.read_inputs()["watchdog_fallback"]


def test_poll_loop_keeps_the_watchdog_fed_and_reports_a_fall_back(
    io_sim: IoModuleSim, lane_io: LaneIO
) -> None:
    lane_io.start()
    wait_until(lambda: lane_io.availability.available, 2, "io available")
    lane_io.raise_barrier()
    time.sleep(0.6)  # longer than the 400 ms watchdog
    assert not io_sim.fallback and io_sim.coils["barrier_raise"]
    io_sim.silence(0.7)  # requests no longer reach the module: as if the host stopped
    events_until(lane_io, lambda e: isinstance(e, WatchdogFellBack), timeout=4)
    assert io_sim.coils["barrier_raise"] is False


def test_wrong_unit_id_is_silence(io_sim: IoModuleSim) -> None:
    io = LaneIO(io_sim.path, unit=9, timeout=0.1)
    with pytest.raises(DeviceTimeout, match="io unit 9: no answer"):
        io.open()
    assert io_sim.requests == 0
    io.close()
    io.close()


def test_missing_port_is_unavailable() -> None:
    io = LaneIO("/nonexistent/ttyIO", timeout=0.1)
    with pytest.raises(DeviceUnavailable, match="cannot open io port"):
        io.open()
    with pytest.raises(DeviceUnavailable, match="not connected"):
        io.raise_barrier()


@pytest.mark.parametrize("fault", ["garbage", "bad_crc", "silence", "unplug"])
def test_faults_make_it_unavailable_once_then_it_recovers(
    fault: str, io_sim: IoModuleSim, lane_io: LaneIO, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[bool] = []
    lane_io.availability.set_listener(lambda available, reason: heard.append(available))
    lane_io.start()
    wait_until(lambda: lane_io.availability.available, 2, "io available")
    with caplog.at_level(logging.INFO, logger="drivers.io.module"):
        if fault == "garbage":
            for _ in range(3):
                io_sim.inject_garbage(40)
            io_sim.corrupt_crcs(1)
            io_sim.silence(0.3)
        elif fault == "bad_crc":
            io_sim.corrupt_crcs(6)
        elif fault == "silence":
            io_sim.silence(0.5)
        else:
            io_sim.unplug()
        wait_until(lambda: not lane_io.availability.available, 3, f"{fault} detected")
        if fault == "unplug":
            io_sim.replug()
        wait_until(lambda: lane_io.availability.available, 4, f"recovery after {fault}")
    assert heard == [True, False, True]
    assert io_sim.watchdog_ms == 400  # re-set at reconnect
    assert lane_io.read_inputs()["barrier_down_limit"]
    lines = [r.getMessage() for r in caplog.records if r.name == "drivers.io.module"]
    assert sum("unavailable" in m for m in lines) == 1, lines


def test_simulator_answers_an_independent_master(io_sim: IoModuleSim) -> None:
    mbpoll = shutil.which("mbpoll")
    assert mbpoll, "Debian package mbpoll is required for this test (apt-get install mbpoll)"
    io_sim.coils["inspection_sign"] = True
    out = subprocess.run(
        [
            mbpoll,
            "-m",
            "rtu",
            "-b",
            "19200",
            "-P",
            "none",
            "-a",
            "1",
            "-t",
            "0",
            "-r",
            "1",
            "-c",
            "4",
            "-o",
            "0.5",
            "-1",
            io_sim.tty_name,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "[1]: \t0" in out.stdout and "[2]: \t1" in out.stdout and "[4]: \t1" in out.stdout, out.stdout
    silent = subprocess.run(
        [
            mbpoll,
            "-m",
            "rtu",
            "-b",
            "19200",
            "-P",
            "none",
            "-a",
            "5",
            "-t",
            "0",
            "-r",
            "1",
            "-c",
            "4",
            "-o",
            "0.2",
            "-1",
            io_sim.tty_name,
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert silent.returncode != 0 and "timed out" in (silent.stdout + silent.stderr).lower()


def test_watchdog_fall_back_never_closes_the_arm_on_a_vehicle(io_sim: IoModuleSim, lane_io: LaneIO) -> None:
    lane_io.open()
    lane_io.raise_barrier()
    wait_until(lambda: io_sim.barrier >= 1.0, 2, "arm up")
    io_sim.set_loop("safety_loop", True)  # a truck under the arm when the host dies
    wait_until(lambda: io_sim.fallback, 2, "module watchdog fall-back")
    assert io_sim.coils["barrier_raise"] is False and io_sim.coils["light_red"] is True
    time.sleep(0.4)  # twice the arm's travel time
    assert io_sim.barrier == 1.0  # the controller holds the arm up over the vehicle
    io_sim.set_loop("safety_loop", False)
    wait_until(lambda: io_sim.barrier <= 0.0, 2, "arm down once the loop is clear")


def test_a_frame_lost_to_noise_is_asked_again_once(io_sim: IoModuleSim) -> None:
    with LaneIO(io_sim.path, timeout=0.1, retries=1) as io:
        io.open()
        io_sim.corrupt_crcs(1)
        io.raise_barrier()  # first answer lost, the retry gets through
        assert io_sim.coils["barrier_raise"] is True
        io_sim.corrupt_crcs(2)
        with pytest.raises(DeviceTimeout, match=r"\(2 attempt\(s\)\)"):
            io.set_inspection_sign(True)
    with LaneIO(io_sim.path, timeout=0.1, retries=0) as strict:
        strict.open()
        io_sim.corrupt_crcs(1)
        with pytest.raises(DeviceTimeout, match="no answer to 'write inspection_sign'"):
            strict.set_inspection_sign(True)


def test_simulator_models_the_wire_time_at_its_baud_rate(tmp_path: object) -> None:
    # an 8-byte request and a 6-byte answer (FC 02 for 6 inputs: unit, fc, count, data, CRC) at
    # 19200 baud 8N1 is at least 14 bytes * 10 bits / 19200 = 7.3 ms; a bare pty takes ~0.
    with IoModuleSim(None, baudrate=19200) as sim, LaneIO(sim.tty_name, timeout=0.5) as io:
        io.open()
        durations = []
        for _ in range(5):
            start = time.perf_counter()
            io.read_inputs()
            durations.append(time.perf_counter() - start)
    assert min(durations) >= 14 * 10 / 19200
