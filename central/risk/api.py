"""gRPC servicers of the risk area: Risk (officers), Declaration (traders, officers), Elock (gateways).

Authentication and role checks happen in the core's interceptor from the roles each RPC
declares in its proto; service errors raised here become gRPC statuses there. Handlers only
translate between protobuf and the risk services.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from typing import Any

import grpc
import peewee

from central.api.auth import current_principal
from central.api.convert import from_ts_checked, ts
from central.api.registry import ServerContext
from central.risk import audit, declaration, elock, officer, profiling, rulestore, runtime
from central.risk.facts import Verdict
from central.risk.rules import Thresholds
from central.services.errors import FieldViolation, ValidationError
from central.services.principal import Principal
from central.store import models as m
from proto.rocars.v1 import declaration_pb2, declaration_pb2_grpc, elock_pb2, elock_pb2_grpc, officer_pb2_grpc
from proto.rocars.v1 import officer_pb2 as pb

log = logging.getLogger(__name__)
MAX_PAGE = 1000


def _actor(p: Principal) -> str:
    row = m.Officer.get_or_none(m.Officer.id == p.account_id)  # type: ignore[attr-defined]
    return f"officer:{row.badge_number}" if row is not None else p.key


def _enum(value: int) -> Any:
    """Proto enum fields accept their int values; the stubs only say so for the enum type."""
    return value


def _verdict(value: int, field: str, *, allow_unset: bool = False) -> Verdict | None:
    if value == 0 and allow_unset:
        return None
    try:
        return Verdict(value)
    except ValueError:
        raise ValidationError([FieldViolation(field, "must be CLEAR, INSPECT or HOLD")]) from None


def assessment_pb(a: officer.AssessmentView) -> pb.RiskAssessment:
    return pb.RiskAssessment(
        subject=a.subject,
        reference=a.reference,
        control_point=a.control_point,
        direction=_enum(a.direction),
        expected_at=ts(a.expected_at),
        verdict=_enum(int(a.verdict)),
        rule_verdict=_enum(int(a.rule_verdict)),
        score=a.score,
        reasons=[
            pb.RiskReason(
                rule_id=r.rule_id,
                field=r.field,
                value=r.value,
                points=r.points,
                detail=r.detail,
                verdict=_enum(int(r.verdict) if r.verdict else 0),
            )
            for r in a.reasons
        ],
        rule_set_version=a.rule_set_version,
        assessed_at=ts(a.assessed_at),
        override_verdict=_enum(int(a.override_verdict) if a.override_verdict else 0),
        override_reason=a.override_reason,
        override_by=a.override_by,
        override_in_force=a.override_in_force,
    )


def _rule_pb(info: rulestore.RuleInfo) -> pb.Rule:
    return pb.Rule(
        rule_id=info.spec.id,
        kind=info.spec.kind,
        definition_json=json.dumps(info.spec.to_dict(), sort_keys=True, ensure_ascii=False),
        revision=info.revision,
        added_in_version=info.added_in,
        created_at=ts(info.created_at),
        created_by=info.created_by,
    )


class RiskServicer(officer_pb2_grpc.RiskServicer):
    def ListRules(self, request: pb.ListRulesRequest, context: grpc.ServicerContext) -> pb.ListRulesReply:
        version = rulestore.current_version()
        rs = rulestore.load(version)
        rules = [i for i in rulestore.current_rules() if not request.kind or i.spec.kind == request.kind]
        return pb.ListRulesReply(
            rule_set_version=version,
            inspect_at=rs.thresholds.inspect_at,
            hold_at=rs.thresholds.hold_at,
            rules=[_rule_pb(i) for i in rules],
        )

    def GetRuleHistory(
        self, request: pb.GetRuleHistoryRequest, context: grpc.ServicerContext
    ) -> pb.ListRulesReply:
        version = rulestore.current_version()
        rs = rulestore.load(version)
        return pb.ListRulesReply(
            rule_set_version=version,
            inspect_at=rs.thresholds.inspect_at,
            hold_at=rs.thresholds.hold_at,
            rules=[_rule_pb(i) for i in rulestore.rule_history(request.rule_id)],
        )

    def _apply(self, edit: rulestore.RuleChange, skip_rescore: bool = False) -> pb.RuleChangeReply:
        rt = runtime.runtime()
        version = rulestore.change(
            edit, _actor(current_principal()), rt.clock.now(), rt.keys.selection, rt.keys.audit
        )
        if skip_rescore:
            return pb.RuleChangeReply(rule_set_version=version)
        r = profiling.rescore_open()
        return pb.RuleChangeReply(
            rule_set_version=version,
            rescored_consignments=r.consignments,
            rescored_trips=r.trips,
            verdict_changes=r.changed,
            rescore_seconds=r.seconds,
        )

    def ChangeRules(
        self, request: pb.ChangeRulesRequest, context: grpc.ServicerContext
    ) -> pb.RuleChangeReply:
        put = []
        for i, text in enumerate(request.put_json):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    [FieldViolation(f"put_json[{i}]", f"is not valid JSON: {exc.msg}")]
                ) from None
            put.append(data)
        thresholds = None
        if request.inspect_at or request.hold_at:
            current = rulestore.load(rulestore.current_version()).thresholds
            thresholds = Thresholds(
                request.inspect_at or current.inspect_at, request.hold_at or current.hold_at
            )
        edit = rulestore.RuleChange(
            put=put,
            retire=list(request.retire),
            thresholds=thresholds,
            comment=request.comment,
            expected_version=request.expected_version,
        )
        return self._apply(edit, request.skip_rescore)

    def EditWatchList(
        self, request: pb.EditWatchListRequest, context: grpc.ServicerContext
    ) -> pb.RuleChangeReply:
        data = rulestore.watchlist_edit(request.rule_id, list(request.add), list(request.remove))
        return self._apply(rulestore.RuleChange(put=[data], comment=request.comment))

    def ListTrips(
        self, request: pb.ListRiskTripsRequest, context: grpc.ServicerContext
    ) -> pb.ListRiskTripsReply:
        start, end = from_ts_checked(request.start), from_ts_checked(request.end)
        bad = [
            FieldViolation(n, "is required (a time between 2000 and 2100)")
            for n, v in (("start", start), ("end", end))
            if v is None
        ]
        if bad:
            raise ValidationError(bad)
        assert start is not None and end is not None
        size = request.page.page_size or 100
        if not 1 <= size <= MAX_PAGE:
            raise ValidationError([FieldViolation("page.page_size", f"must be between 1 and {MAX_PAGE}")])
        min_verdict = _verdict(request.min_verdict, "min_verdict", allow_unset=True) or Verdict.CLEAR
        rows = officer.list_trips(
            request.control_point, start, end, min_verdict, size + 1, request.page.page_token[:32]
        )
        more = len(rows) > size
        rows = rows[:size]
        return pb.ListRiskTripsReply(
            trips=[
                pb.RiskTrip(trip=assessment_pb(t), consignments=[assessment_pb(c) for c in cs])
                for t, cs in rows
            ],
            next_page_token=rows[-1][0].reference if more else "",
        )

    def Explain(self, request: pb.ExplainRequest, context: grpc.ServicerContext) -> pb.RiskAssessment:
        if request.replay_version:
            if not 0 < request.replay_version <= rulestore.current_version():
                raise ValidationError(
                    [FieldViolation("replay_version", "must name an existing rule-set version")]
                )
            return assessment_pb(officer.replay(request.replay_version, request.ccrn, request.trip_reference))
        return assessment_pb(officer.get_assessment(request.ccrn, request.trip_reference))

    def OverrideVerdict(
        self, request: pb.OverrideVerdictRequest, context: grpc.ServicerContext
    ) -> pb.RiskAssessment:
        verdict = _verdict(request.verdict, "verdict")
        assert verdict is not None
        return assessment_pb(
            officer.override(
                _actor(current_principal()), verdict, request.reason, request.ccrn, request.trip_reference
            )
        )

    def RecordInspection(
        self, request: pb.RecordInspectionRequest, context: grpc.ServicerContext
    ) -> pb.RecordInspectionReply:
        r = officer.record_inspection(
            _actor(current_principal()),
            request.result,
            request.notes,
            request.trip_reference,
            request.ccrn,
            list(request.discrepant_ccrns),
        )
        return pb.RecordInspectionReply(
            inspection_id=r.id, companies_hit=r.companies_hit, companies_clean=r.companies_clean
        )

    def Rescore(self, request: pb.RescoreRequest, context: grpc.ServicerContext) -> pb.RescoreReply:
        r = profiling.rescore_open(force=request.force)
        return pb.RescoreReply(
            rule_set_version=r.version,
            consignments=r.consignments,
            trips=r.trips,
            verdict_changes=r.changed,
            seconds=r.seconds,
        )

    def ListAudit(self, request: pb.ListAuditRequest, context: grpc.ServicerContext) -> pb.ListAuditReply:
        limit = request.limit or 100
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError([FieldViolation("limit", f"must be between 1 and {MAX_PAGE}")])
        rows = audit.entries(request.after_seq, limit, request.subject)
        return pb.ListAuditReply(
            entries=[
                pb.AuditEntry(
                    seq=e.seq,
                    at=ts(e.at),
                    actor=e.actor,
                    action=e.action,
                    subject=e.subject,
                    details_json=json.dumps(e.details, sort_keys=True, ensure_ascii=False),
                    hash=e.hash,
                )
                for e in rows
            ]
        )

    def VerifyAudit(
        self, request: pb.VerifyAuditRequest, context: grpc.ServicerContext
    ) -> pb.VerifyAuditReply:
        r = audit.verify(runtime.runtime().keys.audit)
        if not r.ok:
            log.error("audit chain broken: %s", r.problem)
        return pb.VerifyAuditReply(
            ok=r.ok,
            entries=r.entries,
            head_hash=r.head_hash,
            first_bad_seq=r.first_bad_seq,
            problem=r.problem,
        )


class DeclarationServicer(declaration_pb2_grpc.DeclarationServicer):
    def DraftDeclaration(
        self, request: declaration_pb2.DraftDeclarationRequest, context: grpc.ServicerContext
    ) -> declaration_pb2.DeclarationDraft:
        d = declaration.draft(current_principal(), list(request.ccrns))
        return declaration_pb2.DeclarationDraft(
            declaration_type=d.declaration_type,
            fields=[
                declaration_pb2.DraftField(
                    path=f.path, value=f.value, reused=f.reused, source=f.source, required=f.required
                )
                for f in d.fields
            ],
            reused_fields=d.reused,
            missing_fields=d.missing,
            total_fields=len(d.fields),
            draft_json=d.dumps(),
        )


_KINDS = {
    elock_pb2.SEALED: "sealed",
    elock_pb2.OPENED: "opened",
    elock_pb2.TAMPERED: "tampered",
    elock_pb2.OFF_ROUTE: "off_route",
    elock_pb2.ARRIVED: "arrived",
}


class ElockServicer(elock_pb2_grpc.ElockServicer):
    def ReportElockEvent(
        self, request: elock_pb2.ElockEventRequest, context: grpc.ServicerContext
    ) -> elock_pb2.ElockEventReply:
        p = current_principal()
        r = elock.report_event(
            p.name,
            request.event_id,
            request.elock_id,
            _KINDS.get(request.kind, "unspecified"),
            from_ts_checked(request.occurred_at),
            request.latitude if request.has_position else None,
            request.longitude if request.has_position else None,
            request.detail,
        )
        return elock_pb2.ElockEventReply(
            ccrn=r.ccrn,
            state=r.state.state,
            breach=r.state.breach,
            duplicate=r.duplicate,
            verdict=_enum(r.verdict),
        )

    def GetElock(
        self, request: elock_pb2.GetElockRequest, context: grpc.ServicerContext
    ) -> elock_pb2.ElockStatus:
        row, events = elock.lock_status(request.elock_id)
        return elock_pb2.ElockStatus(
            elock_id=row.elock_id,
            ccrn=row.ccrn,
            state=row.state,
            breach=row.breach,
            events=[
                elock_pb2.ElockEventView(
                    event_id=e.event_id,
                    gateway=e.gateway,
                    kind=e.kind,
                    occurred_at=ts(e.occurred_at),
                    received_at=ts(e.received_at),
                    detail=e.detail,
                )
                for e in events
            ],
        )


def _keys(ctx: ServerContext) -> runtime.RiskKeys:
    """Key file from ``[risk] key_file`` in the config, else $ROCARS_RISK_KEY_FILE, else beside a
    SQLite database file; a PostgreSQL deployment without either gets throw-away keys and an
    error in the log (selections could not be reproduced and the audit chain would not verify
    after a restart), so production must configure it."""
    path = runtime.configured_key_file(ctx.config.extra)
    if not path and isinstance(ctx.database, peewee.SqliteDatabase) and ctx.database.database != ":memory:":
        path = f"{ctx.database.database}.risk-keys"
    if not path:
        log.error(
            "risk: no key file configured ([risk] key_file or $%s); using throw-away keys",
            runtime.KEY_FILE_ENV,
        )
        return runtime.RiskKeys(secrets.token_bytes(32), secrets.token_bytes(32))
    return runtime.load_or_create_keys(Path(path))


def add_to_server(server: grpc.Server, ctx: ServerContext) -> None:
    rt = runtime.configure(ctx.clock, _keys(ctx))
    officer_pb2_grpc.add_RiskServicer_to_server(RiskServicer(), server)
    declaration_pb2_grpc.add_DeclarationServicer_to_server(DeclarationServicer(), server)
    elock_pb2_grpc.add_ElockServicer_to_server(ElockServicer(), server)
    ctx.service_names.extend(
        [
            pb.DESCRIPTOR.services_by_name["Risk"].full_name,
            declaration_pb2.DESCRIPTOR.services_by_name["Declaration"].full_name,
            elock_pb2.DESCRIPTOR.services_by_name["Elock"].full_name,
        ]
    )
    # Finish any re-score a previous process left half done (idempotent, batched).
    try:
        result = profiling.rescore_open()
        if result.consignments or result.trips:
            log.info(
                "risk: re-scored %d consignments, %d trips at start-up", result.consignments, result.trips
            )
    except Exception:  # a start-up re-score must not stop the server; officers can run Rescore
        log.exception("risk: start-up re-score failed")
    del rt
