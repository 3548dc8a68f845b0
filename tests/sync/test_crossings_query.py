"""Officers list and count the crossing events lanes sent, through rocars-central (a
process) and through the ``rocars crossings`` CLI; lanes post with their certificates."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from central.client import open_channel
from central.services import tokens
from central.services.bootstrap import bootstrap
from central.store import models as m
from central.store.db import write_transaction
from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc
from tests.sync.support import BIN, ROOT, CentralProcess, Pki, add_trip

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def _stamp(when: datetime) -> Timestamp:
    out = Timestamp()
    out.FromDatetime(when)
    return out


def _post(central: CentralProcess, certs: Pki, lane: str, events: list[tuple[int, str, int]]) -> None:
    """events: (outcome, trip reference, minutes after T0)."""
    with grpc.secure_channel(central.lane_target, certs.lane(lane).credentials()) as channel:
        reply = sync_pb2_grpc.LaneSyncStub(channel).PostCrossingEvents(
            sync_pb2.PostCrossingEventsRequest(
                events=[
                    sync_pb2.CrossingEvent(
                        idempotency_key=f"{lane}:{i}",
                        lane_id=lane,
                        sequence=i,
                        outcome=outcome,  # type: ignore[arg-type]
                        trip_reference=trip,
                        occurred_at=_stamp(T0 + timedelta(minutes=minutes)),
                        reasons=["VERDICT_CLEAR"],
                    )
                    for i, (outcome, trip, minutes) in enumerate(events, start=1)
                ]
            ),
            timeout=10,
        )
    assert len(reply.acks) == len(events) and not any(a.duplicate for a in reply.acks)


@pytest.fixture
def posted(central_proc: CentralProcess, certs: Pki) -> tuple[CentralProcess, str, str]:
    with write_transaction():
        _officer, officer_token, _ = bootstrap("OFF-9", "Officer Lam", datetime.now(UTC))
        company = m.Company.get(m.Company.brn == "11112222")
        company_token = tokens.issue(common_pb2.COMPANY, datetime.now(UTC), company=company)
    lmc = add_trip("LMC")
    sbc = add_trip("SBC")
    released, inspect = sync_pb2.CROSSING_RELEASED, sync_pb2.CROSSING_SENT_TO_INSPECTION
    _post(
        central_proc,
        certs,
        "LMC-I-01",
        [(released, lmc.reference, 0), (inspect, "", 60), (released, "", 120)],
    )
    _post(central_proc, certs, "LMC-I-02", [(released, "", 30)])
    _post(central_proc, certs, "SBC-I-01", [(released, sbc.reference, 90)])
    return central_proc, officer_token, company_token


def _crossings(
    central: CentralProcess, certs: Pki, token: str
) -> tuple[grpc.Channel, sync_pb2_grpc.CrossingsStub]:
    from central.client import BearerInterceptor

    raw = open_channel(f"localhost:{central.api_port}", tls_ca=certs.dir / "ca.pem")
    return raw, sync_pb2_grpc.CrossingsStub(grpc.intercept_channel(raw, BearerInterceptor(token)))


def test_officer_lists_and_counts_by_lane_control_point_outcome_and_window(
    posted: tuple[CentralProcess, str, str], certs: Pki
) -> None:
    central, officer, company = posted
    channel, stub = _crossings(central, certs, officer)
    try:
        everything = stub.CountCrossingEvents(
            sync_pb2.CountCrossingEventsRequest(
                group_by=[sync_pb2.GROUP_BY_CONTROL_POINT, sync_pb2.GROUP_BY_OUTCOME]
            ),
            timeout=10,
        )
        assert everything.total == 5
        assert {(g.control_point, g.outcome, g.count) for g in everything.groups} == {
            ("LMC", sync_pb2.CROSSING_RELEASED, 3),
            ("LMC", sync_pb2.CROSSING_SENT_TO_INSPECTION, 1),
            ("SBC", sync_pb2.CROSSING_RELEASED, 1),
        }
        assert all(g.lane_id == "" for g in everything.groups)  # not grouped by lane
        # A window: [T0+30m, T0+120m) holds the events at 30, 60 and 90 minutes.
        window = sync_pb2.CrossingFilter(
            occurred_from=_stamp(T0 + timedelta(minutes=30)),
            occurred_before=_stamp(T0 + timedelta(minutes=120)),
        )
        by_lane = stub.CountCrossingEvents(
            sync_pb2.CountCrossingEventsRequest(filter=window, group_by=[sync_pb2.GROUP_BY_LANE]), timeout=10
        )
        assert {(g.lane_id, g.count) for g in by_lane.groups} == {
            ("LMC-I-01", 1),
            ("LMC-I-02", 1),
            ("SBC-I-01", 1),
        }
        # Paging through one lane's events with pages of one: each once, in order.
        request = sync_pb2.ListCrossingEventsRequest(
            filter=sync_pb2.CrossingFilter(lane_ids=["lmc-i-01"]), page=common_pb2.PageRequest(page_size=1)
        )
        seen = []
        for _ in range(10):
            page = stub.ListCrossingEvents(request, timeout=10)
            seen.extend(page.events)
            if not page.next_page_token:
                break
            request.page.page_token = page.next_page_token
        assert [s.event.sequence for s in seen] == [1, 2, 3]
        assert (
            seen[0].applied and seen[0].control_point == "LMC" and seen[0].event.reasons == ["VERDICT_CLEAR"]
        )
        assert not seen[1].applied and seen[1].note  # no trip: stored, kept, not applied
        only = stub.ListCrossingEvents(
            sync_pb2.ListCrossingEventsRequest(
                filter=sync_pb2.CrossingFilter(
                    control_points=["SBC"], outcomes=[sync_pb2.CROSSING_RELEASED], direction=common_pb2.IMPORT
                )
            ),
            timeout=10,
        )
        assert [s.event.lane_id for s in only.events] == ["SBC-I-01"]

        # Bad input names the field and the rule.
        with pytest.raises(grpc.RpcError) as err:
            stub.CountCrossingEvents(
                sync_pb2.CountCrossingEventsRequest(
                    filter=sync_pb2.CrossingFilter(
                        occurred_from=_stamp(T0), occurred_before=_stamp(T0 - timedelta(hours=1))
                    )
                ),
                timeout=10,
            )
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "filter.occurred_before" in (err.value.details() or "")
    finally:
        channel.close()
    # Another role is refused.
    channel, stub = _crossings(central, certs, company)
    try:
        with pytest.raises(grpc.RpcError) as err:
            stub.CountCrossingEvents(sync_pb2.CountCrossingEventsRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    finally:
        channel.close()


def _cli(central: CentralProcess, certs: Pki, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ROCARS_TOKEN": token}
    return subprocess.run(
        [
            str(BIN / "rocars"),
            "crossings",
            *args,
            "--server",
            f"localhost:{central.api_port}",
            "--tls-ca",
            str(certs.dir / "ca.pem"),
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_counts_and_lists(posted: tuple[CentralProcess, str, str], certs: Pki) -> None:
    central, officer, _company = posted
    out = _cli(central, certs, officer, "count", "--control-point", "LMC", "--group-by", "outcome", "--json")
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert int(reply["total"]) == 4
    assert {g["outcome"]: int(g["count"]) for g in reply["groups"]} == {
        "CROSSING_RELEASED": 3,
        "CROSSING_SENT_TO_INSPECTION": 1,
    }
    out = _cli(central, certs, officer, "list", "--lane", "LMC-I-01", "--outcome", "sent-to-inspection")
    assert out.returncode == 0, out.stderr
    assert "sent to inspection" in out.stdout and "1 event(s)" in out.stdout
    out = _cli(central, certs, officer, "list", "--all", "--page-size", "2", "--since=-4h", "--json")
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["events"]) == 5
    out = _cli(central, certs, officer, "count", "--outcome", "teleported")
    assert out.returncode == 2 and "--outcome" in out.stderr
