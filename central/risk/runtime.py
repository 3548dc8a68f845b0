"""Process-wide risk settings: the clock, the two secret keys, the compiled rule cache.

The selection key (random selection) and the audit key (hash chain) are secrets kept
outside the database, in one key file created with mode 0600 on first start: someone who
can read the database still cannot predict selections or forge the audit chain. The
server configures this once (``configure``) from ``[risk]`` in its config
(``key_file``); tests configure it with their own clock and keys.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from central.clock import Clock, SystemClock
from central.risk.engine import CompiledRules
from central.risk.stats import AnomalyStats

log = logging.getLogger(__name__)

KEY_FILE_ENV = "ROCARS_RISK_KEY_FILE"
DEFAULT_KEY_FILE = "rocars-risk.key"
_KEY_BYTES = 32


@dataclass(frozen=True)
class RiskKeys:
    selection: bytes
    audit: bytes


def configured_key_file(extra: Mapping[str, Any]) -> str | None:
    """The key file the operator named: ``[risk] key_file`` in the server's config (its
    non-``[central]`` tables, ``extra``), else ``$ROCARS_RISK_KEY_FILE``; None if neither."""
    risk = extra.get("risk") or {}
    return str(risk.get("key_file") or os.environ.get(KEY_FILE_ENV) or "") or None


def load_or_create_keys(path: Path) -> RiskKeys:
    """Read the key file (hex, two lines), creating it with fresh random keys if absent."""
    if not path.exists():
        _create_key_file(path)
    lines = path.read_text().split()
    if len(lines) != 2:
        raise ValueError(f"risk key file {path}: expected two hex lines (selection key, audit key)")
    try:
        keys = RiskKeys(bytes.fromhex(lines[0]), bytes.fromhex(lines[1]))
    except ValueError:
        raise ValueError(f"risk key file {path}: keys must be hexadecimal") from None
    if len(keys.selection) < 16 or len(keys.audit) < 16:
        raise ValueError(f"risk key file {path}: each key must be at least 16 bytes")
    return keys


def _create_key_file(path: Path) -> None:
    """Write fresh keys to a private temporary file, then link it into place: several
    server processes starting at once on one database all end up reading the one file
    that won, never a half-written one (``os.link`` refuses to replace an existing file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(_KEY_BYTES) + "\n" + secrets.token_hex(_KEY_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return  # another process created it first; use theirs
        log.warning("risk: created new selection and audit keys in %s (back this file up)", path)
    finally:
        tmp.unlink(missing_ok=True)


class Runtime:
    """What profiling needs besides the database; one per process, thread-safe."""

    def __init__(self, clock: Clock, keys: RiskKeys, stats_max_age_s: float = 600.0) -> None:
        self.clock = clock
        self.keys = keys
        self.stats_max_age_s = stats_max_age_s
        self._lock = threading.Lock()
        self._compiled: CompiledRules | None = None
        self._stats: AnomalyStats | None = None
        self._stats_at = 0.0

    def compiled(self, version: int) -> CompiledRules:
        """The compiled rule set of ``version`` (the current one), loaded once per version."""
        from central.risk import rulestore

        cached = self._compiled
        if cached is not None and cached.version == version:
            return cached
        compiled = CompiledRules(rulestore.load(version), self.keys.selection)
        with self._lock:
            self._compiled = compiled
        return compiled

    def stats(self, *, refresh: bool = False) -> AnomalyStats:
        from central.risk import profiling  # imported here: profiling imports this module

        now = time.monotonic()
        if refresh or self._stats is None or now - self._stats_at > self.stats_max_age_s:
            built = profiling.build_stats()
            with self._lock:
                self._stats, self._stats_at = built, now
            return built
        return self._stats

    def invalidate(self) -> None:
        with self._lock:
            self._compiled = None


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def configure(clock: Clock, keys: RiskKeys) -> Runtime:
    global _runtime
    with _runtime_lock:
        _runtime = Runtime(clock, keys)
        return _runtime


def runtime() -> Runtime:
    """The configured runtime. An unconfigured process (a core-only test, a script) gets the
    system clock and the key file named by $ROCARS_RISK_KEY_FILE, or, without it, keys that
    live only as long as the process (selections then cannot be reproduced later: logged)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            env = os.environ.get(KEY_FILE_ENV)
            if env:
                keys = load_or_create_keys(Path(env))
            else:
                log.warning("risk: not configured and $%s unset; using throw-away keys", KEY_FILE_ENV)
                keys = RiskKeys(secrets.token_bytes(_KEY_BYTES), secrets.token_bytes(_KEY_BYTES))
            _runtime = Runtime(SystemClock(), keys)
        return _runtime
