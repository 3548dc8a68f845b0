"""``rocars cargo ...``: companies file, amend, cancel and read advance cargo
information; ``bulk`` files a whole CSV or JSON-lines file."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from central import ids
from central.api.convert import ts_of
from central.cli import bulk
from central.cli.client import (
    CliError,
    command_adder,
    emit,
    enum_name,
    enum_value,
    parse_time,
    show_time,
    to_dict,
)
from central.client import Stubs
from proto.rocars.v1 import cargo_pb2 as pb
from proto.rocars.v1 import common_pb2

EXIT_SOME_ROWS_REFUSED = 3


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    top = sub.add_parser("cargo", help="advance cargo information: submit, amend, cancel, read, bulk")
    cmds = top.add_subparsers(dest="command", metavar="WHAT", required=True)

    cmd = command_adder(cmds)

    p = cmd("submit", "file a consignment; prints its CCRN", submit)
    p.add_argument("--control-point", required=True)
    p.add_argument("--direction", required=True, help="import | export")
    p.add_argument("--key", default="", help="idempotency key (default: random); reuse it to retry safely")
    _cargo_options(p, required=True)

    p = cmd("amend", "change a consignment (only the options given change; a new version is kept)", amend)
    p.add_argument("ccrn")
    p.add_argument("--reason", default="")
    p.add_argument("--control-point", default="")
    p.add_argument("--direction", default="")
    _cargo_options(p, required=False)

    p = cmd("cancel", "cancel a consignment", cancel)
    p.add_argument("ccrn")
    p.add_argument("--reason", default="")

    p = cmd("get", "show a consignment", get)
    p.add_argument("ccrn")

    p = cmd("history", "show every version of a consignment", history)
    p.add_argument("ccrn")

    p = cmd("list", "list consignments (yours; officers: all)", list_consignments)
    p.add_argument(
        "--status", action="append", default=[], help="filter, repeatable: submitted, bundled, ..."
    )
    p.add_argument("--control-point", default="")
    p.add_argument("--company-id", type=int, default=0, help="officers: one company only")
    p.add_argument("--page-size", type=int, default=200)

    p = cmd(
        "bulk",
        "file every row of a CSV or JSON-lines file; bad rows are listed, good ones filed",
        bulk_submit,
    )
    p.add_argument("file", type=Path)
    p.add_argument("--format", default="auto", choices=["auto", "csv", "jsonl"])
    p.add_argument("--parallel", type=int, default=4, help="calls in flight (default %(default)s)")
    p.add_argument("--report", type=Path, help="also write the per-row results to this CSV file")
    p.add_argument("--no-progress", action="store_true")


def _cargo_options(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("cargo (Cap. 60L items a-h, then optional)")
    g.add_argument("--packages", type=int, required=required, help="(a) number of packages")
    g.add_argument("--package-description", required=required, help="(b) e.g. cartons")
    g.add_argument("--articles", required=required, help="(c) description of the articles")
    g.add_argument("--consignor-name", required=required)
    g.add_argument("--consignor-address", required=required)
    g.add_argument("--consignee-name", required=required)
    g.add_argument("--consignee-address", required=required)
    g.add_argument(
        "--expected-at",
        required=required,
        help="(h) expected arrival/departure: ISO time (no offset: Hong Kong time) or +2h",
    )
    g.add_argument("--gross-weight-kg")
    g.add_argument("--declared-value")
    g.add_argument("--currency")
    g.add_argument("--hs-code")
    g.add_argument("--container", action="append", help="ISO 6346 container number, repeatable")
    g.add_argument("--seal", action="append", help="seal number, repeatable")
    g.add_argument("--transshipment", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--elock-id")
    g.add_argument("--route", help="transshipment route, e.g. LMC-AIRPORT")


_SIMPLE = {
    "packages": "packages_count",
    "package_description": "package_description",
    "articles": "article_description",
    "consignor_name": "consignor_name",
    "consignor_address": "consignor_address",
    "consignee_name": "consignee_name",
    "consignee_address": "consignee_address",
    "gross_weight_kg": "gross_weight_kg",
    "declared_value": "declared_value",
    "currency": "currency",
    "hs_code": "hs_code",
    "elock_id": "elock_id",
    "route": "transshipment_route",
    "transshipment": "transshipment",
}


def _apply(args: argparse.Namespace, details: pb.CargoDetails) -> pb.CargoDetails:
    for option, name in _SIMPLE.items():
        value = getattr(args, option)
        if value is not None:
            setattr(details, name, value)
    if args.expected_at is not None:
        details.expected_at.CopyFrom(ts_of(parse_time(args.expected_at, "--expected-at")))
    if args.container is not None:
        del details.container_numbers[:]
        details.container_numbers.extend(args.container)
    if args.seal is not None:
        del details.seal_numbers[:]
        details.seal_numbers.extend(args.seal)
    return details


def _summary(c: pb.Consignment) -> str:
    cargo = c.cargo
    lines = [
        f"CCRN {ids.format_ccrn(c.ccrn)}  "
        f"({enum_name(common_pb2.ConsignmentStatus, c.status)}, version {c.version})",
        f"  {enum_name(common_pb2.Direction, c.direction)} at {c.control_point}, expected "
        f"{show_time(cargo.expected_at.ToDatetime().replace(tzinfo=UTC))}",
        f"  {cargo.packages_count} {cargo.package_description}: {cargo.article_description}",
        f"  from {cargo.consignor_name}, {cargo.consignor_address}",
        f"  to   {cargo.consignee_name}, {cargo.consignee_address}",
    ]
    if c.trip_reference:
        lines.append(f"  bundled to trip {c.trip_reference}")
    return "\n".join(lines)


def submit(args: argparse.Namespace, s: Stubs) -> int:
    direction = enum_value(common_pb2.Direction, args.direction, "--direction")
    request = pb.SubmitConsignmentRequest(
        idempotency_key=args.key or f"cli-{secrets.token_hex(12)}",
        direction=direction,  # type: ignore[arg-type]
        control_point=args.control_point,
        cargo=_apply(args, pb.CargoDetails()),
    )
    reply = s.cargo.SubmitConsignment(request, timeout=args.timeout)
    emit(args, reply, lambda: print("Filed.\n" + _summary(reply)))
    return 0


def amend(args: argparse.Namespace, s: Stubs) -> int:
    current = s.cargo.GetConsignment(pb.GetConsignmentRequest(ccrn=args.ccrn), timeout=args.timeout)
    direction: Any = enum_value(common_pb2.Direction, args.direction, "--direction") if args.direction else 0
    details = pb.CargoDetails()
    details.CopyFrom(current.cargo)
    reply = s.cargo.AmendConsignment(
        pb.AmendConsignmentRequest(
            ccrn=current.ccrn,
            cargo=_apply(args, details),
            expected_version=current.version,
            reason=args.reason,
            control_point=args.control_point,
            direction=direction,
        ),
        timeout=args.timeout,
    )
    emit(args, reply, lambda: print("Amended.\n" + _summary(reply)))
    return 0


def cancel(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.cargo.CancelConsignment(
        pb.CancelConsignmentRequest(ccrn=args.ccrn, reason=args.reason), timeout=args.timeout
    )
    emit(args, reply, lambda: print("Cancelled.\n" + _summary(reply)))
    return 0


def get(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.cargo.GetConsignment(pb.GetConsignmentRequest(ccrn=args.ccrn), timeout=args.timeout)
    emit(args, reply, lambda: print(_summary(reply)))
    return 0


def history(args: argparse.Namespace, s: Stubs) -> int:
    reply = s.cargo.ListConsignmentVersions(
        pb.ListConsignmentVersionsRequest(ccrn=args.ccrn), timeout=args.timeout
    )

    def human() -> None:
        print(f"CCRN {ids.format_ccrn(reply.ccrn)}")
        for v in reply.versions:
            when = show_time(v.created_at.ToDatetime().replace(tzinfo=UTC))
            reason = f" ({v.reason})" if v.reason else ""
            print(
                f"  v{v.version} {v.action} {when}{reason}: {v.cargo.packages_count} "
                f"{v.cargo.package_description}, {v.cargo.article_description}"
            )

    emit(args, reply, human)
    return 0


def list_consignments(args: argparse.Namespace, s: Stubs) -> int:
    statuses = [enum_value(common_pb2.ConsignmentStatus, x, "--status") for x in args.status]
    token, items = "", []
    while True:
        reply = s.cargo.ListConsignments(
            pb.ListConsignmentsRequest(
                page=common_pb2.PageRequest(page_size=args.page_size, page_token=token),
                statuses=statuses,  # type: ignore[arg-type]
                company_id=args.company_id,
                control_point=args.control_point,
            ),
            timeout=args.timeout,
        )
        items.extend(reply.consignments)
        token = reply.next_page_token
        if not token:
            break
    if args.json:
        for c in items:
            print(json.dumps(to_dict(c), ensure_ascii=False, sort_keys=True))
        return 0
    for c in items:
        print(
            f"{ids.format_ccrn(c.ccrn)}  {enum_name(common_pb2.ConsignmentStatus, c.status):24} "
            f"{c.control_point:5} {enum_name(common_pb2.Direction, c.direction):7} "
            f"{c.cargo.packages_count:>6} {c.cargo.package_description}  {c.trip_reference}"
        )
    if not items:
        print("No consignments.")
    return 0


def bulk_submit(args: argparse.Namespace, s: Stubs) -> int:
    if not args.file.is_file():
        raise CliError(f"{args.file}: no such file")
    rows = list(bulk.read_rows(args.file, args.format))

    def send(request: pb.SubmitConsignmentRequest) -> pb.Consignment:
        return s.cargo.SubmitConsignment(request, timeout=args.timeout)

    show_progress = not args.no_progress and not args.json and sys.stderr.isatty()
    if show_progress:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("filing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
        ) as bar:
            task = bar.add_task("rows", total=len(rows))
            results = bulk.submit_all(
                rows, send, parallel=args.parallel, progress=lambda _r: bar.advance(task)
            )
    else:
        results = bulk.submit_all(rows, send, parallel=args.parallel)
    good = [r for r in results if r.ok]
    bad = [r for r in results if not r.ok]
    if args.report:
        _write_report(args.report, results)
    if args.json:
        for r in results:
            out: dict[str, Any] = {"row": r.row}
            if r.ok:
                out["ccrn"] = r.ccrn
            else:
                out["errors"] = [{"field": f, "rule": rule} for f, rule in r.errors]
            print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"{len(good)} of {len(results)} rows filed, {len(bad)} refused.")
        for r in good:
            print(f"  row {r.row}: CCRN {ids.format_ccrn(r.ccrn)}")
        if bad:
            print("Refused rows (fix them and run the same file again; filed rows are not filed twice):")
            for r in bad:
                for f, rule in r.errors:
                    print(f"  row {r.row}: {f}: {rule}")
    return 0 if not bad else EXIT_SOME_ROWS_REFUSED


def _write_report(path: Path, results: list[bulk.RowResult]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "ccrn", "field", "rule"])
        for r in results:
            if r.ok:
                writer.writerow([r.row, r.ccrn, "", ""])
            for f, rule in r.errors:
                writer.writerow([r.row, "", f, rule])
