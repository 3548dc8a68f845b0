"""``rocars registration ...``: officers register companies, drivers, vehicles, lanes,
officers and control points, and manage tokens and accounts."""

from __future__ import annotations

import argparse

from central.cli.client import command_adder, emit, enum_name, enum_value
from central.client import Stubs
from proto.rocars.v1 import common_pb2
from proto.rocars.v1 import registration_pb2 as pb

_KINDS = {
    "officer": pb.ACCOUNT_OFFICER,
    "company": pb.ACCOUNT_COMPANY,
    "driver": pb.ACCOUNT_DRIVER,
    "lane": pb.ACCOUNT_LANE,
}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("registration", help="register parties (officers only) and manage accounts")
    cmds = top.add_subparsers(dest="command", metavar="WHAT", required=True)

    cmd = command_adder(cmds)

    p = cmd("company", "register a shipper, freight forwarder or agent; prints its API token once", company)
    p.add_argument("--kind", required=True, help="shipper | freight-forwarder | agent")
    p.add_argument("--brn", required=True, help="business registration number (8 digits)")
    p.add_argument("--name", required=True)
    p.add_argument("--address", required=True)
    p.add_argument("--contact-name", required=True)
    p.add_argument("--contact-phone", required=True)
    p.add_argument("--contact-email", default="")

    p = cmd("driver", "register a driver; prints the API token and security-code secret once", driver)
    p.add_argument(
        "--document", required=True, help="HKID (e.g. A123456(3)) or Mainland travel permit number"
    )
    p.add_argument("--name", required=True)
    p.add_argument("--card", default="", help="smart identity card number read at the kiosk")
    p.add_argument("--phone", default="")

    p = cmd("vehicle", "register a vehicle", vehicle)
    p.add_argument("--mark", required=True, help="Hong Kong registration mark, e.g. 'AB 1234'")
    p.add_argument("--mainland-plate", default="")
    p.add_argument("--tag-epc", default="", help="RFID vehicle tag EPC, 24 hex digits")
    p.add_argument("--owner-company-id", type=int, default=0)

    p = cmd("update-vehicle", "replace a vehicle's Mainland plate and tag EPC", update_vehicle)
    p.add_argument("--mark", required=True)
    p.add_argument("--mainland-plate", default="")
    p.add_argument("--tag-epc", default="")

    p = cmd("lane", "register a kiosk lane (it authenticates with a certificate: rocars pki)", lane)
    p.add_argument("--code", required=True, help="lane code = its certificate's lane id, e.g. LMC-I-01")
    p.add_argument("--control-point", required=True)
    p.add_argument("--direction", required=True, help="import | export")
    p.add_argument("--description", default="")

    p = cmd("officer", "register another officer; prints the API token once", officer)
    p.add_argument("--badge", required=True)
    p.add_argument("--name", required=True)

    p = cmd("control-point", "create or change a control point and its crossing slots", control_point)
    p.add_argument("--code", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--slot-minutes", type=int, default=0, help="slot length (default: the server's)")
    p.add_argument("--slot-capacity", type=int, default=0, help="trucks per slot and direction")

    cmd("control-points", "list control points", control_points)

    for name, help_text, func in (
        ("token", "issue another API token for an account", issue_token),
        ("revoke-tokens", "revoke every API token of an account", revoke_tokens),
        ("deactivate", "deactivate an account (records are kept)", deactivate),
        ("activate", "reactivate an account", activate),
    ):
        p = cmd(name, help_text, func)
        p.add_argument("--kind", required=True, choices=sorted(_KINDS))
        p.add_argument("--id", type=int, required=True, help="account id")
        if name == "token":
            p.add_argument("--label", default="")

    p = cmd("reset-code", "give a driver a new security-code secret (old device lost)", reset_code)
    p.add_argument("--driver-id", type=int, required=True)

    p = cmd("list", "list companies, drivers, vehicles or lanes", list_accounts)
    p.add_argument("what", choices=["companies", "drivers", "vehicles", "lanes"])
    p.add_argument("--page-size", type=int, default=100)

    cmd("whoami", "show who the token belongs to", whoami)


def company(args: argparse.Namespace, s: Stubs) -> int:
    kind = enum_value(common_pb2.CompanyKind, args.kind, "--kind")
    reply = s.registration.RegisterCompany(
        pb.RegisterCompanyRequest(
            company=pb.Company(
                kind=kind,
                brn=args.brn,
                name=args.name,
                address=args.address,
                contact_name=args.contact_name,  # type: ignore[arg-type]
                contact_phone=args.contact_phone,
                contact_email=args.contact_email,
            )
        ),
        timeout=args.timeout,
    )
    emit(
        args,
        reply,
        lambda: print(
            f"Company {reply.company.name} registered (id {reply.company.id}, BRN {reply.company.brn}).\n"
            f"API token (shown once; give it to the company over a safe channel):\n{reply.api_token}"
        ),
    )
    return 0


def _driver_secret_text(reply: pb.RegisterDriverReply) -> str:
    return (
        f"Security-code secret (shown once; load it into the driver's authenticator app):\n"
        f"{reply.totp_secret}\n{reply.totp_uri}"
    )


def driver(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.RegisterDriver(
        pb.RegisterDriverRequest(
            driver=pb.Driver(
                document_number=args.document, name=args.name, card_number=args.card, phone=args.phone
            )
        ),
        timeout=args.timeout,
    )
    emit(
        args,
        reply,
        lambda: print(
            f"Driver {reply.driver.name} registered (id {reply.driver.id}, "
            f"document {reply.driver.document_number}).\n"
            f"API token (shown once):\n{reply.api_token}\n{_driver_secret_text(reply)}"
        ),
    )
    return 0


def _vehicle_text(v: pb.Vehicle) -> str:
    extra = [
        f"tag {v.tag_epc}" if v.tag_epc else "no tag",
        f"Mainland plate {v.mainland_plate}" if v.mainland_plate else "",
    ]
    return f"Vehicle {v.registration_mark} (id {v.id}): " + ", ".join(x for x in extra if x)


def vehicle(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.RegisterVehicle(
        pb.RegisterVehicleRequest(
            vehicle=pb.Vehicle(
                registration_mark=args.mark,
                mainland_plate=args.mainland_plate,
                tag_epc=args.tag_epc,
                owner_company_id=args.owner_company_id,
            )
        ),
        timeout=args.timeout,
    )
    emit(args, reply, lambda: print(_vehicle_text(reply) + " registered."))
    return 0


def update_vehicle(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.UpdateVehicle(
        pb.UpdateVehicleRequest(
            registration_mark=args.mark, mainland_plate=args.mainland_plate, tag_epc=args.tag_epc
        ),
        timeout=args.timeout,
    )
    emit(args, reply, lambda: print(_vehicle_text(reply) + " updated."))
    return 0


def lane(args: argparse.Namespace, s: Stubs) -> int:
    direction = enum_value(common_pb2.Direction, args.direction, "--direction")
    reply = s.registration.RegisterLane(
        pb.RegisterLaneRequest(
            lane=pb.Lane(
                code=args.code,
                control_point=args.control_point,
                direction=direction,  # type: ignore[arg-type]
                description=args.description,
            )
        ),
        timeout=args.timeout,
    )
    emit(
        args,
        reply,
        lambda: print(
            f"Lane {reply.code} registered at {reply.control_point} "
            f"({enum_name(common_pb2.Direction, reply.direction)})."
        ),
    )
    return 0


def officer(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.RegisterOfficer(
        pb.RegisterOfficerRequest(officer=pb.Officer(badge_number=args.badge, name=args.name)),
        timeout=args.timeout,
    )
    emit(
        args,
        reply,
        lambda: print(
            f"Officer {reply.officer.name} (badge {reply.officer.badge_number}) registered.\n"
            f"API token (shown once):\n{reply.api_token}"
        ),
    )
    return 0


def control_point(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.UpsertControlPoint(
        pb.UpsertControlPointRequest(
            control_point=pb.ControlPoint(
                code=args.code,
                name=args.name,
                slot_minutes=args.slot_minutes,
                slot_capacity=args.slot_capacity,
            )
        ),
        timeout=args.timeout,
    )
    emit(
        args,
        reply,
        lambda: print(
            f"Control point {reply.code} ({reply.name}): slots of {reply.slot_minutes} min, "
            f"{reply.slot_capacity} trucks each per direction."
        ),
    )
    return 0


def control_points(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.ListControlPoints(pb.ListControlPointsRequest(), timeout=args.timeout)
    emit(
        args,
        reply,
        lambda: [
            print(f"{cp.code:6} {cp.name}  ({cp.slot_minutes} min x {cp.slot_capacity})")
            for cp in reply.control_points
        ],
    )
    return 0


def issue_token(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.IssueToken(
        pb.IssueTokenRequest(account_kind=_KINDS[args.kind], account_id=args.id, label=args.label),
        timeout=args.timeout,
    )
    emit(args, reply, lambda: print(f"API token (shown once):\n{reply.api_token}"))
    return 0


def revoke_tokens(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.RevokeTokens(
        pb.RevokeTokensRequest(account_kind=_KINDS[args.kind], account_id=args.id), timeout=args.timeout
    )
    emit(args, reply, lambda: print(f"{reply.revoked} token(s) revoked."))
    return 0


def _set_active(args: argparse.Namespace, s: Stubs, active: bool) -> int:
    reply = s.registration.SetAccountActive(
        pb.SetAccountActiveRequest(account_kind=_KINDS[args.kind], account_id=args.id, active=active),
        timeout=args.timeout,
    )
    emit(args, reply, lambda: print(f"{args.kind} {args.id} {'activated' if active else 'deactivated'}."))
    return 0


def deactivate(args: argparse.Namespace, s: Stubs) -> int:
    return _set_active(args, s, False)


def activate(args: argparse.Namespace, s: Stubs) -> int:
    return _set_active(args, s, True)


def reset_code(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.ResetDriverSecurityCode(
        pb.ResetDriverSecurityCodeRequest(driver_id=args.driver_id), timeout=args.timeout
    )
    emit(args, reply, lambda: print(_driver_secret_text(reply)))
    return 0


def list_accounts(args: argparse.Namespace, s: Stubs) -> int:
    method = {
        "companies": s.registration.ListCompanies,
        "drivers": s.registration.ListDrivers,
        "vehicles": s.registration.ListVehicles,
        "lanes": s.registration.ListLanes,
    }[args.what]
    token, items = "", []
    while True:
        reply = method(
            pb.ListAccountsRequest(page=common_pb2.PageRequest(page_size=args.page_size, page_token=token)),
            timeout=args.timeout,
        )
        items.extend(getattr(reply, args.what))
        token = reply.next_page_token
        if not token:
            break
    if args.json:
        import json

        from central.cli.client import to_dict

        for item in items:
            print(json.dumps(to_dict(item), ensure_ascii=False, sort_keys=True))
        return 0
    for item in items:
        if args.what == "companies":
            print(f"{item.id:6} {item.brn:12} {item.name}{'' if item.active else '  (inactive)'}")
        elif args.what == "drivers":
            print(f"{item.id:6} {item.document_number:12} {item.name}{'' if item.active else '  (inactive)'}")
        elif args.what == "vehicles":
            print(f"{item.id:6} " + _vehicle_text(item))
        else:
            print(
                f"{item.id:6} {item.code:12} {item.control_point} "
                f"{enum_name(common_pb2.Direction, item.direction)}{'' if item.active else '  (inactive)'}"
            )
    return 0


def whoami(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.registration.WhoAmI(pb.WhoAmIRequest(), timeout=args.timeout)
    emit(
        args,
        reply,
        lambda: print(
            f"{reply.display_name}: {enum_name(common_pb2.Role, reply.role)} (account {reply.account_id})"
        ),
    )
    return 0
