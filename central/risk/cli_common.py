"""Connection options and output shared by the risk area's CLI commands.

Mirrors the conventions of the ``rocars`` CLI: ``--server`` (or $ROCARS_SERVER), ``--token``
(or $ROCARS_TOKEN, never echoed), ``--tls-ca`` for a TLS server, ``--cert``/``--key`` for a
client certificate (e-lock gateways), ``--json`` for machine-readable output. A failed call
prints the status and every field violation, and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from central.api.errors import field_violations
from central.client import BearerInterceptor, open_channel

DEFAULT_SERVER = "127.0.0.1:50051"
CALL_TIMEOUT_S = 60.0  # a rule change re-scores open consignments before it answers
EXIT_RPC_ERROR = 1
EXIT_USAGE = 2


def add_connection_args(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    g = p.add_argument_group("connection")
    g.add_argument("--server", default=os.environ.get("ROCARS_SERVER", DEFAULT_SERVER), help="host:port")
    g.add_argument("--token", default=None, help="API token (default $ROCARS_TOKEN)")
    g.add_argument("--tls-ca", type=Path, help="CA certificate of a TLS server")
    g.add_argument("--server-name", help="TLS name to expect from the server (default: its host)")
    g.add_argument("--cert", type=Path, help="client certificate (e-lock gateways, lanes)")
    g.add_argument("--key", type=Path, help="client certificate's private key")
    g.add_argument("--timeout", type=float, default=CALL_TIMEOUT_S, help="seconds per call")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def channel(args: argparse.Namespace) -> grpc.Channel:
    raw = open_channel(
        args.server,
        tls_ca=args.tls_ca,
        client_cert=args.cert,
        client_key=args.key,
        server_name=args.server_name,
    )
    token = args.token or os.environ.get("ROCARS_TOKEN")
    return grpc.intercept_channel(raw, BearerInterceptor(token)) if token else raw


def to_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))


def run(func: Callable[[argparse.Namespace], int | None]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: RPC errors become a readable message and exit code 1."""

    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except grpc.RpcError as exc:
            code = exc.code().name if hasattr(exc, "code") else "UNKNOWN"  # type: ignore[attr-defined]
            details = exc.details() if hasattr(exc, "details") else str(exc)  # type: ignore[attr-defined]
            print(f"error: {code}: {details}", file=sys.stderr)
            for field, rule in field_violations(exc):
                print(f"  {field}: {rule}", file=sys.stderr)
            return EXIT_RPC_ERROR
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE

    return wrapped


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
