"""Mutual-TLS credentials of a lane: its own certificate and key, and the CA that
issued central's server certificate (``rocars pki`` makes all three for development)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc


class TlsConfigError(ValueError):
    """A certificate or key file named in the lane's configuration cannot be used."""


@dataclass(frozen=True, slots=True)
class LaneTls:
    ca: Path  # CA of central's server certificate
    cert: Path  # this lane's certificate
    key: Path  # this lane's private key
    server_name: str = ""  # override the name checked in central's certificate

    def _read(self, field: str, path: Path) -> bytes:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TlsConfigError(f"tls.{field}: cannot read {path}: {exc.strerror}") from exc
        if b"-----BEGIN" not in data:
            raise TlsConfigError(f"tls.{field}: {path} is not PEM")
        return data

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self._read("ca", self.ca),
            private_key=self._read("key", self.key),
            certificate_chain=self._read("cert", self.cert),
        )

    def channel_options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []
