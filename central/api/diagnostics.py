"""Diagnostics.Echo: the cheapest authenticated call (benchmark ceiling, smoke checks)."""

from __future__ import annotations

import grpc

from central.api.registry import ServerContext
from central.services.errors import FieldViolation, ValidationError
from proto.rocars.v1 import diagnostics_pb2, diagnostics_pb2_grpc


class DiagnosticsServicer(diagnostics_pb2_grpc.DiagnosticsServicer):
    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    def Echo(
        self, request: diagnostics_pb2.EchoRequest, context: grpc.ServicerContext
    ) -> diagnostics_pb2.EchoReply:
        if len(request.message) > 1024:
            raise ValidationError([FieldViolation("message", "must be at most 1024 characters")])
        now_ms = int(self.ctx.clock.now().timestamp() * 1000)
        return diagnostics_pb2.EchoReply(message=request.message, server_time_unix_ms=now_ms)


def add_to_server(server: grpc.Server, ctx: ServerContext) -> None:
    diagnostics_pb2_grpc.add_DiagnosticsServicer_to_server(DiagnosticsServicer(ctx), server)
    ctx.service_names.append(diagnostics_pb2.DESCRIPTOR.services_by_name["Diagnostics"].full_name)
