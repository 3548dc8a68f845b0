"""The risk area through a real gRPC channel: officer controls, authorisation by role,
audit verification, declaration drafts, and e-lock events over mutual TLS."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from central import pki
from central.api.convert import ts
from central.api.errors import field_violations
from central.client import BearerInterceptor, Stubs, open_channel, stubs_for
from central.risk.models import AuditEntry
from central.server import TlsFiles, start_server
from central.store.db import database_proxy
from proto.rocars.v1 import (
    bundling_pb2,
    cargo_pb2,
    common_pb2,
    declaration_pb2,
    declaration_pb2_grpc,
    elock_pb2,
    elock_pb2_grpc,
    officer_pb2,
    officer_pb2_grpc,
)
from tests.support.central import CentralUnderTest, World, submit_request

IVORY = {
    "id": "KW-IVORY",
    "kind": "keyword",
    "owner": "OFF-001",
    "points": 60,
    "description": "CITES: ivory",
    "params": {"keywords": ["ivory"]},
}


def authed(c: CentralUnderTest, token: str | None) -> grpc.Channel:
    channel = c.stubs(token).channel  # closed with the fixture
    return grpc.intercept_channel(channel, BearerInterceptor(token)) if token else channel


def risk_stub(c: CentralUnderTest, token: str | None) -> officer_pb2_grpc.RiskStub:
    return officer_pb2_grpc.RiskStub(authed(c, token))


def submit(c: CentralUnderTest, token: str, **cargo: Any) -> str:
    req = submit_request(f"r-{c.unique():06d}", c.clock.now() + timedelta(hours=3), **cargo)
    return c.stubs(token).cargo.SubmitConsignment(req, timeout=10).ccrn


def bundle(c: CentralUnderTest, world: World, ccrns: list[str]) -> bundling_pb2.Trip:
    return c.stubs(world.driver_token).bundling.BundleTrip(
        bundling_pb2.BundleTripRequest(
            idempotency_key=f"b-{c.unique():06d}",
            security_code=c.next_totp(world.driver_secret),
            vehicle_registration_mark="AB 1234",
            control_point="LMC",
            direction=common_pb2.IMPORT,
            expected_arrival=ts(c.clock.now() + timedelta(hours=2)),
            ccrns=ccrns,
            empty_truck=not ccrns,
        ),
        timeout=10,
    )


def test_officer_manages_rules_and_sees_explained_verdicts(central_both: CentralUnderTest) -> None:
    central = central_both
    world = central.world()
    officer = risk_stub(central, central.officer_token)
    before = submit(central, world.company_token, article_description="carved ivory statues")
    reply = officer.ChangeRules(
        officer_pb2.ChangeRulesRequest(put_json=[json.dumps(IVORY)], comment="CITES"), timeout=10
    )
    assert reply.rule_set_version == 1 and reply.rescored_consignments >= 1
    a = officer.Explain(officer_pb2.ExplainRequest(ccrn=before), timeout=5)
    assert (a.verdict, a.score, a.reasons[0].rule_id, a.reasons[0].field) == (
        common_pb2.INSPECT,
        60,
        "KW-IVORY",
        "articles_description",
    )
    after = submit(central, world.company_token, article_description="ivory")  # profiled on submission
    assert officer.Explain(officer_pb2.ExplainRequest(ccrn=after), timeout=5).verdict == common_pb2.INSPECT
    rules = officer.ListRules(officer_pb2.ListRulesRequest(), timeout=5)
    assert [r.rule_id for r in rules.rules] == ["KW-IVORY"] and rules.rule_set_version == 1


def test_bad_rule_is_rejected_naming_the_field_and_old_rules_stay(central: CentralUnderTest) -> None:
    officer = risk_stub(central, central.officer_token)
    officer.ChangeRules(officer_pb2.ChangeRulesRequest(put_json=[json.dumps(IVORY)]), timeout=10)
    bad = {**IVORY, "id": "PT-1", "kind": "pattern", "params": {"pattern": "([a-z"}}
    with pytest.raises(grpc.RpcError) as err:
        officer.ChangeRules(
            officer_pb2.ChangeRulesRequest(put_json=[json.dumps({**IVORY, "points": 5}), json.dumps(bad)]),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    ((field, rule),) = field_violations(err.value)
    assert field == "rules[1].pattern" or field.endswith("params.pattern"), field
    assert rule.startswith("regex")
    with pytest.raises(grpc.RpcError) as err:
        officer.ChangeRules(
            officer_pb2.ChangeRulesRequest(put_json=['{"id": "X", "kind": "keyword", "colour": 1}']),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "unknown field" in str(
        err.value.details()
    )
    rules = officer.ListRules(officer_pb2.ListRulesRequest(), timeout=5)
    assert rules.rule_set_version == 1 and json.loads(rules.rules[0].definition_json)["points"] == 60


def test_companies_and_drivers_never_see_risk(central: CentralUnderTest) -> None:
    world = central.world()
    risk_stub(central, central.officer_token).ChangeRules(
        officer_pb2.ChangeRulesRequest(put_json=[json.dumps(IVORY)]), timeout=10
    )
    ccrn = submit(central, world.company_token, article_description="ivory")
    for token in (world.company_token, world.driver_token):
        stub = risk_stub(central, token)
        for call, req in (
            (stub.Explain, officer_pb2.ExplainRequest(ccrn=ccrn)),
            (stub.ListRules, officer_pb2.ListRulesRequest()),
            (stub.VerifyAudit, officer_pb2.VerifyAuditRequest()),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call(req, timeout=5)
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The trader's own view of the consignment carries no verdict, score or reason.
    mine = central.stubs(world.company_token).cargo.GetConsignment(
        cargo_pb2.GetConsignmentRequest(ccrn=ccrn), timeout=5
    )
    text = str(mine).lower()
    assert "ivory" in text and "inspect" not in text and "kw-ivory" not in text
    names = {f.name for f in cargo_pb2.Consignment.DESCRIPTOR.fields}
    assert not names & {"verdict", "score", "reasons", "risk"}


def test_trips_override_inspection_and_audit_verification(central_both: CentralUnderTest) -> None:
    central = central_both
    world = central.world()
    officer = risk_stub(central, central.officer_token)
    officer.ChangeRules(officer_pb2.ChangeRulesRequest(put_json=[json.dumps(IVORY)]), timeout=10)
    ccrn = submit(central, world.company_token, article_description="ivory bangles")
    trip = bundle(central, world, [ccrn])
    now = central.clock.now()
    listed = officer.ListTrips(
        officer_pb2.ListRiskTripsRequest(
            control_point="LMC", start=ts(now), end=ts(now + timedelta(hours=6))
        ),
        timeout=5,
    )
    (t,) = listed.trips
    assert t.trip.reference == trip.reference and t.trip.verdict == common_pb2.INSPECT
    assert t.consignments[0].reasons[0].rule_id == "KW-IVORY"
    with pytest.raises(grpc.RpcError) as err:
        officer.OverrideVerdict(
            officer_pb2.OverrideVerdictRequest(trip_reference=trip.reference, verdict=common_pb2.CLEAR),
            timeout=5,
        )
    assert field_violations(err.value) == [("reason", "is required: say why the verdict is overridden")]
    o = officer.OverrideVerdict(
        officer_pb2.OverrideVerdictRequest(
            trip_reference=trip.reference, verdict=common_pb2.CLEAR, reason="antique, CITES permit seen"
        ),
        timeout=5,
    )
    assert (
        o.verdict == common_pb2.CLEAR
        and o.rule_verdict == common_pb2.INSPECT
        and o.override_by == "officer:OFF-001"
    )
    officer.RecordInspection(
        officer_pb2.RecordInspectionRequest(
            trip_reference=trip.reference, result="clean", notes="as declared"
        ),
        timeout=5,
    )
    audit = officer.ListAudit(officer_pb2.ListAuditRequest(), timeout=5)
    assert [e.action for e in audit.entries] == ["rules.change", "verdict.override", "inspection.record"]
    ok = officer.VerifyAudit(officer_pb2.VerifyAuditRequest(), timeout=10)
    assert ok.ok and ok.entries == 3
    # Someone with database access edits the override's reason: detected.
    AuditEntry.update(details='{"reason":"nothing to see"}').where(AuditEntry.seq == 2).execute()
    bad = officer.VerifyAudit(officer_pb2.VerifyAuditRequest(), timeout=10)
    assert not bad.ok and bad.first_bad_seq == 2


def test_declaration_draft_reuses_cargo_fields_for_the_owner_only(central: CentralUnderTest) -> None:
    world = central.world()
    ccrn = submit(
        central,
        world.company_token,
        hs_code="940520",
        declared_value="1200.00",
        currency="HKD",
        gross_weight_kg="85.5",
    )
    other = submit(central, world.company_token)
    stub = declaration_pb2_grpc.DeclarationStub(authed(central, world.company_token))
    d = stub.DraftDeclaration(declaration_pb2.DraftDeclarationRequest(ccrns=[ccrn, other]), timeout=5)
    fields = {f.path: f for f in d.fields}
    assert d.declaration_type == "import"
    assert (
        fields["header.consignee.name"].value == "Pearl River Shippers Ltd"
        and fields["header.consignee.name"].reused
    )
    assert fields["items[0].hs_code"].value == "940520" and fields["items[0].hs_code"].reused
    assert fields["items[0].value"].value == "1200.00" and fields["items[0].currency"].value == "HKD"
    assert fields["items[0].description_of_goods"].source == f"CCRN {ccrn} article_description"
    assert not fields["items[1].hs_code"].reused and fields["items[1].hs_code"].required
    assert (
        not fields["items[0].country_of_origin"].reused and fields["items[0].country_of_origin"].value == ""
    )
    assert d.reused_fields == sum(f.reused for f in d.fields) and d.reused_fields >= 20
    assert d.missing_fields == sum(1 for f in d.fields if f.required and not f.value)
    assert json.loads(d.draft_json)["reused_fields"] == d.reused_fields
    outsider = declaration_pb2_grpc.DeclarationStub(authed(central, world.other_company_token))
    with pytest.raises(grpc.RpcError) as err:
        outsider.DraftDeclaration(declaration_pb2.DraftDeclarationRequest(ccrns=[ccrn]), timeout=5)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_elock_events_need_a_gateway_certificate(central: CentralUnderTest) -> None:
    stub = elock_pb2_grpc.ElockStub(authed(central, central.officer_token))
    with pytest.raises(grpc.RpcError) as err:
        stub.ReportElockEvent(
            elock_pb2.ElockEventRequest(event_id="e", elock_id="L", kind=elock_pb2.SEALED), timeout=5
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_elock_gateway_over_mutual_tls_drives_verdicts(tmp_path: Path) -> None:
    from central.clock import SettableClock
    from central.services.bootstrap import bootstrap
    from tests.support.central import T0, CentralUnderTest

    ca = pki.create_ca()
    server = pki.issue_server(ca, ["localhost", "127.0.0.1"])
    gateway = pki.issue_elock_gateway(ca, "gw-airport")
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.cert_pem)
    cert, key = pki.write_pair(tmp_path, "server", server)
    gcert, gkey = pki.write_pair(tmp_path, "gateway", gateway)
    clock = SettableClock(T0)
    handle = start_server(
        f"sqlite:///{tmp_path}/central.db",
        clock=clock,
        lane_listen="127.0.0.1:0",
        tls=TlsFiles(cert, key, ca_path),
        call_workers=4,
    )
    try:
        _o, token, _ = bootstrap("OFF-001", "Officer Wong", clock.now())

        class TlsCentral(CentralUnderTest):
            def stubs(self, token: str | None) -> Stubs:  # the token listener is TLS here too
                channel = open_channel(self.address, tls_ca=ca_path, server_name="localhost")
                self._channels.append(channel)
                return stubs_for(channel, token)

        c = TlsCentral(handle, clock, token, "")
        world = c.world()
        ccrn = submit(
            c, world.company_token, transshipment=True, elock_id="EL-777", transshipment_route="LMC-AIRPORT"
        )
        officer = risk_stub(c, token)
        assert officer.Explain(officer_pb2.ExplainRequest(ccrn=ccrn), timeout=5).verdict == common_pb2.INSPECT
        channel = open_channel(
            f"127.0.0.1:{handle.lane_port}",
            tls_ca=ca_path,
            client_cert=gcert,
            client_key=gkey,
            server_name="localhost",
        )
        gw = elock_pb2_grpc.ElockStub(channel)
        r = gw.ReportElockEvent(
            elock_pb2.ElockEventRequest(
                event_id="1", elock_id="EL-777", kind=elock_pb2.SEALED, occurred_at=ts(clock.now())
            ),
            timeout=5,
        )
        assert (r.ccrn, r.state, r.verdict) == (ccrn, "sealed", common_pb2.CLEAR)
        assert officer.Explain(officer_pb2.ExplainRequest(ccrn=ccrn), timeout=5).verdict == common_pb2.CLEAR
        r = gw.ReportElockEvent(
            elock_pb2.ElockEventRequest(
                event_id="2",
                elock_id="EL-777",
                kind=elock_pb2.OFF_ROUTE,
                occurred_at=ts(clock.now()),
                has_position=True,
                latitude=22.5,
                longitude=114.1,
                detail="left corridor",
            ),
            timeout=5,
        )
        assert (r.breach, r.verdict) == ("off_route", common_pb2.INSPECT)
        status = elock_pb2_grpc.ElockStub(authed(c, token)).GetElock(
            elock_pb2.GetElockRequest(elock_id="EL-777"), timeout=5
        )
        assert [e.kind for e in status.events] == ["sealed", "off_route"] and status.events[
            0
        ].gateway == "gw-airport"
        with pytest.raises(grpc.RpcError) as err:
            gw.ReportElockEvent(elock_pb2.ElockEventRequest(event_id="3", elock_id="EL-777"), timeout=5)
        assert {f for f, _ in field_violations(err.value)} == {"kind", "occurred_at"}
        channel.close()
        c.close()
    finally:
        handle.stop(grace=1.0)
        if database_proxy.obj is not None:
            database_proxy.obj.close()


def test_explain_replays_a_past_rule_set_version(central: CentralUnderTest) -> None:
    world = central.world()
    officer = risk_stub(central, central.officer_token)
    rnd = {"id": "RND", "kind": "random", "owner": "OFF-001", "params": {"rates": {"LMC": 1.0}}}
    officer.ChangeRules(officer_pb2.ChangeRulesRequest(put_json=[json.dumps(rnd)]), timeout=10)
    trip = bundle(central, world, [submit(central, world.company_token)])
    v1 = officer.Explain(officer_pb2.ExplainRequest(trip_reference=trip.reference), timeout=5)
    assert v1.verdict == common_pb2.INSPECT and "draw" in v1.reasons[0].detail
    officer.ChangeRules(
        officer_pb2.ChangeRulesRequest(put_json=[json.dumps({**rnd, "params": {"rates": {}}})]), timeout=10
    )
    assert officer.Explain(officer_pb2.ExplainRequest(trip_reference=trip.reference), timeout=5).verdict == (
        common_pb2.CLEAR
    )
    replayed = officer.Explain(
        officer_pb2.ExplainRequest(trip_reference=trip.reference, replay_version=1), timeout=5
    )
    assert (replayed.verdict, replayed.reasons[0].detail) == (v1.verdict, v1.reasons[0].detail)
    with pytest.raises(grpc.RpcError) as err:
        officer.Explain(
            officer_pb2.ExplainRequest(trip_reference=trip.reference, replay_version=9), timeout=5
        )
    assert field_violations(err.value)[0][0] == "replay_version"
