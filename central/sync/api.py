"""gRPC edge of lane sync: ``rocars.v1.LaneSync`` (Subscribe, PostCrossingEvents).

Authentication is the server's interceptor (central.api.auth): a lane is the principal
of its verified client certificate, registered and active at central. On top, a lane
may only ask for its own control point and direction, and its certificate's ROCARS URI
(central.pki) must agree with the registration, so a certificate issued for one lane
cannot be re-registered under another lane's name to read its feed.

Configuration: the ``[sync]`` table of the central TOML file (ServerConfig.extra["sync"]) takes the
fields of :class:`central.sync.feed.FeedConfig`, ``watch_poll_s`` and ``retention_days``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import grpc

from central import metrics, pki
from central.api.auth import current_principal
from central.api.registry import ServerContext
from central.services import errors
from central.services.principal import LANE, Principal
from central.sync.feed import FeedConfig, LaneFeed, LaneIdentity
from central.sync.ingest import LaneCaller, ingest
from central.sync.watcher import ChangeWatcher
from proto.rocars.v1 import sync_pb2, sync_pb2_grpc

log = logging.getLogger(__name__)
_DIRECTION_NAMES = {1: "import", 2: "export"}


def _lane_of(principal: Principal, context: grpc.ServicerContext) -> LaneIdentity:
    if principal.role != LANE:
        raise errors.PermissionDenied("lane sync: only lanes (client certificate) may call this")
    pems = context.auth_context().get("x509_pem_cert")
    if pems:
        try:
            named = pki.principal_from_certificate(bytes(pems[0]))  # type: ignore[arg-type]
        except pki.PkiError:
            named = None  # a certificate without a ROCARS URI: the CN registration decides
        if named is not None and (
            named.kind != "lane"
            or named.subject_id != principal.name
            or named.control_point != principal.control_point
            or named.direction != _DIRECTION_NAMES.get(principal.direction)
        ):
            raise errors.PermissionDenied(
                f"client certificate: issued for {named.subject_id} at "
                f"{named.control_point}/{named.direction}, "
                f"which does not match lane {principal.name}'s registration"
            )
    return LaneIdentity(principal.name, principal.control_point, principal.direction)


class LaneSyncServicer(sync_pb2_grpc.LaneSyncServicer):
    def __init__(self, ctx: ServerContext, feed: LaneFeed) -> None:
        self.ctx = ctx
        self.feed = feed

    def Subscribe(
        self, request: sync_pb2.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[sync_pb2.SyncMessage]:
        lane = _lane_of(current_principal(), context)
        problems = []
        if request.lane_id and request.lane_id != lane.lane_id:
            problems.append(
                errors.FieldViolation("lane_id", f"must be the certificate's lane {lane.lane_id}")
            )
        if request.control_point and request.control_point.upper() != lane.control_point:
            problems.append(
                errors.FieldViolation(
                    "control_point", f"must be the lane's control point {lane.control_point}"
                )
            )
        if request.direction and request.direction != lane.direction:
            problems.append(errors.FieldViolation("direction", "must be the lane's direction"))
        if problems:
            raise errors.PermissionDenied("; ".join(str(p) for p in problems))
        metrics.SYNC_STREAMS.inc()
        try:
            yield from self.feed.stream(lane, request.cursor, context.is_active)
        finally:
            metrics.SYNC_STREAMS.dec()

    def PostCrossingEvents(
        self, request: sync_pb2.PostCrossingEventsRequest, context: grpc.ServicerContext
    ) -> sync_pb2.PostCrossingEventsReply:
        lane = _lane_of(current_principal(), context)
        caller = LaneCaller(lane.lane_id, lane.control_point, lane.direction)
        acks = ingest(list(request.events), caller, self.ctx.clock.now())
        metrics.CROSSINGS_INGESTED.inc(sum(1 for ack in acks if not ack.duplicate))
        return sync_pb2.PostCrossingEventsReply(acks=acks)


def add_to_server(server: grpc.Server, ctx: ServerContext) -> None:
    settings: dict[str, Any] = dict(ctx.config.extra.get("sync", {}))
    poll_s = float(settings.pop("watch_poll_s", 0.05))
    retention_s = float(settings.pop("retention_days", 7)) * 86400
    watcher = ChangeWatcher(ctx.database, poll_s=poll_s, retention_s=retention_s, now=ctx.clock.now)
    watcher.start()
    feed = LaneFeed(ctx.database, ctx.clock, watcher, FeedConfig.from_mapping(settings), ctx.stopping)
    # Stopping the watcher wakes every stream waiting on it; they see ``stopping`` and end.
    ctx.on_stopping(watcher.stop)
    ctx.on_shutdown(watcher.stop)  # safe twice
    sync_pb2_grpc.add_LaneSyncServicer_to_server(LaneSyncServicer(ctx, feed), server)
    ctx.service_names.append(sync_pb2.DESCRIPTOR.services_by_name["LaneSync"].full_name)
