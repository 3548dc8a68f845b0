"""The technician's live view of a simulated checkpoint, from outside the kiosks.

Per lane: the lane's phase, device health, cache staleness and outbox depth from the
kiosk's Prometheus endpoint, and the last decisions with their reasons from its journal.
On a terminal it is a ``rich`` live table; otherwise (a log, CI) plain lines, one per
decision and per change of health, so the output stays readable when piped.
"""

from __future__ import annotations

import math
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from simulators.scenario import decisions, reason_codes
from simulators.stack import samples, scrape

DEVICES = ("rfid", "io", "card", "camera")
COLOURS = {"released": "green", "inspection": "yellow", "referred": "red", "officer_override": "cyan"}


@dataclass
class LaneView:
    lane_id: str
    phase: str = "?"
    devices: dict[str, bool] = field(default_factory=dict)
    staleness_s: float | None = None
    outbox: float | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    kiosk_up: bool = False

    def health(self) -> str:
        if not self.kiosk_up:
            return "kiosk down"
        bad = [d for d in DEVICES if self.devices.get(d) is False]
        return "ok" if not bad else "FAULT " + ",".join(bad)

    def staleness(self) -> str:
        if self.staleness_s is None:
            return "?"
        return "never" if math.isinf(self.staleness_s) else f"{self.staleness_s:.0f}s"


def read_lane(lane_id: str, metrics_port: int, journal: Path) -> LaneView:
    view = LaneView(lane_id, decisions=decisions(journal))
    try:
        text = scrape(metrics_port, timeout=1.0)
    except OSError:
        return view
    view.kiosk_up = True
    for labels, value in samples(text, "rocars_kiosk_lane_phase"):
        if labels.get("lane") == lane_id and value == 1:
            view.phase = labels.get("phase", "?")
    for labels, value in samples(text, "rocars_kiosk_device_available"):
        if labels.get("lane") == lane_id:
            view.devices[labels.get("device", "?")] = value == 1
    for labels, value in samples(text, "rocars_kiosk_cache_staleness_seconds"):
        if labels.get("lane") == lane_id:
            view.staleness_s = value
    for labels, value in samples(text, "rocars_kiosk_outbox_depth"):
        if labels.get("lane") == lane_id:
            view.outbox = value
    return view


def describe(record: dict[str, Any]) -> str:
    plate = record.get("plate") or record.get("registration_mark") or "?"
    mark = record.get("registration_mark")
    seen = f"{plate} (tag of {mark})" if mark and mark != plate else plate
    return f"{seen} {record.get('outcome')} ({', '.join(reason_codes(record))})"


class LiveView:
    """Refreshes in its own thread; ``note()`` adds a line to the status bar / output."""

    def __init__(
        self, lanes: dict[str, tuple[int, Path]], *, console: Console | None = None, interval: float = 0.5
    ) -> None:
        self.lanes = lanes
        self.console = console or Console()
        self.interactive = self.console.is_terminal and sys.stdout.isatty()
        self.interval = interval
        self.status = "starting"
        self.notes: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._printed: dict[str, int] = {}
        self._health: dict[str, str] = {}

    def note(self, text: str) -> None:
        self.status = text
        self.notes.append(text)
        if not self.interactive:
            print(f"== {text}", flush=True)

    def table(self) -> Table:
        table = Table(title=f"ROCARS simulated checkpoint - {self.status}", expand=True)
        for column in (
            "lane",
            "phase",
            "devices",
            "cache",
            "outbox",
            "decisions",
            "last decisions (reasons)",
        ):
            table.add_column(column)
        for lane_id, (port, journal) in self.lanes.items():
            v = read_lane(lane_id, port, journal)
            last = "\n".join(
                f"[{COLOURS.get(str(r.get('outcome')), 'white')}]{describe(r)}[/]" for r in v.decisions[-3:]
            )
            table.add_row(
                lane_id,
                v.phase,
                v.health(),
                v.staleness(),
                "?" if v.outbox is None else f"{v.outbox:.0f}",
                str(len(v.decisions)),
                last or "-",
            )
        return table

    def _plain_once(self) -> None:
        for lane_id, (port, journal) in self.lanes.items():
            v = read_lane(lane_id, port, journal)
            for record in v.decisions[self._printed.get(lane_id, 0) :]:
                print(f"{lane_id}: {describe(record)}", flush=True)
            self._printed[lane_id] = len(v.decisions)
            outbox = "?" if v.outbox is None else str(int(v.outbox))
            health = f"{v.health()}, cache {v.staleness()}, outbox {outbox}"
            if self._health.get(lane_id, "").split(",")[0] != health.split(",")[0]:
                print(f"{lane_id}: {health}", flush=True)
            self._health[lane_id] = health

    def _run(self) -> None:
        if self.interactive:
            with Live(self.table(), console=self.console, refresh_per_second=4, transient=False) as live:
                while not self._stop.wait(self.interval):
                    live.update(self.table())
                live.update(self.table())
        else:
            while not self._stop.wait(self.interval):
                self._plain_once()
            self._plain_once()

    def start(self) -> LiveView:
        self._thread = threading.Thread(target=self._run, name="live-view", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Safe to call twice."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
