"""``rocars-sim rfid`` and ``rocars-sim io``: one device on a pty behind a link, as a process."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drivers.io import LaneIO
from drivers.rfid import RfidReader

VENV_BIN = Path(sys.executable).parent


@pytest.mark.parametrize("device", ["rfid", "io"])
def test_single_device_process(device: str, tmp_path: Path) -> None:
    link = tmp_path / f"{device}0"
    proc = subprocess.Popen(
        [str(VENV_BIN / "rocars-sim"), device, "--link", str(link)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not link.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"rocars-sim {device} did not create {link}")
            time.sleep(0.02)
        if device == "rfid":
            with RfidReader(str(link), command_timeout=0.5) as reader:
                assert reader.open() == "3.07"
        else:
            with LaneIO(str(link), timeout=0.5) as io:
                assert io.open() == "2.04"
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not link.exists()  # the device is gone with the process: "unplugged"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_interactive_prompt_on_a_terminal(tmp_path: Path) -> None:
    master, slave = os.openpty()  # the technician's terminal
    proc = subprocess.Popen(
        [str(VENV_BIN / "rocars-sim"), "lane", "--dir", str(tmp_path), "--no-card", "--no-camera"],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    os.close(slave)
    try:
        out = b""

        def read_until(marker: bytes, timeout: float) -> None:
            nonlocal out
            deadline = time.monotonic() + timeout
            while marker not in out:
                if time.monotonic() > deadline:
                    pytest.fail(f"no {marker!r} from the prompt; got {out[-500:]!r}")
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    out += os.read(master, 4096)

        read_until(b"lane> ", 20)
        os.write(master, b"arrive plate=AB123 tag=E2801170000002AA00005555\n")
        read_until(b'"plate": "AB123"', 5)
        os.write(master, b"fly\n")
        read_until(b"cmd: unknown command 'fly'", 5)
        os.write(master, b"quit\n")
        assert proc.wait(15) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
