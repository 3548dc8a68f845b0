"""A whole simulated lane (or several): RFID reader, I/O module, card reader, plate camera.

``LaneSimulation(directory, lanes=N).start()`` brings up, per lane, the RFID reader and
the I/O module on pseudo-terminals (behind stable links ``DIR/lane-<id>-rfid`` and
``-io``), a vpcd card slot on a private pcscd (one per two lanes), and an HTTP MJPEG
plate camera, then writes ``DIR/lane-<id>.toml`` in the shape the kiosk reads as is, and
``DIR/lanes.json`` (lane ids -> config files, control socket, card labels and what each
card's identity record says) last, when all is ready. ``card_dir`` (``--cards DIR``) adds
the driver cards of ``python -m simulators.card drivers DIR`` and trusts their issuer.

Technician commands (``handle``; the same over the JSON-lines control socket and the
interactive prompt of ``rocars-sim lane``) take a ``lane`` (default: the first):

    arrive plate= tag= [card=good] [length=12] [speed=3]   a truck pulls up at the kiosk
    insert_card card=LABEL | pull_card | pull_card_mid_command [ins=0x88]
    drive                                        the truck drives through when the arm lets it
    leave                                        the truck reverses out (turned away): tag out of
                                                 the field, card pulled, camera clear, loops clear
    fault device=rfid|io kind=garbage|bad_checksum|silence|unplug|replug|antenna [seconds= count=]
    fault device=camera kind=stall|drop [seconds=]
    loop name=safety_loop occupied=true|false|none
    state | lanes | quit
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import socketserver
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulators.io_module import IoModuleSim, Truck
from simulators.rfid import RfidReaderSim

log = logging.getLogger(__name__)

RFID_ADDRESS = 1
IO_UNIT = 1
RFID_BAUD = 115200  # the devices' wire time is modelled at these rates
IO_BAUD = 19200


class LaneCommandError(ValueError):
    """A technician command is malformed; the message names the field and the rule."""


def _optional(module: str, flag: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"{module} is missing ({exc}); start without it with {flag}") from exc


@dataclass
class Lane:
    lane_id: str
    rfid: RfidReaderSim
    io: IoModuleSim
    config_path: Path
    camera: Any = None  # simulators.camera_stream.MjpegCameraServer
    card_slot: Any = None  # simulators.card.VirtualCardServer
    reader_name: str | None = None
    tag: str | None = None
    # Scene changes (tag, plate on camera, card) run here, in order, off the I/O module's
    # thread: rendering a camera scene can take a second on a busy host, and an I/O module
    # that stops answering Modbus meanwhile is a fault the kiosk rightly reports.
    scene: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "lane-scene"))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def render_toml(tables: dict[str, dict[str, object]]) -> str:
    out: list[str] = ["# Written by rocars-sim lane: the simulated devices of this lane."]
    for name, table in tables.items():
        out.append(f"\n[{name}]")
        out += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(out) + "\n"


class LaneSimulation:
    def __init__(
        self,
        directory: Path,
        *,
        lanes: int = 1,
        control_point: str = "LMC",
        direction: str = "import",
        card: bool = True,
        camera: bool = True,
        motion_time: float = 1.0,
        seed: int = 0,
        card_dir: Path | None = None,
    ) -> None:
        if not 1 <= lanes <= 32:
            raise ValueError(f"lanes must be 1..32 (got {lanes})")
        if direction not in ("import", "export"):
            raise ValueError(f"direction must be import or export (got {direction!r})")
        self.directory = Path(directory)
        self.control_point = control_point
        self.direction = direction
        self.lane_ids = [f"{control_point}-{direction[0].upper()}-{n:02d}" for n in range(1, lanes + 1)]
        self.motion_time = motion_time
        self.seed = seed
        self._card_mod = _optional("simulators.card", "--no-card") if card else None
        self._pcscd_mod = _optional("simulators.pcscd", "--no-card") if card else None
        self._camera_mod = _optional("simulators.camera_stream", "--no-camera") if camera else None
        self.lanes: dict[str, Lane] = {}
        self.cards: dict[str, Any] = {}
        self.issuer_pem: Path | None = None
        self.card_dir = card_dir  # more driver cards (python -m simulators.card drivers DIR)
        self.more_issuers: list[Path] = []
        self.pcscds: list[Any] = []  # simulators.pcscd.Pcscd
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self.control_socket = self.directory / "control.sock"
        self.stopped = threading.Event()  # set by "quit" or close()
        self.closed = False

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> LaneSimulation:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            if self._card_mod is not None and self._pcscd_mod is not None:
                paths = self._card_mod.write_standard_set(self.directory / "cards")
                self.issuer_pem = paths.pop("issuer")
                self.cards = {label: self._card_mod.load_card(p) for label, p in paths.items()}
                if self.card_dir is not None:
                    self._load_more_cards(self.card_dir)
                # one pcscd serves two lanes (vpcd's two slots); more lanes, more pcscds
                for k in range((len(self.lane_ids) + 1) // 2):
                    pcscd = self._pcscd_mod.Pcscd(self.directory / f"pcscd-{k}", "ROCARS vpcd")
                    self.pcscds.append(pcscd)
                    pcscd.start()
            for n, lane_id in enumerate(self.lane_ids):
                self.lanes[lane_id] = self._start_lane(n, lane_id)
            self._serve_control()
            summary = {
                "lanes": {lid: str(lane.config_path) for lid, lane in self.lanes.items()},
                "control_socket": str(self.control_socket),
                "cards": sorted(self.cards),
                "holders": self.card_holders(),
            }
            (self.directory / "lanes.json").write_text(json.dumps(summary, indent=2) + "\n")
        except BaseException:
            self.close()
            raise
        return self

    def _load_more_cards(self, directory: Path) -> None:
        assert self._card_mod is not None
        issuer_pem, more = self._card_mod.load_card_directory(directory)
        clash = sorted(set(more) & set(self.cards))
        if clash:
            raise ValueError(f"cards: {directory} has label(s) {', '.join(clash)} of the standard set")
        self.cards.update(more)
        self.more_issuers.append(issuer_pem)

    def card_holders(self) -> dict[str, dict[str, str]]:
        """Per card label, what its identity record says (for seeding central's drivers)."""
        from drivers.card.application import Identity  # the card's own codec: one codec, two ends

        out = {}
        for label, profile in sorted(self.cards.items()):
            identity = Identity.decode(profile.identity_record)
            out[label] = {
                "card_number": identity.card_number,
                "document_number": identity.document_number,
                "name": identity.name,
                "expiry": identity.expiry.isoformat(),
            }
        return out

    def _start_lane(self, n: int, lane_id: str) -> Lane:
        on_left = self._truck_left_handler(lane_id)
        rfid_link = str(self.directory / f"lane-{lane_id}-rfid")
        rfid = RfidReaderSim(rfid_link, address=RFID_ADDRESS, seed=self.seed + n, baudrate=RFID_BAUD)
        io = IoModuleSim(
            str(self.directory / f"lane-{lane_id}-io"),
            unit=IO_UNIT,
            motion_time=self.motion_time,
            seed=self.seed + n,
            on_truck_left=on_left,
            baudrate=IO_BAUD,
        )
        lane = Lane(lane_id, rfid.start(), io.start(), self.directory / f"lane-{lane_id}.toml")
        tables: dict[str, dict[str, object]] = {
            "lane": {"id": lane_id, "control_point": self.control_point, "direction": self.direction},
            "devices.rfid": {"url": rfid.path, "baudrate": RFID_BAUD, "reader_address": RFID_ADDRESS},
            "devices.io": {"url": io.path, "baudrate": IO_BAUD, "unit": IO_UNIT, "watchdog_ms": 2000},
        }
        if self.pcscds and self._card_mod is not None:
            pcscd = self.pcscds[n // 2]
            slot = pcscd.slots[n % 2]
            lane.card_slot = self._card_mod.VirtualCardServer("127.0.0.1", slot.port)
            lane.reader_name = slot.reader
            tables["devices.card"] = {
                "reader": slot.reader,
                "issuer_public_keys": [str(self.issuer_pem), *map(str, self.more_issuers)],
                "pcsc_socket": str(pcscd.socket_path),
            }
        if self._camera_mod is not None:
            lane.camera = self._camera_mod.MjpegCameraServer("127.0.0.1", 0, seed=self.seed + n)
            tables["devices.camera"] = {"url": lane.camera.url}
        lane.config_path.write_text(render_toml(tables))
        return lane

    def close(self) -> None:
        """Stop every device and the control socket; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with contextlib.suppress(FileNotFoundError):
                self.control_socket.unlink()
        for lane in self.lanes.values():
            lane.scene.shutdown(wait=True, cancel_futures=True)
            for device in (lane.card_slot, lane.camera, lane.rfid, lane.io):
                if device is not None:
                    with contextlib.suppress(Exception):
                        device.close()
        self.lanes.clear()
        for pcscd in self.pcscds:
            pcscd.stop()
        self.pcscds.clear()
        self.stopped.set()
        self.closed = True

    def __enter__(self) -> LaneSimulation:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- scenario glue ---------------------------------------------------------------------------

    def _truck_left_handler(self, lane_id: str) -> Any:
        def left(truck: Truck) -> None:  # called in the I/O module's thread: must not block it
            lane = self.lanes.get(lane_id)
            if lane is not None:
                with contextlib.suppress(RuntimeError):  # the simulation is closing
                    lane.scene.submit(self._truck_gone, lane)

        return left

    @staticmethod
    def _truck_here(lane: Lane, plate: str, tag: str | None, card: Any) -> None:
        if tag:
            lane.rfid.tag_enter(tag)
            lane.tag = tag.upper()
        if plate and lane.camera is not None:
            lane.camera.show_vehicle(plate)
        if card is not None:
            lane.card_slot.insert(card)

    @staticmethod
    def _truck_gone(lane: Lane) -> None:
        """Whichever way the truck went, it took its tag, its plate and the driver's card."""
        if lane.tag:
            lane.rfid.tag_leave(lane.tag)
            lane.tag = None
        if lane.camera is not None:
            lane.camera.clear()
        if lane.card_slot is not None:
            lane.card_slot.remove()

    # --- technician commands ----------------------------------------------------------------------

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """Run one command; returns {"ok": true, ...} or {"ok": false, "error": "..."}."""
        try:
            return {"ok": True, **self._dispatch(command)}
        except (LaneCommandError, RuntimeError, ValueError, KeyError) as exc:
            return {"ok": False, "error": str(exc)}

    def _lane(self, command: dict[str, Any]) -> Lane:
        lane_id = command.get("lane") or self.lane_ids[0]
        if lane_id not in self.lanes:
            raise LaneCommandError(f"lane: unknown lane {lane_id!r} (have {', '.join(self.lane_ids)})")
        return self.lanes[lane_id]

    def _card(self, label: object) -> Any:
        if not self.cards:
            raise LaneCommandError("card: this simulation runs without a card reader (--no-card)")
        if label not in self.cards:
            raise LaneCommandError(f"card: unknown card {label!r} (have {', '.join(sorted(self.cards))})")
        return self.cards[label]

    def _dispatch(self, c: dict[str, Any]) -> dict[str, Any]:
        cmd = c.get("cmd")
        if cmd == "quit":
            self.stopped.set()  # the process running the simulation closes it
            return {}
        if cmd == "lanes":
            return {"lanes": {lid: str(lane.config_path) for lid, lane in self.lanes.items()}}
        lane = self._lane(c)
        if cmd == "arrive":
            plate, tag = str(c.get("plate", "")), c.get("tag")
            card = self._card(c["card"]) if c.get("card") else None
            length = _number(c, "length", 12.0, 2.0, 25.0)
            lane.io.arrive(plate, length=length, speed=_number(c, "speed", 3.0, 0.5, 30.0))
            lane.scene.submit(self._truck_here, lane, plate, str(tag) if tag else None, card).result(30)
        elif cmd == "insert_card":
            self._card_slot(lane).insert(self._card(c.get("card", "good")))
        elif cmd == "pull_card":
            self._card_slot(lane).remove()
        elif cmd == "pull_card_mid_command":
            ins = c.get("ins")
            self._card_slot(lane).pull_mid_command(int(str(ins), 0) if ins is not None else None)
        elif cmd == "drive":
            lane.io.drive_through()
        elif cmd == "leave":
            lane.io.reverse_out()
            lane.scene.submit(self._truck_gone, lane).result(30)
        elif cmd == "fault":
            self._fault(lane, c)
        elif cmd == "loop":
            occupied = c.get("occupied")
            lane.io.set_loop(str(c.get("name")), None if occupied in (None, "none") else _bool(occupied))
        elif cmd != "state":
            raise LaneCommandError(f"cmd: unknown command {cmd!r}")
        return {"state": self.state(lane)}

    def _card_slot(self, lane: Lane) -> Any:
        if lane.card_slot is None:
            raise LaneCommandError("card: this simulation runs without a card reader (--no-card)")
        return lane.card_slot

    def _fault(self, lane: Lane, c: dict[str, Any]) -> None:
        device, kind = c.get("device"), c.get("kind")
        seconds = _number(c, "seconds", 2.0, 0.0, 3600.0)
        count = int(_number(c, "count", 3, 1, 1000))
        if device in ("rfid", "io"):
            sim: RfidReaderSim | IoModuleSim = lane.rfid if device == "rfid" else lane.io
            if kind == "garbage":
                sim.inject_garbage(count * 16)
            elif kind == "bad_checksum":
                if device == "rfid":
                    lane.rfid.corrupt_checksums(count)
                else:
                    lane.io.corrupt_crcs(count)
            elif kind == "silence":
                sim.silence(seconds)
            elif kind == "unplug":
                sim.unplug()
            elif kind == "replug":
                sim.replug()
            elif kind == "antenna" and device == "rfid":
                lane.rfid.antenna_missing = _bool(c.get("missing", True))
            else:
                raise LaneCommandError(f"kind: {kind!r} is not a fault of the {device} device")
        elif device == "camera":
            if lane.camera is None:
                raise LaneCommandError("device: this simulation runs without a camera (--no-camera)")
            if kind == "stall":
                lane.camera.stall(seconds)
            elif kind == "drop":
                lane.camera.drop_connections(seconds)
            else:
                raise LaneCommandError(f"kind: {kind!r} is not a camera fault (stall, drop)")
        elif device == "card":
            self._card_slot(lane).pull_mid_command(None)
        else:
            raise LaneCommandError(f"device: must be rfid, io, card or camera (got {device!r})")

    def state(self, lane: Lane) -> dict[str, Any]:
        truck = lane.io.truck
        return {
            "lane": lane.lane_id,
            "inputs": lane.io.inputs(),
            "outputs": dict(lane.io.coils),
            "barrier": round(lane.io.barrier, 3),
            "truck": None if truck is None else {"plate": truck.plate, "front_m": round(truck.front, 2)},
            "trucks_passed": lane.io.trucks_passed,
            "tags": lane.rfid.tags_in_field(),
            "card": None if lane.card_slot is None or lane.card_slot.card is None else "inserted",
            "rfid_plugged": lane.rfid.plugged,
            "io_plugged": lane.io.plugged,
        }

    # --- control socket ----------------------------------------------------------------------------

    def _serve_control(self) -> None:
        sim = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    try:
                        command = json.loads(raw)
                        if not isinstance(command, dict):
                            raise ValueError("a command is a JSON object")
                        reply = sim.handle(command)
                    except ValueError as exc:
                        reply = {"ok": False, "error": f"bad JSON command: {exc}"}
                    self.wfile.write(json.dumps(reply).encode() + b"\n")
                    self.wfile.flush()

        with contextlib.suppress(FileNotFoundError):
            self.control_socket.unlink()
        server = socketserver.ThreadingUnixStreamServer(str(self.control_socket), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()


def _number(command: dict[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    raw = command.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise LaneCommandError(f"{key}: must be a number {lo:g}..{hi:g} (got {raw!r})") from None
    if not lo <= value <= hi:
        raise LaneCommandError(f"{key}: must be a number {lo:g}..{hi:g} (got {raw!r})")
    return value


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise LaneCommandError(f"expected true or false (got {value!r})")


def parse_command_line(line: str) -> dict[str, Any]:
    """``arrive lane=LMC-I-01 plate=AB1234 tag=E200...`` -> a command dict."""
    words = line.split()
    if not words:
        raise LaneCommandError("empty command")
    command: dict[str, Any] = {"cmd": words[0]}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if not sep:
            raise LaneCommandError(f"{word!r}: arguments are key=value")
        command[key] = value
    return command
