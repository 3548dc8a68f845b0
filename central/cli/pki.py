"""``rocars pki``: a development certificate authority for mutual TLS.

    rocars pki init-ca --dir certs
    rocars pki server --dir certs --host localhost --host 127.0.0.1
    rocars pki lane --dir certs --lane LMC-I-01 --control-point LMC --direction import
    rocars pki elock-gateway --dir certs --id GW1
    rocars pki show certs/lanes/LMC-I-01.pem

Everything is written under ``--dir``: ``ca.pem``/``ca.key``, ``server.pem``/``server.key``,
``lanes/<LANE>.pem``/``.key``, ``gateways/<ID>.pem``/``.key``. Private keys are 0600 and a
key is never overwritten. For production see :mod:`central.pki`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cryptography import x509

from central import pki


def _init_ca(args: argparse.Namespace) -> int:
    cert, _ = pki.write_pair(Path(args.dir), "ca", pki.create_ca(args.cn, days=args.days))
    print(f"CA certificate: {cert}")
    return 0


def _server(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    issued = pki.issue_server(pki.read_ca(directory), args.host, days=args.days)
    cert, _ = pki.write_pair(directory, args.name, issued)
    print(f"server certificate: {cert} ({', '.join(args.host)})")
    return 0


def _lane(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    ca = pki.read_ca(directory)
    issued = pki.issue_lane(ca, args.lane, args.control_point, args.direction, days=args.days)
    cert, _ = pki.write_pair(directory / "lanes", args.lane, issued)
    print(f"lane certificate: {cert}")
    return 0


def _gateway(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    issued = pki.issue_elock_gateway(pki.read_ca(directory), args.id, days=args.days)
    cert, _ = pki.write_pair(directory / "gateways", args.id, issued)
    print(f"e-lock gateway certificate: {cert}")
    return 0


def _show(args: argparse.Namespace) -> int:
    pem = Path(args.cert).read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    info: dict[str, object] = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "serial": format(cert.serial_number, "x"),
    }
    try:
        principal = pki.principal_from_certificate(pem)
        info["principal"] = {
            "kind": principal.kind,
            "id": principal.subject_id,
            "control_point": principal.control_point,
            "direction": principal.direction,
        }
    except pki.PkiError as exc:
        info["principal"] = None
        info["note"] = str(exc)
    print(json.dumps(info, indent=2))
    return 0


def _guarded(func):  # type: ignore[no-untyped-def]
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (pki.PkiError, OSError) as exc:
            print(f"rocars pki: {exc}", file=sys.stderr)
            return 1

    return run


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("pki", help="development certificate authority for mutual TLS")
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)

    p = sub.add_parser("init-ca", help="create a CA (ca.pem, ca.key)")
    p.add_argument("--dir", required=True)
    p.add_argument("--cn", default="ROCARS development CA")
    p.add_argument("--days", type=int, default=3650)
    p.set_defaults(func=_guarded(_init_ca))

    p = sub.add_parser("server", help="issue central's server certificate")
    p.add_argument("--dir", required=True)
    p.add_argument("--host", action="append", required=True, help="DNS name or IP (repeatable)")
    p.add_argument("--name", default="server", help="file stem (default: server)")
    p.add_argument("--days", type=int, default=825)
    p.set_defaults(func=_guarded(_server))

    p = sub.add_parser("lane", help="issue a lane's client certificate")
    p.add_argument("--dir", required=True)
    p.add_argument("--lane", required=True, help="lane code, e.g. LMC-I-01")
    p.add_argument("--control-point", required=True)
    p.add_argument("--direction", required=True, choices=pki.DIRECTIONS)
    p.add_argument("--days", type=int, default=90)
    p.set_defaults(func=_guarded(_lane))

    p = sub.add_parser("elock-gateway", help="issue an e-lock gateway's client certificate")
    p.add_argument("--dir", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--days", type=int, default=90)
    p.set_defaults(func=_guarded(_gateway))

    p = sub.add_parser("show", help="print a certificate's subject, expiry and ROCARS identity")
    p.add_argument("cert")
    p.set_defaults(func=_guarded(_show))
