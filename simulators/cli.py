"""``rocars-sim``: the lane devices emulated at their real interfaces.

    rocars-sim lane --dir DIR [--lanes N] [--cards CARDS]
                                            a whole lane (or N): devices, config files,
                                            control socket DIR/control.sock, prompt on a tty
    rocars-sim rfid --link PATH             only an RFID reader on a pty behind PATH
    rocars-sim io --link PATH               only a lane I/O module on a pty behind PATH
"""

from __future__ import annotations

import argparse
import json
import logging
import select
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from simulators.lane import LaneCommandError, LaneSimulation, parse_command_line


def _wait_for_signal(stop: threading.Event) -> None:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _prompt(sim: LaneSimulation) -> None:
    """Technician commands typed on the terminal (select, not input(): quits with the sim)."""
    print("commands: arrive plate=.. tag=.. card=good | drive | leave | insert_card card=.. | pull_card |")
    print("          fault device=rfid|io|camera|card kind=.. | loop name=.. occupied=.. | state | quit")
    while not sim.stopped.is_set():
        sys.stdout.write("lane> ")
        sys.stdout.flush()
        line = None
        while line is None and not sim.stopped.is_set():
            ready, _, _ = select.select([sys.stdin], [], [], 0.2)
            if ready:
                line = sys.stdin.readline()
        if line is None:
            break
        if not line:  # end of input
            sim.stopped.set()
            break
        if not line.strip():
            continue
        try:
            reply = sim.handle(parse_command_line(line))
        except LaneCommandError as exc:
            reply = {"ok": False, "error": str(exc)}
        print(json.dumps(reply, indent=2), flush=True)


def run_lane(args: argparse.Namespace) -> int:
    sim = LaneSimulation(
        Path(args.dir),
        lanes=args.lanes,
        control_point=args.control_point,
        direction=args.direction,
        card=not args.no_card,
        camera=not args.no_camera,
        motion_time=args.motion_time,
        seed=args.seed,
        card_dir=args.cards,
    )
    _wait_for_signal(sim.stopped)
    try:
        sim.start()
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"rocars-sim lane: {exc}", file=sys.stderr)
        return 1
    try:
        for lane_id, lane in sim.lanes.items():
            print(f"{lane_id}: {lane.config_path}", flush=True)
        print(f"control socket: {sim.control_socket}", flush=True)
        if sys.stdin.isatty():
            threading.Thread(target=_prompt, args=(sim,), daemon=True).start()
        while not sim.stopped.wait(0.2):
            pass
    finally:
        sim.close()
    return 0


def run_device(args: argparse.Namespace) -> int:
    from simulators.io_module import IoModuleSim
    from simulators.rfid import RfidReaderSim

    stop = threading.Event()
    _wait_for_signal(stop)
    device = RfidReaderSim(args.link) if args.command == "rfid" else IoModuleSim(args.link, unit=args.unit)
    with device:
        print(f"{device.name}: {device.path} -> {device.tty_name}", flush=True)
        stop.wait()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rocars-sim", description="ROCARS lane device simulators")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    lane = sub.add_parser("lane", help="start a whole lane's simulated devices")
    lane.add_argument("--dir", required=True, help="directory for config files, links and the control socket")
    lane.add_argument("--lanes", type=int, default=1)
    lane.add_argument("--control-point", default="LMC")
    lane.add_argument("--direction", choices=("import", "export"), default="import")
    lane.add_argument("--no-card", action="store_true", help="no pcscd / virtual card")
    lane.add_argument("--no-camera", action="store_true", help="no MJPEG camera")
    lane.add_argument("--motion-time", type=float, default=1.0, help="barrier travel time, seconds")
    lane.add_argument("--seed", type=int, default=0)
    lane.add_argument(
        "--cards",
        type=Path,
        help="more driver cards: a directory from 'python -m simulators.card drivers DIR --count N'",
    )
    lane.set_defaults(func=run_lane)
    for name in ("rfid", "io"):
        dev = sub.add_parser(name, help=f"only the {name} device on a pseudo-terminal")
        dev.add_argument("--link", required=True, help="stable path (symlink) to the pty")
        dev.add_argument("--unit", type=int, default=1, help="Modbus unit id (io)")
        dev.set_defaults(func=run_device)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
