"""What every network subcommand of ``rocars`` shares: connection options, the token,
time parsing, output (human by default, ``--json``), and error printing."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from central.api.errors import field_violations
from central.client import Stubs, open_channel, stubs_for

HONG_KONG = timezone(timedelta(hours=8), "HKT")  # no daylight saving time
DEFAULT_SERVER = "127.0.0.1:50051"
EXIT_USAGE, EXIT_RPC = 2, 1


def add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection")
    g.add_argument(
        "--server",
        default=os.environ.get("ROCARS_SERVER", DEFAULT_SERVER),
        help="host:port of rocars-central (default $ROCARS_SERVER or %(default)s)",
    )
    g.add_argument(
        "--token",
        default=None,
        help="API token (default $ROCARS_TOKEN); prefer the variable: "
        "command lines are visible to other users",
    )
    g.add_argument(
        "--tls-ca",
        type=Path,
        default=os.environ.get("ROCARS_TLS_CA") or None,
        help="CA certificate to verify the server (turns TLS on)",
    )
    g.add_argument("--tls", action="store_true", help="TLS with the system's trusted CAs")
    g.add_argument("--timeout", type=float, default=15.0, help="seconds per call (default %(default)s)")
    p.add_argument("--json", action="store_true", help="machine-readable output (JSON)")


def connect(args: argparse.Namespace) -> Stubs:
    token = args.token or os.environ.get("ROCARS_TOKEN")
    if not token:
        raise CliError("no API token: set ROCARS_TOKEN or pass --token")
    channel = open_channel(args.server, tls_ca=args.tls_ca, tls=args.tls)
    return stubs_for(channel, token)


class CliError(Exception):
    """A usage problem found before any call (exit code 2)."""


def parse_time(text: str, field: str = "time") -> datetime:
    """ISO 8601 (``2031-03-03T10:30+08:00``, ``...Z``; without an offset: Hong Kong
    time), or relative to now: ``+90m``, ``+2h``, ``+3d``."""
    text = text.strip()
    rel = re.fullmatch(r"\+(\d+)([mhd])", text)
    if rel:
        amount, unit = int(rel.group(1)), rel.group(2)
        delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[
            unit
        ]
        return datetime.now(UTC) + delta
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"{field}: {text!r} is not a time like 2031-03-03T10:30+08:00 or +2h") from exc
    return when.replace(tzinfo=HONG_KONG) if when.tzinfo is None else when


def show_time(when: datetime) -> str:
    return when.astimezone(HONG_KONG).strftime("%Y-%m-%d %H:%M HKT")


def to_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def emit(args: argparse.Namespace, message: Message | dict[str, Any], human: Callable[[], object]) -> None:
    if args.json:
        data = to_dict(message) if isinstance(message, Message) else message
        print(json.dumps(data, ensure_ascii=False, sort_keys=True))
    else:
        human()


def describe_error(error: grpc.RpcError) -> tuple[str, list[tuple[str, str]]]:
    code = error.code()  # type: ignore[attr-defined]
    details = error.details() or ""  # type: ignore[attr-defined]
    return f"{code.name if code else 'UNKNOWN'}: {details}", field_violations(error)


def print_error(error: grpc.RpcError, as_json: bool) -> None:
    summary, violations = describe_error(error)
    if as_json:
        print(
            json.dumps(
                {"error": summary, "field_violations": [{"field": f, "rule": r} for f, r in violations]}
            ),
            file=sys.stderr,
        )
        return
    if violations:
        print("rocars: the request was refused:", file=sys.stderr)
        for field, rule in violations:
            print(f"  - {field}: {rule}", file=sys.stderr)
    else:
        print(f"rocars: {summary}", file=sys.stderr)


def run_command(func: Callable[[argparse.Namespace, Stubs], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: connect, run, turn errors into messages and exit codes."""

    def runner(args: argparse.Namespace) -> int:
        try:
            stubs = connect(args)
        except CliError as exc:
            print(f"rocars: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            return func(args, stubs)
        except CliError as exc:
            print(f"rocars: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except grpc.RpcError as exc:
            print_error(exc, args.json)
            return EXIT_RPC
        finally:
            stubs.close()

    return runner


def enum_value(enum_type: Any, name: str, field: str) -> Any:
    """``import`` -> Direction.IMPORT etc.; a clear error names the choices."""
    key = name.strip().upper().replace("-", "_")
    try:
        return int(enum_type.Value(key))
    except ValueError as exc:
        names = enum_type.keys()  # an EnumTypeWrapper, not a dict
        choices = [n.lower() for n in names if not n.endswith("UNSPECIFIED")]
        raise CliError(f"{field}: {name!r} is not one of {', '.join(choices)}") from exc


def enum_name(enum_type: Any, value: int) -> str:
    try:
        return str(enum_type.Name(value)).lower().replace("_", " ")
    except ValueError:
        return str(value)


def command_adder(
    cmds: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> Callable[[str, str, Callable[[argparse.Namespace, Stubs], int]], argparse.ArgumentParser]:
    """``add(name, help, func)``: a subcommand of ``cmds`` with the connection options,
    running ``func`` through ``run_command``."""

    def add(
        name: str, help_text: str, func: Callable[[argparse.Namespace, Stubs], int]
    ) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_text)
        add_connection_options(p)
        p.set_defaults(func=run_command(func))
        return p

    return add
