"""rocars-central's lifecycle with lanes attached: SIGTERM ends the lane streams at once
(normally, so lanes resume from their cursor), and the default worker pool leaves room
for ordinary calls while many lanes hold a stream each."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from proto.rocars.v1 import common_pb2, sync_pb2, sync_pb2_grpc
from tests.sync.support import CentralProcess, Pki, add_trip, must

GRACE_S = 10.0  # rocars-central's shutdown grace (central.server.main)


def _request() -> sync_pb2.SubscribeRequest:
    return sync_pb2.SubscribeRequest(lane_id="LMC-I-01", control_point="LMC", direction=common_pb2.IMPORT)


def test_sigterm_ends_lane_streams_at_once(sqlite_world: str, certs: Pki, tmp_path: Path) -> None:
    add_trip()
    central = CentralProcess(sqlite_world, certs, tmp_path).start()
    ended: list[grpc.StatusCode] = []
    try:
        with grpc.secure_channel(central.lane_target, certs.lane("LMC-I-01").credentials()) as channel:
            stream = sync_pb2_grpc.LaneSyncStub(channel).Subscribe(_request(), timeout=60)
            kinds = []
            for msg in stream:  # up to the snapshot's end: the lane is now only listening
                kinds.append(msg.kind)
                if msg.kind == sync_pb2.SNAPSHOT_END:
                    break
            assert kinds[-1] == sync_pb2.SNAPSHOT_END
            started = time.monotonic()
            must(central.proc).terminate()
            try:
                for _ in stream:  # heartbeats until the server ends the stream
                    pass
                ended.append(grpc.StatusCode.OK)
            except grpc.RpcError as exc:
                ended.append(exc.code())
            stream_end_s = time.monotonic() - started
            rc = must(central.proc).wait(timeout=GRACE_S + 10)
            exit_s = time.monotonic() - started
    finally:
        central.stop()
    # Before the fix the stream ran until the grace expired and was then cancelled.
    assert ended == [grpc.StatusCode.OK], f"the stream ended with {ended}, not a normal end"
    assert rc == 0
    assert stream_end_s < GRACE_S / 2, f"the stream took {stream_end_s:.1f} s to end"
    assert exit_s < GRACE_S / 2 + 2, f"rocars-central took {exit_s:.1f} s to exit"


def test_default_workers_leave_room_for_calls_beside_many_lane_streams(
    sqlite_world: str, certs: Pki, tmp_path: Path
) -> None:
    # No --lane-workers: the default (expected lanes + 16). The old default of 16 threads was
    # used up by 16 lane streams, after which nothing else was answered.
    central = CentralProcess(sqlite_world, certs, tmp_path, workers=None).start()
    streams = 24
    first: list[int] = []
    lock = threading.Lock()
    try:
        with grpc.secure_channel(central.lane_target, certs.lane("LMC-I-01").credentials()) as lanes:
            calls = [
                sync_pb2_grpc.LaneSyncStub(lanes).Subscribe(_request(), timeout=60) for _ in range(streams)
            ]

            def read_first(call: grpc.Call) -> None:
                kind = next(iter(call)).kind  # type: ignore[call-overload]
                with lock:
                    first.append(kind)

            readers = [threading.Thread(target=read_first, args=(c,), daemon=True) for c in calls]
            for r in readers:
                r.start()
            for r in readers:
                r.join(timeout=30)
            assert len(first) == streams, f"only {len(first)} of {streams} lane streams were served"
            ca = grpc.ssl_channel_credentials((certs.dir / "ca.pem").read_bytes())
            with grpc.secure_channel(f"localhost:{central.api_port}", ca) as api:
                reply = health_pb2_grpc.HealthStub(api).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            for c in calls:
                c.cancel()
    finally:
        central.stop()


def test_a_pool_smaller_than_the_expected_lanes_is_warned_about(
    sqlite_world: str, certs: Pki, tmp_path: Path
) -> None:
    central = CentralProcess(
        sqlite_world, certs, tmp_path, workers=8, central_settings="expected_lanes = 20\n"
    )
    central.start()
    central.stop()
    assert "expected lanes" in central.log.read_text(), "a too-small pool must be warned about"


def test_lane_streams_filling_their_pool_never_starve_token_calls(
    sqlite_world: str, certs: Pki, tmp_path: Path
) -> None:
    # Two lane threads, held by two streams: a third lane waits. The token listener has
    # its own pool, so people's calls are still answered (with one shared pool, as before,
    # they queued behind the streams until one ended).
    central = CentralProcess(sqlite_world, certs, tmp_path, workers=2).start()
    try:
        with grpc.secure_channel(central.lane_target, certs.lane("LMC-I-01").credentials()) as lanes:
            calls = [sync_pb2_grpc.LaneSyncStub(lanes).Subscribe(_request(), timeout=60) for _ in range(3)]
            served: list[int] = []
            lock = threading.Lock()

            def read_first(call: grpc.Call) -> None:
                with contextlib.suppress(grpc.RpcError):
                    next(iter(call))  # type: ignore[call-overload]
                    with lock:
                        served.append(1)

            readers = [threading.Thread(target=read_first, args=(c,), daemon=True) for c in calls]
            for r in readers:
                r.start()
            deadline = time.monotonic() + 30
            while len(served) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(served) == 2, f"{len(served)} lane streams served by a pool of 2"
            ca = grpc.ssl_channel_credentials((certs.dir / "ca.pem").read_bytes())
            with grpc.secure_channel(f"localhost:{central.api_port}", ca) as api:
                reply = health_pb2_grpc.HealthStub(api).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert len(served) == 2, "the third lane must still be waiting for a lane thread"
            for c in calls:
                c.cancel()
            for r in readers:
                r.join(timeout=10)
    finally:
        central.stop()
