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

A referred truck stays at the arm until an officer deals with it: ``officer`` on its case
says how. ``release`` or ``inspect``: an officer's action on the kiosk's officer socket
(``[officer] socket``, JSON lines), recorded as an ``officer_override`` decision, then the
truck drives on; none: the truck is turned away and reverses out (the lane simulator's
``leave``). Either way the lane takes the next truck.
"""

from __future__ import annotations

import contextlib
import gzip
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
OFFICER_BADGE = "CP0001"
# What the officer does about each referral (absent: the truck is turned away).
OFFICER_ACTIONS: dict[str, tuple[str, str]] = {
    "mismatch": ("release", "tag and plate checked by hand: the tag is to be replaced"),
    "unbundled": ("inspect", "no trip bundled: cargo to be examined at the bay"),
}


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


def _journal_texts(journal: Path) -> list[str]:
    """The kiosk's rotated journal files (``LANE.000042.jsonl``, gzip'd or not), oldest
    first, then the current one: counting decisions by position must not restart when
    the kiosk rotates its journal. (The naming is the kiosk's; this package may not
    import it.)"""
    numbered: list[tuple[int, Path]] = []
    for path in journal.parent.glob(f"{journal.stem}.*.jsonl*"):
        number = path.name[len(journal.stem) + 1 :].split(".", 1)[0]
        if number.isdigit() and path.name.endswith((".jsonl", ".jsonl.gz")):
            numbered.append((int(number), path))
    texts: list[str] = []
    for _, path in sorted(numbered):
        try:
            raw = path.read_bytes()
            texts.append((gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8"))
        except (OSError, EOFError, gzip.BadGzipFile):
            continue  # being compressed or removed right now; the next look sees it
    with contextlib.suppress(OSError):
        texts.append(journal.read_text("utf-8"))
    return texts


def decisions(journal: Path) -> list[dict[str, Any]]:
    """Every crossing record in a kiosk journal and its rotated files, oldest first (with
    the line's ``n``)."""
    out: list[dict[str, Any]] = []
    for line in "\n".join(_journal_texts(journal)).splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line, being written
        for command in entry.get("commands", ()) if isinstance(entry, dict) else ():
            if command.get("type") == "RecordCrossing":
                out.append({**command["record"], "n": entry.get("n")})
    return out


def last_message(journal: Path) -> str | None:
    """The code of the last message the kiosk put on the driver display (e.g. WELCOME)."""
    try:
        lines = journal.read_text("utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        for command in reversed(entry.get("commands", ()) if isinstance(entry, dict) else ()):
            if command.get("type") == "ShowMessage":
                return str(command.get("code"))
    return None


def officer_request(path: Path, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One officer action on a kiosk's officer socket (``rocars-kiosk officer`` does the same)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlError(f"officer socket {path}: closed without a reply")
                buf += chunk
        except OSError as exc:
            raise ControlError(f"officer socket {path}: {exc}") from exc
    reply: dict[str, Any] = json.loads(buf.partition(b"\n")[0])
    return reply


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
    officer: str | None = None  # a referral cleared by an officer: release | inspect
    override: dict[str, Any] | None = None  # the officer's decision (officer_override)
    turned_away: bool = False  # a referral that reversed out

    @property
    def afterwards(self) -> str:
        """What became of a referral: the officer's override, or the truck turned away."""
        if self.override is not None:
            return f"officer {self.officer or '?'} ({self.override.get('officer_id')})"
        return "turned away (reversed out)" if self.turned_away else ""

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

    def __init__(
        self, control: LaneControl, lane_id: str, journal: Path, officer_socket: Path | None = None
    ) -> None:
        self.control = control
        self.lane_id = lane_id
        self.journal = journal
        self.officer_socket = officer_socket
        self.blocked_by: TruckCase | None = None  # a referred truck no one could clear

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
        Referred: an officer releases it or sends it to inspection (then it drives), or it
        is turned away and reverses out; the lane is blocked (False) if neither works."""
        if truck.outcome == "referred":
            try:
                if truck.officer is not None and self.officer_socket is not None:
                    self.override(truck, timeout)
                else:
                    self.control.send("leave", lane=self.lane_id)
                    truck.turned_away = True
            except ControlError as exc:
                truck.problems.append(f"{truck.kind} {truck.plate}: not cleared: {exc}")
                self.blocked_by = truck
                return False
        if truck.outcome in ("released", "inspection") or truck.override is not None:
            self.control.send("drive", lane=self.lane_id)
        return self.wait_empty(timeout) and self.wait_idle(timeout)

    def override(self, truck: TruckCase, timeout: float) -> None:
        """The officer's action at the kiosk; its decision is the journal's next record."""
        assert truck.officer is not None and self.officer_socket is not None
        before = self.seen()
        note = OFFICER_ACTIONS.get(truck.kind, (truck.officer, "officer's decision"))[1]
        reply = officer_request(
            self.officer_socket,
            {"action": truck.officer, "badge": OFFICER_BADGE, "reason": note, "lane": self.lane_id},
        )
        if not reply.get("ok") or not reply.get("applied"):
            raise ControlError(f"officer {truck.officer}: {reply.get('error') or 'not applied'}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = decisions(self.journal)[before:]
            if found:
                truck.override = found[0]
                if found[0].get("outcome") != "officer_override":
                    truck.problems.append(f"{truck.kind} {truck.plate}: officer action gave {found[0]}")
                return
            time.sleep(0.05)
        raise ControlError(f"officer {truck.officer}: no decision journaled within {timeout:g} s")

    def wait_idle(self, timeout: float) -> bool:
        """Until the kiosk welcomes the next truck (a truck that reversed out is gone only
        after the loops have been clear for the lane's vacate time)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if last_message(self.journal) == "WELCOME":
                return True
            time.sleep(0.1)
        return False

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
