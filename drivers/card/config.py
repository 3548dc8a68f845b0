"""Card reader configuration: the ``[devices.card]`` table of the kiosk's TOML file.

::

    [devices.card]
    reader = "Virtual PCD 00 00"             # PC/SC reader name, prefix match
    issuer_public_keys = ["/path/issuer.pem"] # PEM public keys or certificates of trusted issuers
    pcsc_socket = "/run/rocars/pcscd.comm"   # optional: a private pcscd (PCSCLITE_CSOCK_NAME)
    call_timeout = 3.0                        # seconds, bound on every PC/SC call
    poll_interval = 0.5                       # seconds, status-change wait per loop turn
    backoff_initial = 0.2                     # seconds, first reconnect delay
    backoff_cap = 5.0                         # seconds, reconnect delay doubles up to this
    read_attempts = 2                         # reads of one insertion before "unreadable"
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

PCSC_SOCKET_ENV = "PCSCLITE_CSOCK_NAME"


class CardConfigError(ValueError):
    """A configuration value breaks its rule; the message names the field and the rule."""


@dataclass(frozen=True)
class CardReaderConfig:
    reader: str
    issuer_public_keys: tuple[Path, ...]
    pcsc_socket: str | None = None
    call_timeout: float = 3.0
    poll_interval: float = 0.5
    backoff_initial: float = 0.2
    backoff_cap: float = 5.0
    read_attempts: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.reader, str) or not self.reader.strip():
            raise CardConfigError("devices.card.reader must be a non-empty reader name (prefix)")
        if not self.issuer_public_keys:
            raise CardConfigError("devices.card.issuer_public_keys must list at least one key file")
        for name in ("call_timeout", "poll_interval", "backoff_initial", "backoff_cap"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 3600:
                raise CardConfigError(f"devices.card.{name} must be a number of seconds in (0, 3600]")
        if self.backoff_cap < self.backoff_initial:
            raise CardConfigError("devices.card.backoff_cap must be >= devices.card.backoff_initial")
        if not isinstance(self.read_attempts, int) or not 1 <= self.read_attempts <= 10:
            raise CardConfigError("devices.card.read_attempts must be an integer 1..10")

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any]) -> CardReaderConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(table) - known)
        if unknown:
            raise CardConfigError(f"devices.card has unknown keys {unknown}; allowed: {sorted(known)}")
        if "reader" not in table:
            raise CardConfigError("devices.card.reader is required")
        keys = table.get("issuer_public_keys")
        if not isinstance(keys, list | tuple) or not all(isinstance(k, str) for k in keys):
            raise CardConfigError("devices.card.issuer_public_keys must be a list of file paths")
        values = dict(table)
        values["issuer_public_keys"] = tuple(Path(k) for k in keys)
        return cls(**values)

    def apply_pcsc_socket(self) -> None:
        """Point libpcsclite at the configured pcscd socket.

        libpcsclite reads ``PCSCLITE_CSOCK_NAME`` once per process, at its first call, so
        all card readers of one process must share one pcscd; a conflict is an error.
        """
        if self.pcsc_socket is None:
            return
        current = os.environ.get(PCSC_SOCKET_ENV)
        if current is not None and current != self.pcsc_socket:
            raise CardConfigError(
                f"devices.card.pcsc_socket {self.pcsc_socket!r} conflicts with {PCSC_SOCKET_ENV}="
                f"{current!r} already set in this process (one pcscd per process)"
            )
        os.environ[PCSC_SOCKET_ENV] = self.pcsc_socket


IssuerKey = ec.EllipticCurvePublicKey


def load_issuer_keys(paths: tuple[Path, ...] | list[Path]) -> list[IssuerKey]:
    """Load trusted issuer keys: PEM public keys or PEM certificates, P-256/P-384 EC keys."""
    keys: list[IssuerKey] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CardConfigError(f"devices.card.issuer_public_keys: cannot read {path}: {exc}") from exc
        key: object
        try:
            if b"BEGIN CERTIFICATE" in data:
                key = x509.load_pem_x509_certificate(data).public_key()
            else:
                key = serialization.load_pem_public_key(data)
        except (ValueError, x509.InvalidVersion) as exc:  # InvalidVersion is no ValueError
            raise CardConfigError(
                f"devices.card.issuer_public_keys: {path} is not a PEM public key or certificate"
            ) from exc
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise CardConfigError(f"devices.card.issuer_public_keys: {path} must hold an EC public key")
        keys.append(key)
    return keys
