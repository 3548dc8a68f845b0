"""``rocars trips ...``: drivers bundle CCRNs to their truck and get a crossing slot.

The security code is the 6-digit code of the driver's authenticator (``--code``); for
automation, ``$ROCARS_TOTP_SECRET`` (the secret from registration) lets the CLI compute
it. Keep that secret as safe as the token: together they are the driver.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
from datetime import UTC
from typing import Any

import pyotp

from central import ids
from central.api.convert import ts_of
from central.cli.client import (
    CliError,
    command_adder,
    emit,
    enum_name,
    enum_value,
    parse_time,
    show_time,
    to_dict,
)
from central.client import Stubs
from proto.rocars.v1 import bundling_pb2 as pb
from proto.rocars.v1 import common_pb2


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("trips", help="drivers: bundle CCRNs to a truck, unbundle, list trips and slots")
    cmds = top.add_subparsers(dest="command", metavar="WHAT", required=True)

    cmd = command_adder(cmds)

    p = cmd("bundle", "bundle CCRNs (or an empty truck) to a vehicle; prints the trip and its slot", bundle)
    p.add_argument("--vehicle", required=True, help="registration mark")
    p.add_argument("--control-point", required=True)
    p.add_argument("--direction", required=True, help="import | export")
    p.add_argument(
        "--arrival", required=True, help="expected arrival: ISO time (Hong Kong if no offset) or +2h"
    )
    p.add_argument("--ccrn", action="append", default=[], help="repeatable")
    p.add_argument("--empty", action="store_true", help="an empty-truck trip (no CCRNs)")
    p.add_argument("--key", default="", help="idempotency key (default: random)")
    p.add_argument("--code", help="current security code (default: computed from $ROCARS_TOTP_SECRET)")

    p = cmd("rebundle", "replace the CCRNs, vehicle, arrival time or control point of a trip", rebundle)
    p.add_argument("trip")
    p.add_argument("--control-point", default="", help="move the trip to this control point")
    p.add_argument("--ccrn", action="append", default=[], help="the full new list, repeatable")
    p.add_argument("--empty", action="store_true")
    p.add_argument("--vehicle", default="")
    p.add_argument("--arrival")
    p.add_argument("--code")

    p = cmd("unbundle", "cancel a trip; its CCRNs become free to bundle again", unbundle)
    p.add_argument("trip")
    p.add_argument("--code")

    p = cmd("get", "show a trip", get)
    p.add_argument("trip")

    p = cmd("list", "list trips (yours; officers: all)", list_trips)
    p.add_argument("--status", action="append", default=[])
    p.add_argument("--control-point", default="")

    p = cmd("slots", "show crossing-slot occupancy", slots)
    p.add_argument("--control-point", required=True)
    p.add_argument("--direction", required=True)
    p.add_argument("--from", dest="start", help="first slot (default now)")
    p.add_argument("--count", type=int, default=8)


def _code(args: argparse.Namespace) -> str:
    if args.code:
        return str(args.code)
    secret = os.environ.get("ROCARS_TOTP_SECRET")
    if not secret:
        raise CliError("no security code: pass --code or set ROCARS_TOTP_SECRET")
    return pyotp.TOTP(secret).now()


def _summary(t: pb.Trip) -> str:
    def at(x: Any) -> str:
        return show_time(x.ToDatetime().replace(tzinfo=UTC))

    lines = [
        f"Trip {t.reference} ({enum_name(common_pb2.TripStatus, t.status).removeprefix('trip ')}): "
        f"{t.vehicle_registration_mark} driven by {t.driver_name}",
        f"  {enum_name(common_pb2.Direction, t.direction)} at {t.control_point}, "
        f"arriving {at(t.expected_arrival)}",
        f"  crossing slot {at(t.slot_start)} - {at(t.slot_end)[-9:]}"
        + ("  (the slot you wanted was full: this is the next free one)" if t.slot_moved else ""),
        "  empty truck" if t.empty_truck else "  CCRNs: " + ", ".join(ids.format_ccrn(c) for c in t.ccrns),
    ]
    return "\n".join(lines)


def bundle(args: argparse.Namespace, s: Stubs) -> int:
    direction = enum_value(common_pb2.Direction, args.direction, "--direction")
    reply = s.bundling.BundleTrip(
        pb.BundleTripRequest(
            idempotency_key=args.key or f"cli-{secrets.token_hex(12)}",
            security_code=_code(args),
            vehicle_registration_mark=args.vehicle,
            control_point=args.control_point,
            direction=direction,  # type: ignore[arg-type]
            expected_arrival=ts_of(parse_time(args.arrival, "--arrival")),
            ccrns=args.ccrn,
            empty_truck=args.empty,
        ),
        timeout=args.timeout,
    )
    emit(args, reply, lambda: print("Bundled.\n" + _summary(reply)))
    return 0


def rebundle(args: argparse.Namespace, s: Stubs) -> int:
    request = pb.RebundleTripRequest(
        trip_reference=args.trip,
        security_code=_code(args),
        vehicle_registration_mark=args.vehicle,
        ccrns=args.ccrn,
        empty_truck=args.empty,
        control_point=args.control_point,
    )
    if args.arrival:
        request.expected_arrival.CopyFrom(ts_of(parse_time(args.arrival, "--arrival")))
    reply = s.bundling.RebundleTrip(request, timeout=args.timeout)
    emit(args, reply, lambda: print("Changed.\n" + _summary(reply)))
    return 0


def unbundle(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.bundling.UnbundleTrip(
        pb.UnbundleTripRequest(trip_reference=args.trip, security_code=_code(args)), timeout=args.timeout
    )
    emit(args, reply, lambda: print("Unbundled.\n" + _summary(reply)))
    return 0


def get(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.bundling.GetTrip(pb.GetTripRequest(trip_reference=args.trip), timeout=args.timeout)
    emit(args, reply, lambda: print(_summary(reply)))
    return 0


def list_trips(args: argparse.Namespace, s: Stubs) -> int:
    statuses = [
        enum_value(common_pb2.TripStatus, x if x.lower().startswith("trip") else f"trip_{x}", "--status")
        for x in args.status
    ]
    token, items = "", []
    while True:
        reply = s.bundling.ListTrips(
            pb.ListTripsRequest(
                page=common_pb2.PageRequest(page_size=200, page_token=token),
                statuses=statuses,  # type: ignore[arg-type]
                control_point=args.control_point,
            ),
            timeout=args.timeout,
        )
        items.extend(reply.trips)
        token = reply.next_page_token
        if not token:
            break
    if args.json:
        for t in items:
            print(json.dumps(to_dict(t), ensure_ascii=False, sort_keys=True))
    elif not items:
        print("No trips.")
    else:
        for t in items:
            print(_summary(t))
    return 0


def slots(args: argparse.Namespace, s: Stubs) -> int:
    direction = enum_value(common_pb2.Direction, args.direction, "--direction")
    request = pb.GetSlotAvailabilityRequest(
        control_point=args.control_point,
        direction=direction,  # type: ignore[arg-type]
        slots=args.count,
    )
    if args.start:
        getattr(request, "from").CopyFrom(ts_of(parse_time(args.start, "--from")))
    reply = s.bundling.GetSlotAvailability(request, timeout=args.timeout)
    emit(
        args,
        reply,
        lambda: [
            print(
                f"{show_time(x.slot_start.ToDatetime().replace(tzinfo=UTC))}  "
                f"{x.booked:>5} / {x.capacity} booked"
            )
            for x in reply.slots
        ],
    )
    return 0
