"""Issuer tooling from the command line.

    python -m simulators.card standard-set DIR        issuer + good/second/expired/foreign/cloned
    python -m simulators.card drivers DIR --count N   N more good driver cards (rocars-sim lane --cards)
    python -m simulators.card issuer DIR              a new issuer key pair (issuer.pem, issuer_key.pem)
    python -m simulators.card personalise ISSUER_DIR OUT_DIR --card-number N --document-number D
                                    --name NAME --expiry YYYY-MM-DD    one card signed by that issuer
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from drivers.card.application import Identity, RecordError
from simulators.card.issuer import Issuer, personalise, save_card, write_driver_set, write_standard_set


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.card", description="ROCARS test card issuer")
    sub = parser.add_subparsers(dest="command", required=True)
    standard = sub.add_parser("standard-set", help="an issuer and the standard test cards")
    standard.add_argument("directory", type=Path)
    drivers = sub.add_parser("drivers", help="more good driver cards (an issuer made if absent)")
    drivers.add_argument("directory", type=Path)
    drivers.add_argument("--count", type=int, default=8)
    issuer = sub.add_parser("issuer", help="a new issuer key pair")
    issuer.add_argument("directory", type=Path)
    card = sub.add_parser("personalise", help="one card signed by an existing issuer")
    card.add_argument("issuer_directory", type=Path)
    card.add_argument("directory", type=Path)
    card.add_argument("--card-number", required=True)
    card.add_argument("--document-number", required=True)
    card.add_argument("--name", required=True)
    card.add_argument("--expiry", required=True, help="YYYY-MM-DD, last valid day")
    card.add_argument("--label", default="card")
    args = parser.parse_args(argv)

    if args.command == "standard-set":
        for label, path in write_standard_set(args.directory).items():
            print(f"{label:<8} {path}")
    elif args.command == "drivers":
        try:
            paths = write_driver_set(args.directory, args.count)
        except ValueError as exc:
            parser.error(str(exc))
        for label, path in paths.items():
            print(f"{label:<10} {path}")
    elif args.command == "issuer":
        print(Issuer.create().save(args.directory))
    else:
        try:
            expiry = dt.date.fromisoformat(args.expiry)
            identity = Identity(args.card_number, args.document_number, args.name, expiry)
        except (ValueError, RecordError) as exc:
            parser.error(f"{exc}")
        profile = personalise(Issuer.load(args.issuer_directory), identity, label=args.label)
        print(save_card(profile, args.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
