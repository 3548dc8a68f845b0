"""``rocars declaration draft CCRN...``: a trade declaration draft from cargo information (JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from central.risk.cli_common import add_connection_args, channel, print_json, run
from proto.rocars.v1 import declaration_pb2, declaration_pb2_grpc


@run
def draft(args: argparse.Namespace) -> None:
    stub = declaration_pb2_grpc.DeclarationStub(channel(args))
    reply = stub.DraftDeclaration(
        declaration_pb2.DraftDeclarationRequest(ccrns=args.ccrns), timeout=args.timeout
    )
    print_json(json.loads(reply.draft_json))
    print(
        f"{reply.reused_fields} of {reply.total_fields} fields reused from cargo information; "
        f"{reply.missing_fields} required field(s) to add",
        file=sys.stderr,
    )


def register(subparsers: Any) -> None:
    top = subparsers.add_parser("declaration", help="trade declaration drafts that reuse cargo information")
    sub = top.add_subparsers(dest="declaration_command", metavar="COMMAND", required=True)
    p = sub.add_parser("draft", help="draft from one or more CCRNs (JSON on stdout, summary on stderr)")
    p.add_argument("ccrns", nargs="+")
    add_connection_args(p, json_flag=False)
    p.set_defaults(func=draft)
