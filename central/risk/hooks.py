"""Entry points the core calls inside its writer's transaction (central.services.hooks).

Submission and amendment call ``on_consignment_changed``; bundling, re-bundling and
unbundling call ``on_trip_changed``. An exception here rolls the core's write back, so a
consignment is never stored without its profile.
"""

from __future__ import annotations

from central.risk import profiling
from central.store import models as m
from proto.rocars.v1 import common_pb2


def on_consignment_changed(consignment: m.Consignment) -> None:
    # A first version cannot have been profiled yet (its row was inserted in this very
    # transaction): skip the look-up. Were it profiled after all, the insert finds the row
    # and updates it instead (profiling._store), so skipping is never wrong, only faster.
    profiling.profile_consignment(consignment, lookup=int(consignment.version) > 1)
    trip_id = consignment.trip_id  # type: ignore[attr-defined]
    if trip_id:
        trip = m.Trip.get_or_none(m.Trip.id == trip_id)  # type: ignore[attr-defined]
        if trip is not None:
            profiling.profile_trip(trip)


def on_trip_changed(trip: m.Trip) -> None:
    # Only a bundled trip is still to cross; an unbundled, crossed or released one keeps the
    # verdict it had (the lane sync drops it by status).
    if trip.status == common_pb2.TRIP_BUNDLED:
        profiling.profile_trip(trip)
