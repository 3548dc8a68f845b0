"""A private pcscd with vpcd readers on ports of its own, beside any other pcscd.

pcscd 1.9.9 (Debian 12) always listens on ``/run/pcscd/pcscd.comm`` and keeps its pid file
there; only the client library honours ``PCSCLITE_CSOCK_NAME``. So the daemon is started
in a private mount namespace (``unshare --mount``) where our own directory is bind-mounted
over ``/run/pcscd``: its socket and pid file land in our directory, invisible to and
untouched by the system pcscd or any other private one. Clients then set
``PCSCLITE_CSOCK_NAME=<directory>/pcscd.comm`` (libpcsclite reads it once per process).
Needs root or unprivileged user namespaces.

Two lanes per pcscd: vpcd (Debian 12's vsmartcard-vpcd 0.8) keeps its card slots in one
table indexed by slot number only, so a second reader entry in the same pcscd shares the
first one's slots (checked: a card on the second entry's port shows in both readers).
One pcscd therefore runs one vpcd reader with its two slots, ``"<name> 00 00"`` on the
base port and ``"<name> 00 01"`` on base port + 1: one slot per lane. More lanes take
more pcscd instances, each with its own directory and socket. vpcd listens on all
interfaces; the simulated card connects to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
SHARED_SOCKET = Path("/run/pcscd/pcscd.comm")
SOCKET_ENV = "PCSCLITE_CSOCK_NAME"

log = logging.getLogger("simulators.pcscd")

__all__ = ["SOCKET_ENV", "Pcscd", "PcscdError", "VirtualSlot", "free_port_pair"]


class PcscdError(RuntimeError):
    pass


@dataclass(frozen=True)
class VirtualSlot:
    reader: str  # PC/SC reader name, e.g. "ROCARS vpcd 00 01"
    port: int  # the vpcd port a virtual card connects to


def free_port_pair() -> int:
    """A base port P with P and P+1 free now (vpcd binds both). Bound then released: a
    small race remains, which ``Pcscd.start`` covers by checking the readers appear."""
    while True:
        with socket.socket() as first:
            first.bind(("0.0.0.0", 0))
            port = int(first.getsockname()[1])
            if port >= 0xFFFF:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("0.0.0.0", port + 1))
                except OSError:
                    continue
                return port


def _check_prerequisites() -> str:
    pcscd = shutil.which("pcscd") or ("/usr/sbin/pcscd" if Path("/usr/sbin/pcscd").exists() else None)
    missing = []
    if pcscd is None:
        missing.append("pcscd (Debian package pcscd)")
    if not VPCD_DRIVER.exists():
        missing.append(f"{VPCD_DRIVER} (Debian package vsmartcard-vpcd)")
    if shutil.which("unshare") is None:
        missing.append("unshare (Debian package util-linux)")
    if missing:
        raise PcscdError("cannot run a private pcscd; missing: " + ", ".join(missing))
    assert pcscd is not None
    return pcscd


def _namespaces_work(userns: list[str]) -> bool:
    try:
        probe = subprocess.run(
            ["unshare", *userns, "--mount", "--propagation", "private", "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


class Pcscd:
    """A pcscd process with one vpcd reader (two slots); start/stop are idempotent."""

    def __init__(
        self,
        directory: Path,
        name: str = "ROCARS vpcd",
        *,
        port: int | None = None,
        log_apdus: bool = False,
    ) -> None:
        if not name or '"' in name or not name.isprintable():
            raise ValueError(f"name must be printable, non-empty and without quotes (got {name!r})")
        if port is not None and not 1024 <= port < 0xFFFF:
            raise ValueError(f"port must be 1024..65534 (vpcd also binds port + 1; got {port})")
        self.directory = Path(directory)
        self.name = name
        self._fixed_port = port
        self.port: int | None = port
        self._log_apdus = log_apdus
        self._process: subprocess.Popen[bytes] | None = None
        # False where mount namespaces are not permitted (an unprivileged container):
        # then pcscd runs on the shared /run/pcscd socket, one instance per machine.
        self.private = True

    @property
    def socket_path(self) -> Path:
        return self.directory / "pcscd.comm" if self.private else SHARED_SOCKET

    @property
    def slots(self) -> list[VirtualSlot]:
        """The two card slots (one per lane); known once started."""
        if self.port is None:
            raise PcscdError("pcscd has no ports yet: start() it first")
        return [
            VirtualSlot(f"{self.name} 00 00", self.port),
            VirtualSlot(f"{self.name} 00 01", self.port + 1),
        ]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def environment(self) -> dict[str, str]:
        """Environment for a client process of this pcscd."""
        return {**os.environ, SOCKET_ENV: str(self.socket_path)}

    def _write_config(self, port: int) -> Path:
        conf = self.directory / "reader.conf"
        conf.write_text(
            f'FRIENDLYNAME "{self.name}"\n'
            f"DEVICENAME /dev/null:{port:#06x}\n"
            f"LIBPATH {VPCD_DRIVER}\n"
            f"CHANNELID {port:#06x}\n"
        )
        return conf

    def start(self, timeout: float = 10.0, attempts: int = 3) -> None:
        """Start pcscd and wait until its readers are listed; no-op if already running."""
        if self.running:
            return
        pcscd = _check_prerequisites()
        self.directory.mkdir(parents=True, exist_ok=True)
        Path("/run/pcscd").mkdir(parents=True, exist_ok=True)  # the bind-mount target
        userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
        self.private = _namespaces_work(userns)
        if self.private:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()  # left by a pcscd that was killed
        if not self.private:
            if _socket_answers(SHARED_SOCKET):
                raise PcscdError(
                    "mount namespaces are not permitted here (unshare failed) and another pcscd owns "
                    f"{SHARED_SOCKET}: run privileged, or stop the other pcscd"
                )
            log.warning("mount namespaces not permitted: pcscd runs on the shared %s", SHARED_SOCKET)
        last_error = ""
        for _ in range(attempts):
            self.port = self.port or free_port_pair()
            conf = self._write_config(self.port)
            flags = ["-f", "-a"] if self._log_apdus else ["-f"]
            if self.private:
                script = f'mount --bind "$1" /run/pcscd && exec "$2" {" ".join(flags)} -c "$3"'
                command = ["unshare", *userns, "--mount", "--propagation", "private", "--",
                           "sh", "-c", script, "sh", str(self.directory), pcscd, str(conf)]  # fmt: skip
            else:
                command = [pcscd, *flags, "-c", str(conf)]
            pcscd_log = open(self.directory / "pcscd.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                self._process = subprocess.Popen(
                    command,
                    stdout=pcscd_log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            finally:
                pcscd_log.close()
            try:
                self.wait_for_readers(timeout)
                return
            except PcscdError as exc:
                last_error = str(exc)
                self.stop()
                self.port = self._fixed_port  # maybe a port was taken meanwhile: pick new ones
        raise PcscdError(f"pcscd did not come up after {attempts} attempts: {last_error}")

    def list_readers(self, timeout: float = 5.0) -> list[str]:
        """Reader names as a PC/SC client of this pcscd sees them (asked from a child process,
        since libpcsclite binds a process to one socket for good)."""
        code = (
            "from smartcard import scard\n"
            "rv, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)\n"
            "assert rv == 0, hex(rv)\n"
            "rv, names = scard.SCardListReaders(ctx, [])\n"
            "print('\\n'.join(names if rv == 0 else []))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=self.environment(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise PcscdError(
                f"listing readers failed: {result.stderr.decode(errors='replace').strip()[-300:]}"
            )
        return [line for line in result.stdout.decode().splitlines() if line]

    def wait_for_readers(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        wanted = {slot.reader for slot in self.slots}
        seen: list[str] = []
        while time.monotonic() < deadline:
            if not self.running:
                raise PcscdError(f"pcscd exited; see {self.directory / 'pcscd.log'}")
            if self.socket_path.exists():
                with contextlib.suppress(PcscdError, subprocess.TimeoutExpired):
                    seen = self.list_readers(timeout=max(0.5, deadline - time.monotonic()))
                    if wanted <= set(seen):
                        return
            time.sleep(0.05)
        raise PcscdError(f"readers {sorted(wanted)} not listed within {timeout} s (have {seen})")

    def stop(self, timeout: float = 5.0) -> None:
        """Stop pcscd; safe to call twice and if it never started."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same socket and ports (clients keep their socket path)."""
        self.stop()
        self.start(timeout)

    def __enter__(self) -> Pcscd:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
