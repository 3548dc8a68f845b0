"""Traffic through a simulated checkpoint, and what the kiosks decided about it.

A truck is one ``TruckCase``: its plate and tag as the devices will present them, the
driver's card, and what a correct lane must decide (outcome and one reason code).
``LaneControl`` sends the technician commands of ``rocars-sim lane`` over its control
socket (JSON lines); ``JournalWatcher`` reads each kiosk's journal, the lane's own record
of every decision with its reasons, and finds the decision about a given arrival.

Kinds of truck (the issue's list):

- ``clear``      registered, bundled, cargo cleared, right driver card -> released
- ``inspect``    bundled cargo a rule selects (lithium batteries)     -> inspection
- ``unbundled``  registered truck with no trip bundled                -> referred, NO_TRIP
- ``unknown``    neither tag nor plate registered                     -> referred, TAG_UNKNOWN
- ``mismatch``   a registered tag on another registered truck         -> referred, TAG_PLATE_MISMATCH
- ``cloned``     bundled truck, driver's card cloned                  -> referred, CARD_REJECTED

A referred truck stays at the arm until an officer deals with it, so its lane is out of
service for the rest of a run unless the lane simulator can take the truck away (a
``leave`` command) - the scenario plans for that.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXPECTED: dict[str, tuple[str, str]] = {
    "clear": ("released", "VERDICT_CLEAR"),
    "inspect": ("inspection", "VERDICT_INSPECT"),
    "unbundled": ("referred", "NO_TRIP"),
    "unknown": ("referred", "TAG_UNKNOWN"),
    "mismatch": ("referred", "TAG_PLATE_MISMATCH"),
    "cloned": ("referred", "CARD_REJECTED"),
}
REFERRING = {"unbundled", "unknown", "mismatch", "cloned"}


class ControlError(RuntimeError):
    """The lane simulator refused a command or did not answer; the message says which."""


class LaneControl:
    """JSON-lines client of ``rocars-sim lane``'s control socket (one connection, reused)."""

    def __init__(self, path: Path, timeout: float = 5.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buf = b""

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            sock.connect(str(self.path))
            self._sock, self._buf = sock, b""
        return self._sock

    def send(self, cmd: str, **args: Any) -> dict[str, Any]:
        sock = self._connect()
        try:
            sock.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            while b"\n" not in self._buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlError(f"{cmd}: the lane simulator closed the control socket")
                self._buf += chunk
        except OSError as exc:
            self.close()
            raise ControlError(f"{cmd}: control socket {self.path}: {exc}") from exc
        line, _, self._buf = self._buf.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise ControlError(f"{cmd} {args}: {reply.get('error')}")
        return reply

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


def decisions(journal: Path) -> list[dict[str, Any]]:
    """Every crossing record in a kiosk journal, oldest first (with the line's ``n``)."""
    out: list[dict[str, Any]] = []
    try:
        text = journal.read_text("utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line, being written
        for command in entry.get("commands", ()) if isinstance(entry, dict) else ():
            if command.get("type") == "RecordCrossing":
                out.append({**command["record"], "n": entry.get("n")})
    return out


def reason_codes(record: dict[str, Any]) -> list[str]:
    return [str(r.get("code")) for r in record.get("reasons", ())]


@dataclass
class TruckCase:
    kind: str
    plate: str
    tag: str | None
    card: str = "good"
    lane: str = ""
    trip: str = ""
    record: dict[str, Any] | None = None  # the kiosk's decision
    arrived_at: float = 0.0
    decided_after_s: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def expected_outcome(self) -> str:
        return EXPECTED[self.kind][0]

    @property
    def expected_reason(self) -> str:
        return EXPECTED[self.kind][1]

    @property
    def outcome(self) -> str:
        return "no decision" if self.record is None else str(self.record.get("outcome"))

    @property
    def as_expected(self) -> bool:
        return (
            self.record is not None
            and self.outcome == self.expected_outcome
            and self.expected_reason in reason_codes(self.record)
        )

    def check(self) -> list[str]:
        """What is wrong with the decision, if anything (empty: as expected)."""
        if self.record is None:
            return [f"{self.kind} {self.plate}: no decision"]
        out = []
        if self.outcome != self.expected_outcome:
            out.append(
                f"{self.kind} {self.plate}: {self.outcome}, expected {self.expected_outcome} "
                f"(reasons {', '.join(reason_codes(self.record))})"
            )
        if self.expected_reason not in reason_codes(self.record):
            unread = "" if self.record.get("plate") else " (the camera did not read the plate)"
            out.append(
                f"{self.kind} {self.plate}: reasons {reason_codes(self.record)} lack {self.expected_reason}"
                + unread
            )
        return out


class LaneDriver:
    """Drives trucks through one lane: arrive, wait for the kiosk's decision, drive on."""

    def __init__(self, control: LaneControl, lane_id: str, journal: Path) -> None:
        self.control = control
        self.lane_id = lane_id
        self.journal = journal
        self.blocked_by: TruckCase | None = None  # a referred truck waiting for an officer

    def seen(self) -> int:
        return len(decisions(self.journal))

    def arrive(self, truck: TruckCase) -> int:
        """The truck pulls up; returns how many decisions the journal held before."""
        before = self.seen()
        truck.lane = self.lane_id
        truck.arrived_at = time.time()
        args: dict[str, Any] = {"lane": self.lane_id, "plate": truck.plate, "card": truck.card}
        if truck.tag:
            args["tag"] = truck.tag
        self.control.send("arrive", **args)
        return before

    def await_decision(self, truck: TruckCase, before: int, timeout: float = 30.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = decisions(self.journal)[before:]
            if found:
                truck.record = found[0]
                truck.decided_after_s = time.time() - truck.arrived_at
                truck.problems = truck.check()
                return truck.record
            time.sleep(0.05)
        truck.problems = [f"{truck.kind} {truck.plate}: no decision within {timeout:g} s"]
        return None

    def finish(self, truck: TruckCase, timeout: float = 30.0) -> bool:
        """Released or sent to inspection: drive through until the lane is empty again.
        Referred: the truck leaves only if the simulator can take it away; else the lane
        is blocked (False)."""
        if truck.outcome in ("released", "inspection", "officer_override"):
            self.control.send("drive", lane=self.lane_id)
            return self.wait_empty(timeout)
        try:
            self.control.send("leave", lane=self.lane_id)
        except ControlError:
            self.blocked_by = truck
            return False
        return self.wait_empty(timeout)

    def wait_empty(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.control.send("state", lane=self.lane_id)["state"]
            if state["truck"] is None and state["barrier"] == 0.0:
                return True
            time.sleep(0.1)
        return False

    def run(self, truck: TruckCase, timeout: float = 30.0) -> TruckCase:
        before = self.arrive(truck)
        if self.await_decision(truck, before, timeout) is not None:
            self.finish(truck, timeout)
        return truck
