"""Telling systemd how the kiosk is doing: sd_notify(3) without libsystemd.

Under ``Type=notify`` systemd passes ``$NOTIFY_SOCKET`` (a path, or an abstract-namespace
name written with a leading ``@``) and, with ``WatchdogSec=``, ``$WATCHDOG_USEC``. The
kiosk sends ``READY=1`` once its lane loop runs, ``STATUS=...`` lines an operator sees in
``systemctl status``, ``WATCHDOG=1`` from the lane loop itself (so a wedged loop, not just
a dead process, gets the service restarted), and ``STOPPING=1`` on the way out.

Outside systemd every call is a no-op returning False. A failed send never raises: the
lane must keep working whatever happens to its supervisor's socket. The first failure is
logged, and so is the first success after failures (not every ping).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["SystemdNotifier"]

log = logging.getLogger("kiosk.sdnotify")

# A datagram to a local socket normally goes at once; this bounds a full receive queue.
SEND_TIMEOUT_S = 1.0


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        # '@name' is Linux's abstract namespace, addressed with a leading NUL byte.
        self.address: str | None = ("\0" + raw[1:] if raw.startswith("@") else raw) or None
        self._watchdog_s = _watchdog_seconds(env)
        self._failing = False

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """systemd's watchdog timeout in seconds (``None`` when off); ping at half of it."""
        return self._watchdog_s

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([_status(status)] if status is not None else []))

    def status(self, text: str) -> bool:
        return self.notify(_status(text))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([_status(status)] if status is not None else []))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start-up/shutdown time (e.g. while a large cache is verified)."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram; True if systemd's socket took it."""
        if self.address is None or not assignments:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(SEND_TIMEOUT_S)
                sock.sendto(payload, self.address)
        except OSError as exc:
            if not self._failing:
                self._failing = True
                log.warning("cannot notify systemd at %r: %s", self.address.replace("\0", "@"), exc)
            return False
        if self._failing:
            self._failing = False
            log.info("notifying systemd again")
        return True


def _status(text: str) -> str:
    # One assignment per line: a newline inside the text would start a bogus assignment.
    return "STATUS=" + " ".join(text.splitlines())


def _watchdog_seconds(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (e.g. our parent before it forked us)
    return int(usec) / 1_000_000
