"""``rocars``: the users' command-line interface to the central service.

Each area of the CLI lives in its own module exposing ``register(subparsers)``; the
modules are imported lazily by name so one broken area cannot take the others down at
start-up, and so adding an area is adding a module to ``AREAS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules under central.cli, each with ``register(subparsers) -> None``. A subcommand's
# parser sets ``func`` (callable taking the parsed namespace, returning an exit code).
AREAS: tuple[str, ...] = (
    "bootstrap",
    "registration",
    "cargo",
    "trips",
    "officer",
    "audit",
    "declaration",
    "elock",
    "pki",
    "crossings",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rocars", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="area", metavar="COMMAND")
    for area in AREAS:
        try:
            module = importlib.import_module(f"central.cli.{area}")
        except ModuleNotFoundError as exc:
            if exc.name == f"central.cli.{area}":
                continue  # area not built yet
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
