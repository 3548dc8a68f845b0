"""Which servicers the server runs. Each area adds its module name to
``SERVICER_MODULES``; the module exposes ``add_to_server(server, ctx)``. No area edits
another's code to plug in."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import peewee

from central.clock import Clock

log = logging.getLogger(__name__)

SERVICER_MODULES: list[str] = [
    "central.api.diagnostics",
    "central.api.registration",
    "central.api.cargo",
    "central.api.bundling",
    # other areas (one line each):
    "central.risk.api",
    "central.sync.api",
    "central.sync.crossings",
]

# Modules that may be absent while their area is still being built; a missing core
# module is a start-up error.
OPTIONAL_MODULES = frozenset({"central.risk.api", "central.sync.api", "central.sync.crossings"})


@dataclass
class ServerConfig:
    """Tunables, from the ``--config`` TOML file's ``[central]`` table (same names)."""

    default_slot_minutes: int = 15
    default_slot_capacity: int = 60
    submission_min_lead_minutes: int = 30  # Cap. 60L: at least 30 minutes before crossing
    submission_max_lead_days: int = 14  # ... and no earlier than 14 days before
    bundling_min_lead_minutes: int = 30
    max_page_size: int = 1000
    token_cache_seconds: float = 5.0
    # How often each process reads the shared cache epoch (central.services.epoch): the
    # bound on how long a revoked token or a deactivated account still works in another
    # process. Smaller is stricter and costs one indexed read per interval per busy
    # process; 0 reads it before every cached look-up.
    cache_epoch_poll_seconds: float = 0.05
    max_ccrns_per_trip: int = 50
    # Each subscribed lane's sync stream holds one worker thread for its whole life
    # (up to the feed's maximum stream age), so the pool is sized for the lanes one
    # replica is expected to carry plus headroom for ordinary calls.
    expected_lanes: int = 48
    # Threads answering the token listener (short unary calls); 0: 4 on SQLite, where
    # calls are CPU work under one interpreter lock, 16 on PostgreSQL (central.server).
    call_workers: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # other areas' tables, by name


@dataclass
class ServerContext:
    """What every servicer gets: the database, the clock, the configuration, and the
    service names it registered (for health and reflection)."""

    database: peewee.Database
    clock: Clock
    config: ServerConfig
    service_names: list[str] = field(default_factory=list)
    # Called (in reverse order) when the server stops, after calls have drained:
    # areas stop their background threads here.
    shutdown_callbacks: list[Callable[[], None]] = field(default_factory=list)
    # Set when the server begins to stop, *before* it drains calls: long-lived streams
    # (the lane feed) end at once instead of holding shutdown for the whole grace.
    stopping: threading.Event = field(default_factory=threading.Event)
    stopping_callbacks: list[Callable[[], None]] = field(default_factory=list)

    def on_shutdown(self, callback: Callable[[], None]) -> None:
        self.shutdown_callbacks.append(callback)

    def on_stopping(self, callback: Callable[[], None]) -> None:
        """``callback`` runs when shutdown begins, before calls in flight drain."""
        self.stopping_callbacks.append(callback)


def add_servicers(server: grpc.Server, ctx: ServerContext, modules: list[str] | None = None) -> list[str]:
    """Import every listed module and let it register; returns the modules loaded."""
    loaded: list[str] = []
    for name in modules if modules is not None else SERVICER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name in OPTIONAL_MODULES and exc.name is not None and name.startswith(exc.name):
                log.info("servicer module %s not present; skipped", name)
                continue
            raise
        module.add_to_server(server, ctx)
        loaded.append(name)
    return loaded
