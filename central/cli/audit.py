"""``rocars audit ...``: read and verify the hash-chained log of officer actions."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC
from typing import Any

from central.risk.cli_common import add_connection_args, channel, print_json, run, table, to_dict
from proto.rocars.v1 import officer_pb2, officer_pb2_grpc

EXIT_BROKEN = 3


@run
def audit_list(args: argparse.Namespace) -> None:
    stub = officer_pb2_grpc.RiskStub(channel(args))
    reply = stub.ListAudit(
        officer_pb2.ListAuditRequest(after_seq=args.after, limit=args.limit, subject=args.subject or ""),
        timeout=args.timeout,
    )
    if args.json:
        out = to_dict(reply)
        for e in out.get("entries", []):
            e["details"] = json.loads(e.pop("details_json"))
        print_json(out)
        return
    rows = [
        [
            str(e.seq),
            e.at.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds"),
            e.actor,
            e.action,
            e.subject,
            e.details_json[:80],
        ]
        for e in reply.entries
    ]
    print(table(rows, ["SEQ", "AT (UTC)", "ACTOR", "ACTION", "SUBJECT", "DETAILS"]))


@run
def audit_verify(args: argparse.Namespace) -> int:
    stub = officer_pb2_grpc.RiskStub(channel(args))
    reply = stub.VerifyAudit(officer_pb2.VerifyAuditRequest(), timeout=max(args.timeout, 300))
    if args.json:
        print_json(to_dict(reply))
    elif reply.ok:
        print(f"audit log intact: {reply.entries} entries, head {reply.head_hash}")
    else:
        print(f"AUDIT LOG BROKEN at entry {reply.first_bad_seq}: {reply.problem}", file=sys.stderr)
    return 0 if reply.ok else EXIT_BROKEN


def register(subparsers: Any) -> None:
    top = subparsers.add_parser("audit", help="the hash-chained audit log of officer actions")
    sub = top.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    p = sub.add_parser("list", help="entries after a sequence number")
    p.add_argument("--after", type=int, default=0)
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--subject")
    add_connection_args(p)
    p.set_defaults(func=audit_list)
    p = sub.add_parser(
        "verify", help=f"check the whole chain (exit {EXIT_BROKEN} if an entry was edited or deleted)"
    )
    add_connection_args(p)
    p.set_defaults(func=audit_verify)
