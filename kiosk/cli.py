"""``rocars-kiosk``: the lane daemon and its operator tools.

Subcommands live in their own modules exposing ``register(subparsers)`` and are
imported lazily by name, as in ``central.cli.app``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules under kiosk, each with ``register(subparsers) -> None``; a subcommand's parser
# sets ``func`` (namespace -> exit code).
COMMAND_MODULES: tuple[str, ...] = ("daemon", "selftest", "replay", "officer")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rocars-kiosk", description="ROCARS lane kiosk")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"kiosk.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"kiosk.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
