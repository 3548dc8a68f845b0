"""A kiosk process for the crash tests: records N crossing decisions in its outbox,
says so, then delivers them (or is killed first).

    python -m tests.sync.kiosk_writer DB LANE TARGET CERTDIR N TRIP_REF...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from drivers.base import Backoff
from kiosk.cache import LaneCache
from kiosk.outbox import Outbox, OutboxSender
from kiosk.tls import LaneTls
from lanes.commands import CrossingRecord, Outcome
from lanes.reasons import reason
from lanes.records import Direction, Verdict


def decision(lane: str, seq: int, trip: str | None, outcome: Outcome) -> CrossingRecord:
    return CrossingRecord(
        idempotency_key=f"{lane}-test-{seq}",
        lane_id=lane,
        control_point="LMC",
        direction=Direction.IMPORT,
        sequence=seq,
        outcome=outcome,
        decided_at=time.time(),
        arrived_at=time.time() - 5,
        trip_id=trip,
        vehicle_id=None,
        registration_mark=None,
        tag_epc=None,
        plate=None,
        driver_id=None,
        card_number=None,
        verdict=Verdict.CLEAR if trip else None,
        ccrns=(),
        reasons=(reason("VEHICLE_NOT_IDENTIFIED"),) if not trip else (),
    )


def main(argv: list[str]) -> int:
    db, lane, target, certdir, n, *trips = argv
    certs = Path(certdir)
    cache = LaneCache.open(db, "LMC", Direction.IMPORT)
    outbox = Outbox(cache, lane)
    tls = LaneTls(certs / "ca.pem", certs / "lanes" / f"{lane}.pem", certs / "lanes" / f"{lane}.key")
    start = outbox.pending_count() + outbox.delivered_count()
    for i in range(start, start + int(n)):
        trip = trips[i] if i < len(trips) else None
        outbox.record(decision(lane, i, trip, Outcome.RELEASED if trip else Outcome.REFERRED))
    print(f"RECORDED {outbox.pending_count()}", flush=True)
    sender = OutboxSender(outbox, target, tls, batch_size=3, backoff=Backoff(0.05, 0.2))
    sender.start()
    while True:  # until killed
        time.sleep(0.05)
        print(f"DELIVERED {sender.delivered}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
