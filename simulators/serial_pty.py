"""A serial device emulated on a pseudo-terminal, with the faults a real cable has.

The driver opens the pty's slave side (through a stable symlink, as udev's
``/dev/serial/by-id`` links: when the device is "unplugged" the link disappears and the
pty is closed; when it is "replugged" a new pty appears behind the same link). The
simulator owns the master side and runs one thread that reads what the host sends and
lets the device subclass answer.

``baudrate`` (optional) adds each frame's wire time at that rate, both ways.

Faults common to every serial device: ``inject_garbage`` (random bytes on the line),
``silence`` (the device stops answering), ``unplug``/``replug``. Protocol-specific faults
(bad checksums) live in the subclasses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import threading
import time
import tty
from typing import Self

log = logging.getLogger(__name__)

TICK = 0.005  # seconds between device ticks when the line is idle


class PtyDevice:
    """Base of the serial simulators: subclasses implement ``on_bytes`` and may use ``on_tick``."""

    name = "serial device"

    def __init__(
        self, link: str | None = None, *, seed: int | None = None, baudrate: int | None = None
    ) -> None:
        self.link = link
        # A pty moves bytes at once; with a baud rate each frame also takes its wire time
        # (10 bit times a byte, 8N1) each way, so latency figures match a real line.
        self.char_time = 10.0 / baudrate if baudrate else 0.0
        self.rng = random.Random(seed)
        self._master: int | None = None
        self._slave: int | None = None
        self._tty_name = ""
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.silent_until = 0.0
        self.plugged = False
        self.bytes_in = 0
        self.bytes_out = 0
        self._plug()

    # --- the port ---------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """What a driver opens: the stable link if there is one, else the pty itself."""
        return self.link or self._tty_name

    @property
    def tty_name(self) -> str:
        return self._tty_name

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line discipline: a wire, not a terminal
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._tty_name = os.ttyname(slave)
        if self.link:
            tmp = f"{self.link}.{os.getpid()}.tmp"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self._tty_name, tmp)
            os.replace(tmp, self.link)  # atomic: a driver never sees a missing or half link
        self.plugged = True

    def _unplug(self) -> None:
        self.plugged = False
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.link)
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def unplug(self) -> None:
        with self._lock:
            if self.plugged:
                self._unplug()
        log.info("%s unplugged", self.name)

    def replug(self) -> None:
        with self._lock:
            if not self.plugged:
                self._plug()
        log.info("%s replugged at %s", self.name, self._tty_name)

    # --- faults -------------------------------------------------------------------------------

    def inject_garbage(self, n: int = 32) -> bytes:
        junk = bytes(self.rng.randrange(256) for _ in range(n))
        self.write(junk)
        return junk

    def silence(self, seconds: float) -> None:
        """Stop answering for ``seconds`` (0 ends a silence at once)."""
        self.silent_until = time.monotonic() + seconds

    @property
    def is_silent(self) -> bool:
        return time.monotonic() < self.silent_until

    # --- I/O ------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Put bytes on the line; dropped if nobody is there to take them, as on a real wire."""
        if self.char_time:
            time.sleep(len(data) * self.char_time)
        with self._lock:
            if self._master is None:
                return
            try:
                os.write(self._master, data)
                self.bytes_out += len(data)
            except (BlockingIOError, OSError):
                pass

    def on_bytes(self, data: bytes, now: float) -> None:
        raise NotImplementedError

    def on_tick(self, now: float) -> None:
        """Called every loop turn (models time: motion, watchdogs)."""

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the device thread and remove the port; safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=2.0)
        with self._lock:
            if self.plugged:
                self._unplug()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            master = self._master
            data = b""
            if master is None:
                time.sleep(TICK)
            else:
                try:
                    ready, _, _ = select.select([master], [], [], TICK)
                    if ready:
                        with self._lock:
                            # unplug() may have closed this fd since it was taken, and the
                            # process may have given its number to a new socket (a metrics
                            # scrape, in the tests): read only the master still plugged.
                            if self._master == master:
                                data = os.read(master, 4096)
                except (OSError, ValueError):
                    # unplugged under our feet, or nobody on the slave side yet
                    time.sleep(TICK)
            now = time.monotonic()
            try:
                if data:
                    self.bytes_in += len(data)
                    if self.char_time:
                        time.sleep(len(data) * self.char_time)  # the request's own wire time
                    if not self.is_silent:
                        self.on_bytes(data, now)
                self.on_tick(now)
            except Exception:  # a simulator bug must not kill the device silently
                log.exception("%s failed handling input", self.name)
