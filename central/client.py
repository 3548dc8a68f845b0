"""Programmatic client helpers: a channel that sends the bearer token on every call,
and the service stubs in one object. Used by the CLI, the sample, the benchmark and
tests of every area."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from proto.rocars.v1 import (
    bundling_pb2_grpc,
    cargo_pb2_grpc,
    diagnostics_pb2_grpc,
    registration_pb2_grpc,
)


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: list[tuple[str, str]]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata  # type: ignore[assignment]
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class BearerInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` (works on plaintext loopback channels,
    where gRPC refuses call credentials)."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [m for m in (details.metadata or []) if m[0] != "authorization"]
        return _ClientCallDetails(details, [*metadata, self._header])  # type: ignore[list-item]

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(client_call_details), request)


def open_channel(
    target: str,
    *,
    tls_ca: Path | None = None,
    tls: bool = False,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    server_name: str | None = None,
) -> grpc.Channel:
    options: list[tuple[str, Any]] = [("grpc.max_receive_message_length", 16 << 20)]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    if tls or tls_ca or client_cert:
        creds = grpc.ssl_channel_credentials(
            root_certificates=tls_ca.read_bytes() if tls_ca else None,
            private_key=client_key.read_bytes() if client_key else None,
            certificate_chain=client_cert.read_bytes() if client_cert else None,
        )
        return grpc.secure_channel(target, creds, options=options)
    return grpc.insecure_channel(target, options=options)


@dataclass
class Stubs:
    channel: grpc.Channel
    registration: registration_pb2_grpc.RegistrationStub
    cargo: cargo_pb2_grpc.CargoStub
    bundling: bundling_pb2_grpc.BundlingStub
    diagnostics: diagnostics_pb2_grpc.DiagnosticsStub

    def close(self) -> None:
        self.channel.close()


def stubs_for(channel: grpc.Channel, token: str | None) -> Stubs:
    """Stubs over ``channel``, authenticated with ``token`` when given."""
    authed = grpc.intercept_channel(channel, BearerInterceptor(token)) if token else channel
    return Stubs(
        channel=channel,
        registration=registration_pb2_grpc.RegistrationStub(authed),
        cargo=cargo_pb2_grpc.CargoStub(authed),
        bundling=bundling_pb2_grpc.BundlingStub(authed),
        diagnostics=diagnostics_pb2_grpc.DiagnosticsStub(authed),
    )
