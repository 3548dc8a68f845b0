"""A throwaway PostgreSQL cluster for tests, from Debian's postgresql package.

``initdb`` and ``postgres`` refuse to run as root, so both run as the ``postgres``
user on a temp directory it owns, on a free port, with a socket directory of its own;
nothing touches a system cluster. Missing binaries fail the test with a clear message
(a skipped scale-path test must not count as passing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def _bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    if not candidates:
        pytest.fail("PostgreSQL is not installed (Debian package 'postgresql'); scripts/setup.sh installs it")
    return Path(candidates[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    port: int
    socket_dir: Path
    data_dir: Path
    process: subprocess.Popen[bytes]

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "t") -> str:
        """A fresh empty database on this cluster; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(_bin_dir() / "createdb"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                name,
            ],
            check=True,
            timeout=30,
            capture_output=True,
        )
        return self.url(name)


def _as_postgres(cmd: list[str], **kwargs: object) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    bin_dir = _bin_dir()
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail("the 'postgres' system user is missing (Debian package 'postgresql' creates it)")
    root = Path(tempfile.mkdtemp(prefix="rocars-pg-"))
    data_dir, socket_dir = root / "data", root / "sock"
    socket_dir.mkdir()
    os.chown(root, pw.pw_uid, pw.pw_gid)
    os.chown(socket_dir, pw.pw_uid, pw.pw_gid)
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ]
        ),
        check=True,
        timeout=120,
        capture_output=True,
    )
    port = _free_port()
    proc = subprocess.Popen(
        _as_postgres(
            [
                str(bin_dir / "postgres"),
                "-D",
                str(data_dir),
                "-p",
                str(port),
                "-k",
                str(socket_dir),
                "-h",
                "127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    cluster = PgCluster(port, socket_dir, data_dir, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
                timeout=10,
            )
            if ready.returncode == 0:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"throwaway PostgreSQL did not start on port {port}: {err[-2000:]}")
            time.sleep(0.1)
        yield cluster
    finally:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM = smart shutdown; fast enough with no clients left
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)
