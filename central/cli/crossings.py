"""``rocars crossings list|count``: officers look at the crossing events lanes sent.

    rocars crossings count --control-point LMC --since=-24h --group-by lane --group-by outcome
    rocars crossings list --lane LMC-I-01 --outcome sent-to-inspection --all --json

Times are ISO 8601 (Hong Kong time without an offset) or relative: ``-2h`` (ago),
``+30m``; write ``--since=-2h``, as argparse takes a bare ``-2h`` for an option.
``--since`` is inclusive, ``--until`` exclusive; both filter on when the lane
recorded the event.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import Any

import grpc

from central.api.convert import ts_of
from central.cli.client import (
    CliError,
    command_adder,
    emit,
    enum_name,
    enum_value,
    parse_time,
)
from central.client import BearerInterceptor, Stubs
from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc

_OUTCOME_PREFIX = "CROSSING_"
_GROUPS = {"lane": sync_pb2.GROUP_BY_LANE, "control-point": sync_pb2.GROUP_BY_CONTROL_POINT}
_GROUPS["outcome"] = sync_pb2.GROUP_BY_OUTCOME


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("crossings", help="officers: list and count crossing events from lanes")
    cmds = top.add_subparsers(dest="command", metavar="WHAT", required=True)

    add = command_adder(cmds)

    def cmd(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        p = add(name, help_text, func)
        p.add_argument("--lane", action="append", default=[], help="lane id (repeatable)")
        p.add_argument("--control-point", action="append", default=[], help="repeatable")
        p.add_argument(
            "--outcome",
            action="append",
            default=[],
            help="released | sent-to-inspection | referred-to-officer | officer-override | "
            "inspection-result (repeatable)",
        )
        p.add_argument("--direction", help="import | export")
        p.add_argument("--trip", default="", help="trip reference")
        p.add_argument("--since", help="from this time (inclusive): ISO time, or --since=-24h")
        p.add_argument("--until", help="before this time (exclusive): ISO time, or --until=-1h")
        return p

    p = cmd("list", "list crossing events, oldest first", list_events)
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--page-token", default="", help="from a previous page")
    p.add_argument("--all", action="store_true", help="follow every page")

    p = cmd("count", "count crossing events, optionally grouped", count_events)
    p.add_argument("--group-by", action="append", default=[], choices=sorted(_GROUPS), help="repeatable")


def _when(text: str, field: str) -> datetime:
    if text.strip().startswith("-"):
        now = datetime.now(UTC)
        return now - (parse_time("+" + text.strip()[1:], field) - now)
    return parse_time(text, field)


def _filter(args: argparse.Namespace) -> sync_pb2.CrossingFilter:
    f = sync_pb2.CrossingFilter(
        lane_ids=args.lane,
        control_points=args.control_point,
        outcomes=[
            enum_value(sync_pb2.CrossingOutcome, _OUTCOME_PREFIX + o.replace("-", "_"), "--outcome")
            for o in args.outcome
        ],
        trip_reference=args.trip,
    )
    if args.direction:
        f.direction = enum_value(common_pb2.Direction, args.direction, "--direction")
    if args.since:
        f.occurred_from.CopyFrom(ts_of(_when(args.since, "--since")))
    if args.until:
        f.occurred_before.CopyFrom(ts_of(_when(args.until, "--until")))
    return f


def _stub(args: argparse.Namespace, s: Stubs) -> sync_pb2_grpc.CrossingsStub:
    token = args.token or os.environ.get("ROCARS_TOKEN") or ""
    return sync_pb2_grpc.CrossingsStub(grpc.intercept_channel(s.channel, BearerInterceptor(token)))


def _outcome(value: int) -> str:
    return enum_name(sync_pb2.CrossingOutcome, value).removeprefix("crossing ")


def list_events(args: argparse.Namespace, s: Stubs) -> int:
    if not 1 <= args.page_size <= 1000:
        raise CliError("--page-size: must be between 1 and 1000")
    stub = _stub(args, s)
    request = sync_pb2.ListCrossingEventsRequest(
        filter=_filter(args),
        page=common_pb2.PageRequest(page_size=args.page_size, page_token=args.page_token),
    )
    reply = sync_pb2.ListCrossingEventsReply()
    while True:
        page = stub.ListCrossingEvents(request, timeout=args.timeout)
        reply.events.extend(page.events)
        reply.next_page_token = page.next_page_token
        if not (args.all and page.next_page_token):
            break
        request.page.page_token = page.next_page_token

    def human() -> None:
        for stored in reply.events:
            ev = stored.event
            when = ev.occurred_at.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%SZ")
            print(
                f"{when}  {ev.lane_id:<10} {_outcome(ev.outcome):<22} "
                f"{ev.trip_reference or '-':<16} {ev.registration_mark or '-':<10}"
                + ("" if stored.applied else f"  (not applied: {stored.note})")
            )
        print(
            f"{len(reply.events)} event(s)"
            + (f"; next page: {reply.next_page_token}" if reply.next_page_token else "")
        )

    emit(args, reply, human)
    return 0


def count_events(args: argparse.Namespace, s: Stubs) -> int:
    request = sync_pb2.CountCrossingEventsRequest(
        filter=_filter(args), group_by=[_GROUPS[g] for g in dict.fromkeys(args.group_by)]
    )
    reply = _stub(args, s).CountCrossingEvents(request, timeout=args.timeout)

    def human() -> None:
        for g in reply.groups:
            parts = [p for p in (g.lane_id, g.control_point, _outcome(g.outcome) if g.outcome else "") if p]
            print(f"{g.count:>8}  {' / '.join(parts)}")
        print(f"{reply.total:>8}  total")

    emit(args, reply, human)
    return 0
