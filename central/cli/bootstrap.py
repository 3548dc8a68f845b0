"""``rocars bootstrap``: the first officer and its API token, straight on the database."""

from __future__ import annotations

import argparse
import json
import sys

from central.clock import SystemClock
from central.services import errors
from central.services.bootstrap import bootstrap
from central.store.schema import init_database


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bootstrap", help="create the first officer (admin) directly on the database")
    p.add_argument("--database", required=True, help="sqlite:///path or postgresql://...")
    p.add_argument("--badge", required=True, help="the officer's badge number")
    p.add_argument("--name", required=True, help="the officer's name")
    p.add_argument(
        "--no-control-points", action="store_true", help="do not create Hong Kong's cargo control points"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    db = init_database(args.database)
    try:
        officer, token, created = bootstrap(
            args.badge, args.name, SystemClock().now(), seed_control_points=not args.no_control_points
        )
    except errors.ServiceError as exc:
        print(f"rocars bootstrap: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    if args.json:
        print(
            json.dumps(
                {
                    "officer_id": officer.id,
                    "badge_number": officer.badge_number,
                    "api_token": token,
                    "control_points_created": created,
                }
            )
        )
    else:
        print(f"Officer {officer.name} (badge {officer.badge_number}) created.")
        if created:
            print(f"Control points created: {', '.join(created)}")
        print("API token (shown once; store it safely, e.g. export ROCARS_TOKEN=...):")
        print(token)
    return 0
