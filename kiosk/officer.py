"""The officer at the kiosk: a local Unix socket taking officers' actions on a lane.

``[officer] socket = "..."`` in a lane's config opens it (lanes of one process that name
the same path share one socket; a request then names its lane). One JSON object a line:

    {"action": "release" | "inspect" | "reset", "badge": "B1234", "reason": "...", "lane": "..."}

Each becomes the lane machine's ``OfficerAction`` event, journaled like every event; a
release or inspection is a decision (outbox record ``officer_override``, before the arm
moves). The reply says what the lane made of it::

    {"ok": true, "lane": "...", "applied": true, "outcome": "officer_override", "phase": "released"}
    {"ok": false, "error": "badge: must be 1-32 letters, digits or '-' (got '')"}

``applied`` is false when there was nothing to act on (no truck waiting for a decision;
for a reset, no truck at all).
The socket is mode 0660: the kiosk's user and group only; the peer's uid is logged with
each action. ``rocars-kiosk officer --socket PATH release|inspect|reset --badge B
--reason TEXT`` is the client.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanes.commands import RecordCrossing
from lanes.events import OfficerAction, OfficerCommand

log = logging.getLogger(__name__)

BADGE = re.compile(r"[A-Za-z0-9-]{1,32}")
REASON_MAX = 500
REPLY_TIMEOUT_S = 5.0
MAX_LINE = 4096


class OfficerRequestError(ValueError):
    """A malformed officer request; the message names the field and the rule."""


def parse_request(raw: object, lanes: list[str]) -> tuple[str, OfficerCommand, str, str]:
    """(lane, action, badge, reason) from one request, or the first broken rule."""
    if not isinstance(raw, dict):
        raise OfficerRequestError("request: must be a JSON object")
    unknown = sorted(set(raw) - {"action", "badge", "reason", "lane"})
    if unknown:
        raise OfficerRequestError(f"{unknown[0]}: unknown field")
    action = raw.get("action")
    try:
        command = OfficerCommand(str(action))
    except ValueError:
        raise OfficerRequestError(
            f"action: must be one of {', '.join(c.value for c in OfficerCommand)} (got {action!r})"
        ) from None
    badge = raw.get("badge")
    if not isinstance(badge, str) or not BADGE.fullmatch(badge):
        raise OfficerRequestError(f"badge: must be 1-32 letters, digits or '-' (got {badge!r})")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise OfficerRequestError("reason: required, a non-empty text saying why")
    if len(reason) > REASON_MAX or any(ord(ch) < 32 for ch in reason):
        raise OfficerRequestError(f"reason: at most {REASON_MAX} characters, no control characters")
    lane = raw.get("lane")
    if lane is None:
        if len(lanes) != 1:
            raise OfficerRequestError(f"lane: required, this socket serves {', '.join(lanes)}")
        lane = lanes[0]
    if lane not in lanes:
        raise OfficerRequestError(f"lane: unknown lane {lane!r} (this socket serves {', '.join(lanes)})")
    return str(lane), command, badge, reason.strip()


# runner.submit(make_event, timeout) -> (commands, phase before, phase after): LaneRunner.submit
Submit = Callable[[Callable[[float], OfficerAction], float], tuple[tuple[Any, ...], str, str]]


class OfficerServer:
    """The socket of one process, serving the lanes that named it."""

    def __init__(self, path: Path, lanes: dict[str, Submit]) -> None:
        self.path = path
        self.lanes = lanes
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> None:
        server_self = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 60.0  # an idle officer's connection is dropped

            def handle(self) -> None:
                uid = _peer_uid(self.request)
                while True:
                    try:
                        raw = self.rfile.readline(MAX_LINE)
                    except OSError:
                        return
                    if not raw:
                        return
                    reply = server_self.handle_line(raw, uid)
                    try:
                        self.wfile.write(json.dumps(reply, ensure_ascii=False).encode() + b"\n")
                        self.wfile.flush()
                    except OSError:
                        return

        with contextlib.suppress(FileNotFoundError):
            if self.path.is_socket():
                self.path.unlink()  # left by a killed kiosk
        old = os.umask(0o117)  # created 0660, never briefly wider
        try:
            server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        finally:
            os.umask(old)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                         name="officer-socket", daemon=True).start()
        log.info("officer socket %s for lane(s) %s", self.path, ", ".join(self.lanes))

    def handle_line(self, raw: bytes, uid: int | None) -> dict[str, Any]:
        try:
            try:
                request = json.loads(raw)
            except ValueError as exc:
                raise OfficerRequestError(f"request: not JSON ({exc})") from None
            lane, command, badge, reason = parse_request(request, sorted(self.lanes))
        except OfficerRequestError as exc:
            return {"ok": False, "error": str(exc)}
        log.warning("lane %s: officer %s (uid %s) asks %s: %s", lane, badge, uid, command, reason)
        try:
            commands, before, phase = self.lanes[lane](
                lambda at: OfficerAction(at, badge, command, reason), REPLY_TIMEOUT_S
            )
        except TimeoutError:
            return {"ok": False, "error": f"lane {lane}: no answer within {REPLY_TIMEOUT_S:g} s"}
        records = [c.record for c in commands if isinstance(c, RecordCrossing)]
        # A reset forgets the vehicle there was; one still on the arming loop is then
        # identified afresh (phase "identifying" again).
        applied = bool(records) or (command is OfficerCommand.RESET and before != "idle")
        reply: dict[str, Any] = {"ok": True, "lane": lane, "applied": applied, "phase": phase}
        if records:
            reply["outcome"] = str(records[0].outcome)
            reply["key"] = records[0].idempotency_key
        return reply

    def stop(self) -> None:
        """Safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _peer_uid(sock: socket.socket) -> int | None:
    with contextlib.suppress(OSError, AttributeError):
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", creds)[1])
    return None


# --- the client: rocars-kiosk officer --------------------------------------------------------


def send(path: Path, request: dict[str, Any], timeout: float = REPLY_TIMEOUT_S + 2) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the kiosk closed the officer socket without a reply")
            buf += chunk
    reply: dict[str, Any] = json.loads(buf.partition(b"\n")[0])
    return reply


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "officer",
        help="an officer's action on a lane: release, send to inspection, or reset",
        description="Send an officer's action to a running kiosk over its officer socket.",
    )
    parser.add_argument("action", choices=[c.value for c in OfficerCommand])
    parser.add_argument("--socket", required=True, type=Path, help="the kiosk's [officer] socket")
    parser.add_argument("--badge", required=True, help="the officer's badge number")
    parser.add_argument("--reason", required=True, help="why (recorded with the decision)")
    parser.add_argument("--lane", help="lane id, when the socket serves several lanes")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"action": args.action, "badge": args.badge, "reason": args.reason}
    if args.lane:
        request["lane"] = args.lane
    try:
        reply = send(args.socket, request)
    except (OSError, ValueError) as exc:
        print(f"rocars-kiosk officer: {args.socket}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply, ensure_ascii=False))
    if not reply.get("ok"):
        return 2
    return 0 if reply.get("applied") else 3
