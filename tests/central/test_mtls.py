"""Lanes and e-lock gateways authenticate by client certificate on the mutual-TLS
listener; the certificate's identity becomes the principal, and roles still apply."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from central import pki
from central.client import Stubs, stubs_for
from central.server import TlsFiles
from proto.rocars.v1 import common_pb2, registration_pb2
from tests.central.conftest import CORE_MODULES
from tests.support.central import CentralUnderTest, running_central, sqlite_url, submit_request


@dataclass
class Tls:
    central: CentralUnderTest
    dir: Path
    ca: pki.Issued

    def client(self, issued: pki.Issued | None) -> Stubs:
        """Stubs on the lane listener presenting ``issued`` (or no certificate)."""
        cert = key = None
        if issued is not None:
            cert, key = pki.write_pair(self.dir, f"client{self.central.unique()}", issued)
        return stubs_for(self.central.channel(lane=True, client_cert=cert, client_key=key), None)


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[Tls]:
    ca = pki.create_ca()
    pki.write_pair(tmp_path, "ca", ca)
    server_cert, server_key = pki.write_pair(
        tmp_path, "server", pki.issue_server(ca, ["localhost", "127.0.0.1"])
    )
    files = TlsFiles(server_cert, server_key, tmp_path / "ca.pem")
    with running_central(sqlite_url(tmp_path), modules=CORE_MODULES, tls=files) as under_test:
        under_test.world()  # registers lane LMC-I-01 (LMC import)
        yield Tls(under_test, tmp_path, ca)


def test_lane_certificate_is_a_lane_principal(tls: Tls) -> None:
    lane = tls.client(pki.issue_lane(tls.ca, "LMC-I-01", "LMC", "import"))
    me = lane.registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
    assert (me.role, me.display_name, me.control_point, me.direction) == (
        common_pb2.LANE,
        "LMC-I-01",
        "LMC",
        common_pb2.IMPORT,
    )
    # A lane may not file cargo or register anything.
    with pytest.raises(grpc.RpcError) as err:
        lane.cargo.SubmitConsignment(
            submit_request("lane-0001", tls.central.clock.now() + timedelta(hours=1)), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_gateway_certificate_is_a_gateway_principal(tls: Tls) -> None:
    gateway = tls.client(pki.issue_elock_gateway(tls.ca, "GW-7"))
    me = gateway.registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
    assert (me.role, me.display_name) == (common_pb2.ELOCK_GATEWAY, "GW-7")


@pytest.mark.parametrize(
    ("lane_id", "cp", "direction"),
    [
        ("LMC-I-99", "LMC", "import"),  # not registered
        ("LMC-I-01", "LMC", "export"),  # registered for import
        ("LMC-I-01", "MKT", "import"),  # registered at LMC
    ],
)
def test_lane_certificate_must_match_registration(tls: Tls, lane_id: str, cp: str, direction: str) -> None:
    lane = tls.client(pki.issue_lane(tls.ca, lane_id, cp, direction))
    with pytest.raises(grpc.RpcError) as err:
        lane.registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_deactivated_lane_is_refused(tls: Tls) -> None:
    lanes = tls.central.as_officer().registration.ListLanes(
        registration_pb2.ListAccountsRequest(), timeout=10
    )
    tls.central.as_officer().registration.SetAccountActive(
        registration_pb2.SetAccountActiveRequest(
            account_kind=registration_pb2.ACCOUNT_LANE, account_id=lanes.lanes[0].id, active=False
        ),
        timeout=10,
    )
    lane = tls.client(pki.issue_lane(tls.ca, "LMC-I-01", "LMC", "import"))
    with pytest.raises(grpc.RpcError) as err:
        lane.registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_no_or_foreign_certificate_cannot_connect_to_the_lane_listener(tls: Tls) -> None:
    with pytest.raises(grpc.RpcError) as err:
        tls.client(None).registration.WhoAmI(registration_pb2.WhoAmIRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    stranger = pki.create_ca("Someone else's CA")
    with pytest.raises(grpc.RpcError) as err:
        tls.client(pki.issue_lane(stranger, "LMC-I-01", "LMC", "import")).registration.WhoAmI(
            registration_pb2.WhoAmIRequest(), timeout=5
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_token_listener_speaks_tls_without_client_certificates(tls: Tls) -> None:
    me = stubs_for(tls.central.channel(), tls.central.officer_token).registration.WhoAmI(
        registration_pb2.WhoAmIRequest(), timeout=10
    )
    assert me.role == common_pb2.OFFICER
