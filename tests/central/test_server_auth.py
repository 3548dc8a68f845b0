"""The server skeleton through a real channel: health, reflection, authentication,
authorisation by role (declared in the protos), fail-closed for undeclared methods."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from central.api.auth import method_policy
from central.client import open_channel
from proto.rocars.v1 import common_pb2, diagnostics_pb2, registration_pb2
from tests.support.central import CentralUnderTest


def test_health_is_serving_without_credentials(central: CentralUnderTest) -> None:
    with open_channel(central.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="rocars.v1.Cargo"), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(central: CentralUnderTest) -> None:
    with open_channel(central.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        replies = list(
            stub.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
            )
        )
        names = {s.name for s in replies[0].list_services_response.service}
    assert {
        "rocars.v1.Cargo",
        "rocars.v1.Bundling",
        "rocars.v1.Registration",
        "rocars.v1.Diagnostics",
    } <= names


def test_echo_needs_a_token(central: CentralUnderTest) -> None:
    anonymous = central.stubs(None)
    with pytest.raises(grpc.RpcError) as err:
        anonymous.diagnostics.Echo(diagnostics_pb2.EchoRequest(message="hi"), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reply = central.as_officer().diagnostics.Echo(diagnostics_pb2.EchoRequest(message="hi"), timeout=5)
    assert reply.message == "hi"


@pytest.mark.parametrize("header", ["Bearer rcs_not-a-real-token", "Bearer nonsense", "Basic abc", "Bearer "])
def test_bad_tokens_are_unauthenticated(central: CentralUnderTest, header: str) -> None:
    with open_channel(central.address) as channel:
        stub = diagnostics_pb2_grpc_stub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Echo(
                diagnostics_pb2.EchoRequest(message="x"), metadata=[("authorization", header)], timeout=5
            )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def diagnostics_pb2_grpc_stub(channel: grpc.Channel):  # type: ignore[no-untyped-def]
    from proto.rocars.v1 import diagnostics_pb2_grpc

    return diagnostics_pb2_grpc.DiagnosticsStub(channel)


def test_whoami_reports_role_and_account(central: CentralUnderTest) -> None:
    world = central.world()
    me = central.stubs(world.company_token).registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=5)
    assert (me.role, me.account_id, me.display_name) == (
        common_pb2.COMPANY,
        world.company_id,
        "Pearl River Shippers Ltd",
    )
    me = central.stubs(world.driver_token).registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=5)
    assert (me.role, me.account_id) == (common_pb2.DRIVER, world.driver_id)


def test_company_cannot_register_anything(central: CentralUnderTest) -> None:
    world = central.world()
    company = central.stubs(world.company_token)
    with pytest.raises(grpc.RpcError) as err:
        company.registration.RegisterVehicle(
            registration_pb2.RegisterVehicleRequest(
                vehicle=registration_pb2.Vehicle(registration_mark="CD 5678")
            ),
            timeout=5,
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_every_rpc_of_every_rocars_service_declares_roles() -> None:
    """Fail closed only helps if nothing is left undeclared by accident: every method
    in every rocars.v1 service (all areas) must carry allowed_roles or public_method."""
    import importlib
    from pathlib import Path

    gen = Path(__file__).resolve().parents[2] / "proto" / "rocars" / "v1"
    for path in gen.glob("*_pb2.py"):
        importlib.import_module(f"proto.rocars.v1.{path.stem}")
    pool = descriptor_pool.Default()
    missing = []
    for path in gen.glob("*.proto"):
        fd = pool.FindFileByName(f"proto/rocars/v1/{path.name}")
        for service in fd.services_by_name.values():
            for method in service.methods:
                if method_policy(f"/{service.full_name}/{method.name}") is None:
                    missing.append(method.full_name)
    assert not missing, f"RPCs without (rocars.v1.allowed_roles): {missing}"


def test_unknown_method_is_refused() -> None:
    assert method_policy("/rocars.v1.Cargo/NoSuchMethod") is None
    assert method_policy("garbage") is None


def test_deactivated_company_token_stops_working(central: CentralUnderTest) -> None:
    world = central.world()
    company = central.stubs(world.company_token)
    company.diagnostics.Echo(diagnostics_pb2.EchoRequest(message="ok"), timeout=5)
    central.as_officer().registration.SetAccountActive(
        registration_pb2.SetAccountActiveRequest(
            account_kind=registration_pb2.ACCOUNT_COMPANY, account_id=world.company_id, active=False
        ),
        timeout=5,
    )
    with pytest.raises(grpc.RpcError) as err:
        company.diagnostics.Echo(diagnostics_pb2.EchoRequest(message="no"), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_revoked_token_stops_working_and_new_one_works(central: CentralUnderTest) -> None:
    world = central.world()
    officer = central.as_officer().registration
    fresh = officer.IssueToken(
        registration_pb2.IssueTokenRequest(
            account_kind=registration_pb2.ACCOUNT_COMPANY, account_id=world.company_id, label="erp"
        ),
        timeout=5,
    )
    assert (
        central.stubs(fresh.api_token)
        .registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=5)
        .account_id
        == world.company_id
    )
    revoked = officer.RevokeTokens(
        registration_pb2.RevokeTokensRequest(
            account_kind=registration_pb2.ACCOUNT_COMPANY, account_id=world.company_id
        ),
        timeout=5,
    )
    assert revoked.revoked == 2
    for token in (world.company_token, fresh.api_token):
        with pytest.raises(grpc.RpcError) as err:
            central.stubs(token).registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_tokens_are_stored_only_as_hashes(central: CentralUnderTest) -> None:
    from central.store import models

    world = central.world()
    stored = [row.token_hash for row in models.ApiToken.select()]
    assert world.company_token not in stored
    assert all(len(h) == 64 for h in stored)


def test_oversized_request_is_refused(central: CentralUnderTest) -> None:
    officer = central.as_officer()
    with pytest.raises(grpc.RpcError) as err:
        officer.diagnostics.Echo(diagnostics_pb2.EchoRequest(message="x" * (2 << 20)), timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as err:
        officer.diagnostics.Echo(diagnostics_pb2.EchoRequest(message="x" * 2000), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
