"""The serial simulators' device thread and unplugging: a file descriptor closed by
``unplug()`` whose number the process gives to a new socket must never be read by the
device thread (it would steal the start of that socket's data: seen as a metrics scrape
reply beginning mid-body while the I/O module was unplugged and replugged)."""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

import pytest

from simulators import serial_pty
from simulators.serial_pty import PtyDevice


class Recorder(PtyDevice):
    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[bytes] = []

    def on_bytes(self, data: bytes, now: float) -> None:
        self.received.append(data)


def test_an_unplugged_port_s_number_reused_by_a_socket_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    device = Recorder()
    master = device._master
    assert master is not None
    pair: list[socket.socket] = []
    raced = threading.Event()
    real_select = select.select

    def racing_select(r: list[Any], w: list[Any], x: list[Any], timeout: float) -> Any:
        # The race made certain, which no real part can do on demand: between the device
        # thread taking the fd and reading it, the port is unplugged and a new socket gets
        # the same number with data waiting.
        if not raced.is_set() and r == [master]:
            device.unplug()
            a, b = socket.socketpair()
            for _ in range(8):  # get the freed number back for one end
                if master in (a.fileno(), b.fileno()):
                    break
                a, b = socket.socketpair()
            pair[:] = [a, b] if a.fileno() == master else [b, a]
            pair[1].sendall(b"HTTP/1.0 200 OK\r\n")
            raced.set()
            return [master], [], []
        return real_select(r, w, x, timeout)

    monkeypatch.setattr(serial_pty.select, "select", racing_select)
    with device:
        assert raced.wait(2.0)
        time.sleep(0.1)
    if not pair or pair[0].fileno() != master:
        pytest.fail("the freed descriptor number was not reused; the race could not be set up")
    pair[0].settimeout(1.0)
    assert pair[0].recv(100) == b"HTTP/1.0 200 OK\r\n"  # nothing stolen by the device thread
    assert device.received == []
    for s in pair:
        s.close()
