"""Registration through a real channel: field rules, duplicates, tokens and security
codes shown once, officer-only."""

from __future__ import annotations

import grpc
import pyotp
import pytest

from central.api.errors import field_violations
from central.store import models
from proto.rocars.v1 import common_pb2, registration_pb2
from tests.support.central import CentralUnderTest


def _fields(err: pytest.ExceptionInfo[grpc.RpcError]) -> dict[str, str]:
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.value.code(), err.value.details())
    return dict(field_violations(err.value))


def test_company_rules_are_all_reported(central: CentralUnderTest) -> None:
    reg = central.as_officer().registration
    with pytest.raises(grpc.RpcError) as err:
        reg.RegisterCompany(
            registration_pb2.RegisterCompanyRequest(
                company=registration_pb2.Company(
                    brn="1234",
                    name="",
                    address="",
                    contact_name="",
                    contact_phone="call me",
                    contact_email="not-an-email",
                )
            ),
            timeout=10,
        )
    fields = _fields(err)
    assert set(fields) == {
        "company.kind",
        "company.brn",
        "company.name",
        "company.address",
        "company.contact_name",
        "company.contact_phone",
        "company.contact_email",
    }
    assert models.Company.select().count() == 0


def test_duplicate_brn_is_already_exists(central_both: CentralUnderTest) -> None:
    central_both.world()
    with pytest.raises(grpc.RpcError) as err:
        central_both.as_officer().registration.RegisterCompany(
            registration_pb2.RegisterCompanyRequest(
                company=registration_pb2.Company(
                    kind=common_pb2.AGENT,
                    brn="12345678",
                    name="Copycat",
                    address="x",
                    contact_name="y",
                    contact_phone="+852 1234 5678",
                )
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize(
    ("document", "ok"),
    [
        ("A123456(3)", True),
        ("A1234563", True),
        ("a123456 (3)", True),
        ("A123456(4)", False),
        ("H12345678", True),
        ("M1234567890", True),
        ("X1", False),
        ("", False),
    ],
)
def test_driver_document_rules(central: CentralUnderTest, document: str, ok: bool) -> None:
    reg = central.as_officer().registration
    request = registration_pb2.RegisterDriverRequest(
        driver=registration_pb2.Driver(document_number=document, name="Chan Tai Man")
    )
    if ok:
        reply = reg.RegisterDriver(request, timeout=10)
        assert reply.api_token.startswith("rcs_") and len(reply.totp_secret) >= 16
        assert reply.totp_uri.startswith("otpauth://totp/ROCARS:")
        assert pyotp.parse_uri(reply.totp_uri).secret == reply.totp_secret
    else:
        with pytest.raises(grpc.RpcError) as err:
            reg.RegisterDriver(request, timeout=10)
        assert "driver.document_number" in _fields(err)


@pytest.mark.parametrize(
    ("mark", "stored"),
    [
        ("AB 1234", "AB1234"),
        ("fu 88", "FU88"),
        ("HK 1", "HK1"),
        ("LUCKY 8", "LUCKY8"),
    ],
)
def test_vehicle_marks_are_normalised(central: CentralUnderTest, mark: str, stored: str) -> None:
    reply = central.as_officer().registration.RegisterVehicle(
        registration_pb2.RegisterVehicleRequest(
            vehicle=registration_pb2.Vehicle(registration_mark=mark, tag_epc="e280 1170 0000 020a 1b2c 3d4e")
        ),
        timeout=10,
    )
    assert reply.registration_mark == stored and reply.tag_epc == "E28011700000020A1B2C3D4E"


@pytest.mark.parametrize(
    ("mark", "epc", "field"),
    [
        ("AB 01234", "", "vehicle.registration_mark"),  # leading zero
        ("AB 12345", "", "vehicle.registration_mark"),  # five digits
        ("TOO LONG 1", "", "vehicle.registration_mark"),
        ("1234", "", "vehicle.registration_mark"),  # digits only
        ("AB 1234", "E2801170", "vehicle.tag_epc"),  # not 96 bits
        ("AB 1234", "Z" * 24, "vehicle.tag_epc"),
    ],
)
def test_vehicle_rules(central: CentralUnderTest, mark: str, epc: str, field: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        central.as_officer().registration.RegisterVehicle(
            registration_pb2.RegisterVehicleRequest(
                vehicle=registration_pb2.Vehicle(registration_mark=mark, tag_epc=epc)
            ),
            timeout=10,
        )
    assert field in _fields(err)


def test_tag_epc_is_unique_and_can_be_moved(central_both: CentralUnderTest) -> None:
    c = central_both
    c.world()
    reg = c.as_officer().registration
    with pytest.raises(grpc.RpcError) as err:
        reg.RegisterVehicle(
            registration_pb2.RegisterVehicleRequest(
                vehicle=registration_pb2.Vehicle(
                    registration_mark="CD 5678", tag_epc="E28011700000020A1B2C3D4E"
                )
            ),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    updated = reg.UpdateVehicle(
        registration_pb2.UpdateVehicleRequest(
            registration_mark="AB 1234", tag_epc="E28011700000020A1B2C3D50"
        ),
        timeout=10,
    )
    assert updated.tag_epc == "E28011700000020A1B2C3D50"
    from central.store.changes import Change

    assert (
        Change.select().where((Change.kind == "vehicle_changed") & (Change.entity_id == "AB1234")).count()
        == 2
    )


def test_control_point_and_lane_rules(central: CentralUnderTest) -> None:
    reg = central.as_officer().registration
    with pytest.raises(grpc.RpcError) as err:
        reg.UpsertControlPoint(
            registration_pb2.UpsertControlPointRequest(
                control_point=registration_pb2.ControlPoint(
                    code="L1", name="", slot_minutes=7, slot_capacity=0
                )
            ),
            timeout=10,
        )
    assert set(_fields(err)) == {"control_point.code", "control_point.name", "control_point.slot_minutes"}
    with pytest.raises(grpc.RpcError) as err:
        reg.RegisterLane(
            registration_pb2.RegisterLaneRequest(
                lane=registration_pb2.Lane(
                    code="lane one", control_point="NOPE", direction=common_pb2.DIRECTION_UNSPECIFIED
                )
            ),
            timeout=10,
        )
    assert set(_fields(err)) == {"lane.code", "lane.control_point", "lane.direction"}
    listed = reg.ListControlPoints(registration_pb2.ListControlPointsRequest(), timeout=10)
    assert "LMC" in [cp.code for cp in listed.control_points]  # seeded by bootstrap


def test_new_officer_can_register_and_security_code_can_be_reset(central: CentralUnderTest) -> None:
    world = central.world()
    reg = central.as_officer().registration
    second = reg.RegisterOfficer(
        registration_pb2.RegisterOfficerRequest(
            officer=registration_pb2.Officer(badge_number="off-002", name="Officer Lam")
        ),
        timeout=10,
    )
    assert second.officer.badge_number == "OFF-002"
    reset = central.stubs(second.api_token).registration.ResetDriverSecurityCode(
        registration_pb2.ResetDriverSecurityCodeRequest(driver_id=world.driver_id), timeout=10
    )
    assert reset.totp_secret and reset.totp_secret != world.driver_secret and not reset.api_token
    # The secret is never readable again: the driver listing carries none.
    drivers = reg.ListDrivers(registration_pb2.ListAccountsRequest(), timeout=10)
    assert reset.totp_secret not in str(drivers)


def test_only_officers_register(central: CentralUnderTest) -> None:
    world = central.world()
    for token in (world.company_token, world.driver_token):
        stubs = central.stubs(token).registration
        for call in (
            lambda s=stubs: s.RegisterDriver(
                registration_pb2.RegisterDriverRequest(
                    driver=registration_pb2.Driver(document_number="H87654321", name="X")
                ),
                timeout=10,
            ),
            lambda s=stubs: s.RegisterOfficer(
                registration_pb2.RegisterOfficerRequest(
                    officer=registration_pb2.Officer(badge_number="EVIL", name="X")
                ),
                timeout=10,
            ),
            lambda s=stubs: s.IssueToken(
                registration_pb2.IssueTokenRequest(
                    account_kind=registration_pb2.ACCOUNT_OFFICER, account_id=1
                ),
                timeout=10,
            ),
            lambda s=stubs: s.ListCompanies(registration_pb2.ListAccountsRequest(), timeout=10),
        ):
            with pytest.raises(grpc.RpcError) as err:
                call()
            assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert models.Officer.select().count() == 1


def test_bootstrap_refuses_a_second_time(central: CentralUnderTest) -> None:
    from central.services import errors
    from central.services.bootstrap import bootstrap

    with pytest.raises(errors.FailedPrecondition):
        bootstrap("OFF-009", "Someone", central.clock.now())
