"""``rocars-kiosk selftest --config FILE``: check each configured lane device and print a table.

For each device in ``[devices.*]``: open it through its driver, ask who it is (firmware
version, or the card's ATR, or a camera frame) and time one round trip. The table shows
device, port, state, firmware/ATR, round-trip time and a detail; the exit code is 1 if any
configured device fails, 2 if the file cannot be read.

Only the ``[devices]`` tables are read here (with ``tomllib``; key names as in
``kiosk.config``, which follow the drivers' arguments), so a technician can check the
hardware of a lane whose other settings are not finished yet. The card check runs in
this process and points libpcsclite at ``devices.card.pcsc_socket`` when it is given.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from drivers.base import Backoff, DriverError


@dataclass
class Check:
    device: str
    port: str
    state: str = "FAIL"
    identity: str = ""
    rtt_ms: float | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "OK"


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000


def check_rfid(table: dict[str, Any]) -> Check:
    from drivers.rfid import RfidReader

    url = str(table["url"])
    check = Check("rfid", url)
    reader = RfidReader(
        url,
        baudrate=int(table.get("baudrate", 115200)),
        address=int(table.get("reader_address", 255)),
        command_timeout=float(table.get("command_timeout", 0.5)),
        backoff=Backoff(0.1, 1.0),
    )
    with reader:
        check.identity = "fw " + reader.open()
        _, check.rtt_ms = _timed(reader.firmware_version)
        tags = reader.inventory_once()
        check.detail = f"{len(tags)} tag(s) in field"
        check.state = "OK"
    return check


def check_io(table: dict[str, Any]) -> Check:
    from drivers.io import LaneIO

    url = str(table["url"])
    check = Check("io", url)
    io = LaneIO(
        url,
        baudrate=int(table.get("baudrate", 19200)),
        unit=int(table.get("unit", 1)),
        watchdog_ms=int(table.get("watchdog_ms", 2000)),
        timeout=float(table.get("timeout", 0.3)),
    )
    with io:
        check.identity = "fw " + io.open()
        inputs, check.rtt_ms = _timed(io.read_inputs)
        arm = "up" if inputs["barrier_up_limit"] else "down" if inputs["barrier_down_limit"] else "between"
        loops = [n.removesuffix("_loop") for n in ("arming_loop", "safety_loop", "closing_loop") if inputs[n]]
        watchdog = io.read_watchdog_ms()
        check.detail = f"unit {io.unit}, watchdog {watchdog} ms, arm {arm}, loops {loops or 'clear'}"
        check.state = "OK"
    return check


def check_card(table: dict[str, Any]) -> Check:
    from smartcard import scard

    from drivers.card import CardReaderConfig
    from drivers.card.pcsc import PcscClient

    config = CardReaderConfig.from_mapping(table)
    check = Check("card", config.reader)
    config.apply_pcsc_socket()
    client = PcscClient(config.call_timeout)
    try:
        client.establish()
        readers, check.rtt_ms = _timed(client.list_readers)
        name = next((r for r in readers if r.startswith(config.reader)), None)
        if name is None:
            check.detail = f"no reader {config.reader!r}* (have {readers})"
            return check
        check.port = name
        ((_, state, atr),) = client.get_status_change(0.0, [(name, scard.SCARD_STATE_UNAWARE)])
        if state & scard.SCARD_STATE_PRESENT and atr:
            check.identity = "ATR " + bytes(atr).hex(" ").upper()
            check.detail = "card present"
        else:
            check.detail = "reader ready, no card"
        check.state = "OK"
    finally:
        client.close()
    return check


def check_camera(table: dict[str, Any]) -> Check:
    from drivers.camera import CameraSettings, PlateCamera

    settings = CameraSettings(**{k: v for k, v in table.items() if k in CameraSettings.__dataclass_fields__})
    check = Check("camera", settings.url)
    camera = PlateCamera(settings).start()
    try:
        wait = settings.open_timeout + settings.read_timeout
        frame, check.rtt_ms = _timed(lambda: camera.wait_frame(0, wait))
        height, width = frame.image.shape[:2]
        check.identity = f"{width}x{height}"
        latency = frame.latency
        check.detail = "first frame"
        if latency is not None:
            check.detail += f", publish-to-held {latency * 1000:.1f} ms"
        check.state = "OK"
    finally:
        camera.close()
    return check


CHECKS: dict[str, Callable[[dict[str, Any]], Check]] = {
    "rfid": check_rfid,
    "io": check_io,
    "card": check_card,
    "camera": check_camera,
}


def run_checks(devices: dict[str, Any]) -> list[Check]:
    results = []
    for name, fn in CHECKS.items():
        table = devices.get(name)
        if table is None:
            continue
        try:
            results.append(fn(table))
        except (DriverError, OSError, ValueError, KeyError, RuntimeError) as exc:
            port = str(table.get("url") or table.get("reader") or "?")
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            results.append(Check(name, port, "FAIL", detail=detail))
    return results


def render(results: list[Check], console: Console) -> None:
    table = Table(title="ROCARS lane device self-test")
    for column in ("device", "port", "state", "firmware / ATR", "round trip", "detail"):
        table.add_column(column)
    for c in results:
        state = f"[green]{c.state}[/green]" if c.ok else f"[red]{c.state}[/red]"
        rtt = "" if c.rtt_ms is None else f"{c.rtt_ms:.1f} ms"
        table.add_row(c.device, c.port, state, c.identity, rtt, c.detail)
    console.print(table)


def run(args: argparse.Namespace) -> int:
    console = Console(width=args.width)
    try:
        config = tomllib.loads(Path(args.config).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        console.print(f"[red]cannot read {args.config}: {exc}[/red]")
        return 2
    devices = config.get("devices")
    if not isinstance(devices, dict) or not devices:
        console.print(f"[red]{args.config}: no [devices.*] tables to check[/red]")
        return 2
    results = run_checks(devices)
    render(results, console)
    return 0 if all(c.ok for c in results) else 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("selftest", help="check each configured lane device and print a table")
    parser.add_argument("--config", required=True, help="the lane's TOML configuration file")
    parser.add_argument("--width", type=int, default=160, help="table width in columns")
    parser.set_defaults(func=run)
