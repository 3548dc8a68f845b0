"""``rocars elock ...``: report an e-lock event (as a gateway, with its client certificate) or
show a lock's status (as an officer)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from central.api.convert import ts
from central.risk.cli_common import add_connection_args, channel, print_json, run, table, to_dict
from proto.rocars.v1 import elock_pb2, elock_pb2_grpc

KINDS = {
    "sealed": elock_pb2.SEALED,
    "opened": elock_pb2.OPENED,
    "tampered": elock_pb2.TAMPERED,
    "off_route": elock_pb2.OFF_ROUTE,
    "arrived": elock_pb2.ARRIVED,
}


@run
def report(args: argparse.Namespace) -> None:
    at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    req = elock_pb2.ElockEventRequest(
        event_id=args.event_id,
        elock_id=args.elock_id,
        kind=KINDS[args.kind],
        occurred_at=ts(at),
        detail=args.detail or "",
    )
    if args.lat is not None and args.lon is not None:
        req.has_position, req.latitude, req.longitude = True, args.lat, args.lon
    reply = elock_pb2_grpc.ElockStub(channel(args)).ReportElockEvent(req, timeout=args.timeout)
    if args.json:
        print_json(to_dict(reply))
    else:
        dup = " (duplicate: already recorded)" if reply.duplicate else ""
        print(f"{reply.ccrn}: lock {reply.state}{', breach ' + reply.breach if reply.breach else ''}{dup}")


@run
def status(args: argparse.Namespace) -> None:
    reply = elock_pb2_grpc.ElockStub(channel(args)).GetElock(
        elock_pb2.GetElockRequest(elock_id=args.elock_id), timeout=args.timeout
    )
    if args.json:
        print_json(to_dict(reply))
        return
    print(
        f"{reply.elock_id} on {reply.ccrn}: {reply.state}{'; breach ' + reply.breach if reply.breach else ''}"
    )
    rows = [
        [
            e.occurred_at.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds"),
            e.kind,
            e.gateway,
            e.event_id,
            e.detail,
        ]
        for e in reply.events
    ]
    print(table(rows, ["AT (UTC)", "EVENT", "GATEWAY", "ID", "DETAIL"]))


def register(subparsers: Any) -> None:
    top = subparsers.add_parser("elock", help="electronic locks of transshipment consignments")
    sub = top.add_subparsers(dest="elock_command", metavar="COMMAND", required=True)
    p = sub.add_parser("report", help="report an event (gateway: --cert/--key over mutual TLS)")
    p.add_argument("--elock-id", required=True)
    p.add_argument("--kind", required=True, choices=list(KINDS))
    p.add_argument("--event-id", required=True, help="the gateway's id for this event (retries are no-ops)")
    p.add_argument("--at", help="ISO 8601 time of the event (default: now)")
    p.add_argument("--lat", type=float)
    p.add_argument("--lon", type=float)
    p.add_argument("--detail")
    add_connection_args(p)
    p.set_defaults(func=report)
    p = sub.add_parser("status", help="a lock's state and events (officers)")
    p.add_argument("elock_id")
    add_connection_args(p)
    p.set_defaults(func=status)
