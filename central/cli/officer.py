"""``rocars officer ...``: rules and watch lists, trips with verdicts, overrides, inspections."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from central.api.convert import ts
from central.risk.cli_common import add_connection_args, channel, print_json, run, table, to_dict
from proto.rocars.v1 import common_pb2, officer_pb2, officer_pb2_grpc

VERDICTS: dict[str, Any] = {"clear": common_pb2.CLEAR, "inspect": common_pb2.INSPECT, "hold": common_pb2.HOLD}
VERDICT_NAMES: dict[int, str] = {int(v): k for k, v in VERDICTS.items()}


def _stub(args: argparse.Namespace) -> officer_pb2_grpc.RiskStub:
    return officer_pb2_grpc.RiskStub(channel(args))


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _read_rules(source: str) -> list[str]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    data = json.loads(text)
    items = data if isinstance(data, list) else [data]
    return [json.dumps(item) for item in items]


def _print_change(args: argparse.Namespace, reply: officer_pb2.RuleChangeReply) -> None:
    if args.json:
        print_json(to_dict(reply))
    else:
        print(
            f"rule set version {reply.rule_set_version}: re-scored "
            f"{reply.rescored_consignments} consignments, "
            f"{reply.rescored_trips} trips, {reply.verdict_changes} verdict changes "
            f"in {reply.rescore_seconds:.2f} s"
        )


@run
def rules_list(args: argparse.Namespace) -> None:
    reply = _stub(args).ListRules(officer_pb2.ListRulesRequest(kind=args.kind or ""), timeout=args.timeout)
    _print_rules(args, reply)


@run
def rules_history(args: argparse.Namespace) -> None:
    reply = _stub(args).GetRuleHistory(
        officer_pb2.GetRuleHistoryRequest(rule_id=args.rule_id), timeout=args.timeout
    )
    _print_rules(args, reply)


def _print_rules(args: argparse.Namespace, reply: officer_pb2.ListRulesReply) -> None:
    if args.json:
        out = to_dict(reply)
        for r in out.get("rules", []):
            r["definition"] = json.loads(r.pop("definition_json"))
        print_json(out)
        return
    print(
        f"rule set version {reply.rule_set_version}; inspect at {reply.inspect_at}, hold at {reply.hold_at}"
    )
    rows = []
    for r in reply.rules:
        d = json.loads(r.definition_json)
        rows.append(
            [
                r.rule_id,
                r.kind,
                str(d.get("points", 0)),
                d.get("verdict") or "",
                str(r.revision),
                d.get("owner", ""),
                "" if d.get("enabled", True) else "disabled",
            ]
        )
    print(table(rows, ["RULE", "KIND", "POINTS", "VERDICT", "REV", "OWNER", ""]))


@run
def rules_put(args: argparse.Namespace) -> None:
    req = officer_pb2.ChangeRulesRequest(
        put_json=_read_rules(args.file),
        comment=args.comment or "",
        expected_version=args.expected_version,
        skip_rescore=args.no_rescore,
    )
    _print_change(args, _stub(args).ChangeRules(req, timeout=args.timeout))


@run
def rules_retire(args: argparse.Namespace) -> None:
    req = officer_pb2.ChangeRulesRequest(retire=args.rule_ids, comment=args.comment or "")
    _print_change(args, _stub(args).ChangeRules(req, timeout=args.timeout))


@run
def thresholds(args: argparse.Namespace) -> None:
    req = officer_pb2.ChangeRulesRequest(
        inspect_at=args.inspect_at or 0, hold_at=args.hold_at or 0, comment=args.comment or ""
    )
    _print_change(args, _stub(args).ChangeRules(req, timeout=args.timeout))


@run
def watchlist(args: argparse.Namespace) -> None:
    add, remove = (args.values, []) if args.action == "add" else ([], args.values)
    req = officer_pb2.EditWatchListRequest(
        rule_id=args.rule_id, add=add, remove=remove, comment=args.comment or ""
    )
    _print_change(args, _stub(args).EditWatchList(req, timeout=args.timeout))


def _reasons(a: officer_pb2.RiskAssessment) -> str:
    return "; ".join(f"{r.rule_id} {r.field}={r.value} {r.points:+d}" for r in a.reasons)


@run
def trips(args: argparse.Namespace) -> None:
    start = _when(args.start) if args.start else datetime.now(UTC)
    end = _when(args.end) if args.end else start + timedelta(hours=args.hours)
    req = officer_pb2.ListRiskTripsRequest(
        control_point=args.control_point,
        start=ts(start),
        end=ts(end),
        min_verdict=VERDICTS.get(args.min_verdict or "", 0),
    )
    req.page.page_size = args.limit
    reply = _stub(args).ListTrips(req, timeout=args.timeout)
    if args.json:
        print_json(to_dict(reply))
        return
    rows = []
    for t in reply.trips:
        a = t.trip
        rows.append(
            [
                a.reference,
                a.expected_at.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%d %H:%M"),
                VERDICT_NAMES.get(a.verdict, "?") + ("*" if a.override_in_force else ""),
                str(a.score),
                _reasons(a) or "-",
            ]
        )
        for c in t.consignments:
            rows.append(
                ["  " + c.reference, "", VERDICT_NAMES.get(c.verdict, "?"), str(c.score), _reasons(c) or "-"]
            )
    print(table(rows, ["TRIP / CCRN", "EXPECTED (UTC)", "VERDICT", "SCORE", "REASONS"]))
    if reply.next_page_token:
        print(f"(more: --after {reply.next_page_token})")


def _print_assessment(args: argparse.Namespace, a: officer_pb2.RiskAssessment) -> None:
    if args.json:
        print_json(to_dict(a))
        return
    print(
        f"{a.subject} {a.reference}: {VERDICT_NAMES.get(a.verdict, '?')} (rules: "
        f"{VERDICT_NAMES.get(a.rule_verdict, '?')}, score {a.score}, rule set v{a.rule_set_version})"
    )
    if a.override_verdict:
        state = "in force" if a.override_in_force else "lapsed (subject changed since)"
        print(
            f"override {VERDICT_NAMES.get(a.override_verdict, '?')} by {a.override_by}, {state}: "
            f"{a.override_reason}"
        )
    rows = [[r.rule_id, r.field, r.value, f"{r.points:+d}", r.detail] for r in a.reasons]
    print(table(rows, ["RULE", "FIELD", "VALUE", "POINTS", "DETAIL"]))


@run
def explain(args: argparse.Namespace) -> None:
    req = officer_pb2.ExplainRequest(
        ccrn=args.ccrn or "", trip_reference=args.trip or "", replay_version=args.replay_version
    )
    _print_assessment(args, _stub(args).Explain(req, timeout=args.timeout))


@run
def override(args: argparse.Namespace) -> None:
    req = officer_pb2.OverrideVerdictRequest(
        ccrn=args.ccrn or "",
        trip_reference=args.trip or "",
        verdict=VERDICTS[args.verdict],
        reason=args.reason,
    )
    _print_assessment(args, _stub(args).OverrideVerdict(req, timeout=args.timeout))


@run
def inspection(args: argparse.Namespace) -> None:
    req = officer_pb2.RecordInspectionRequest(
        trip_reference=args.trip or "",
        ccrn=args.ccrn or "",
        result=args.result,
        notes=args.notes or "",
        discrepant_ccrns=args.discrepant or [],
    )
    reply = _stub(args).RecordInspection(req, timeout=args.timeout)
    if args.json:
        print_json(to_dict(reply))
    else:
        print(f"inspection {reply.inspection_id} recorded")


@run
def rescore(args: argparse.Namespace) -> None:
    reply = _stub(args).Rescore(officer_pb2.RescoreRequest(force=args.force), timeout=max(args.timeout, 600))
    if args.json:
        print_json(to_dict(reply))
    else:
        print(
            f"rule set v{reply.rule_set_version}: {reply.consignments} consignments, {reply.trips} trips, "
            f"{reply.verdict_changes} verdict changes in {reply.seconds:.2f} s"
        )


def _subject(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--ccrn")
    g.add_argument("--trip", help="trip reference")


def register(subparsers: Any) -> None:
    top = subparsers.add_parser(
        "officer", help="customs officer controls: rules, trips, overrides, inspections"
    )
    sub = top.add_subparsers(dest="officer_command", metavar="COMMAND", required=True)

    rules = sub.add_parser("rules", help="list, show history of, put or retire rules")
    rsub = rules.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)
    p = rsub.add_parser("list", help="rules in force")
    p.add_argument("--kind")
    add_connection_args(p)
    p.set_defaults(func=rules_list)
    p = rsub.add_parser("history", help="every revision of one rule")
    p.add_argument("rule_id")
    add_connection_args(p)
    p.set_defaults(func=rules_history)
    p = rsub.add_parser(
        "put", help="add or replace rules from a JSON file (an object or a list; - for stdin)"
    )
    p.add_argument("file")
    p.add_argument("--comment")
    p.add_argument("--expected-version", type=int, default=0, help="refuse if the rule set moved on")
    p.add_argument(
        "--no-rescore", action="store_true", help="skip the re-score (run 'officer rescore' later)"
    )
    add_connection_args(p)
    p.set_defaults(func=rules_put)
    p = rsub.add_parser("retire", help="take rules out of force")
    p.add_argument("rule_ids", nargs="+")
    p.add_argument("--comment")
    add_connection_args(p)
    p.set_defaults(func=rules_retire)

    p = sub.add_parser("thresholds", help="scores at which a verdict becomes inspect or hold")
    p.add_argument("--inspect-at", type=int)
    p.add_argument("--hold-at", type=int)
    p.add_argument("--comment")
    add_connection_args(p)
    p.set_defaults(func=thresholds)

    p = sub.add_parser("watchlist", help="add or remove watch-list entries")
    p.add_argument("action", choices=["add", "remove"])
    p.add_argument("rule_id", help="the watch-list rule")
    p.add_argument("values", nargs="+")
    p.add_argument("--comment")
    add_connection_args(p)
    p.set_defaults(func=watchlist)

    p = sub.add_parser("trips", help="trips by control point and time, with verdicts and reasons")
    p.add_argument("--control-point", required=True)
    p.add_argument("--from", dest="start", help="ISO 8601 (default: now)")
    p.add_argument("--to", dest="end", help="ISO 8601 (default: --hours after --from)")
    p.add_argument("--hours", type=float, default=4.0)
    p.add_argument("--min-verdict", choices=list(VERDICTS))
    p.add_argument("--limit", type=int, default=100)
    add_connection_args(p)
    p.set_defaults(func=trips)

    p = sub.add_parser("explain", help="verdict, score and reasons of a consignment or trip")
    _subject(p)
    p.add_argument(
        "--replay-version",
        type=int,
        default=0,
        help="recompute under this rule-set version (stores nothing) to reproduce a verdict",
    )
    add_connection_args(p)
    p.set_defaults(func=explain)

    p = sub.add_parser("override", help="override a verdict (reason required)")
    _subject(p)
    p.add_argument("--verdict", required=True, choices=list(VERDICTS))
    p.add_argument("--reason", required=True)
    add_connection_args(p)
    p.set_defaults(func=override)

    p = sub.add_parser("inspection", help="record an inspection result (feeds history)")
    _subject(p)
    p.add_argument("--result", required=True, choices=["clean", "discrepancy"])
    p.add_argument("--notes")
    p.add_argument("--discrepant", nargs="*", help="CCRNs with the discrepancy (default: all of the trip's)")
    add_connection_args(p)
    p.set_defaults(func=inspection)

    p = sub.add_parser("rescore", help="re-score open consignments and trips")
    p.add_argument("--force", action="store_true", help="even those already on the current rule set")
    add_connection_args(p)
    p.set_defaults(func=rescore)
