"""Calls from core writes into other areas, inside the writer's transaction:
- the change log (central.store.changes.record_change, sync area) so lanes learn of it;
- risk profiling (central.risk.hooks.on_consignment_changed / on_trip_changed).

Both are imported lazily; an area not built yet is a no-op. An error inside a hook is
not swallowed: it rolls the whole write back, so a change is never stored without its
change-log row or its profile.
"""

from __future__ import annotations

import importlib
import threading
from datetime import datetime
from types import ModuleType
from typing import Any

from central.store import models

_modules: dict[str, ModuleType | None] = {}
_lock = threading.Lock()


def _module(name: str) -> ModuleType | None:
    if name not in _modules:
        with _lock:
            try:
                _modules[name] = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name is None or not name.startswith(exc.name):
                    raise
                _modules[name] = None
    return _modules[name]


def _record(
    kind: str,
    control_point: str | None,
    direction: int | None,
    entity_id: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    changes = _module("central.store.changes")
    if changes is not None:
        changes.record_change(kind, control_point, direction, entity_id, payload, now=now)


def _risk(function: str, obj: object) -> None:
    risk = _module("central.risk.hooks")
    if risk is not None and hasattr(risk, function):
        getattr(risk, function)(obj)


def driver_changed(driver: models.Driver, now: datetime) -> None:
    _record("driver_changed", None, None, driver.document_number, {}, now)


def vehicle_changed(vehicle: models.Vehicle, now: datetime) -> None:
    _record("vehicle_changed", None, None, vehicle.registration_mark, {}, now)


def lane_changed(lane: models.Lane, now: datetime) -> None:
    cp = models.ControlPoint.get_by_id(lane.control_point_id)
    _record(
        "lane_config",
        cp.code,
        lane.direction,
        lane.code,
        {"active": bool(lane.active), "description": lane.description},
        now,
    )


def trip_changed(kind: str, trip: models.Trip, control_point_code: str, now: datetime) -> None:
    """kind: trip_bundled | trip_changed | trip_unbundled."""
    _record(kind, control_point_code, trip.direction, trip.reference, {}, now)
    _risk("on_trip_changed", trip)


def consignment_changed(consignment: models.Consignment) -> None:
    _risk("on_consignment_changed", consignment)
