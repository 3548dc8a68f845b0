"""A small certificate authority for mutual TLS between central, lanes and e-lock gateways.

Identity lives in the certificate, not in anything the client says: a lane certificate
carries the URI subject-alternative name ``urn:rocars:lane:<CP>:<import|export>:<LANE>``
and an e-lock gateway's ``urn:rocars:elock-gateway:<ID>``; the subject CN repeats the
lane code (or gateway id) for humans and logs. Central maps a verified client
certificate to a principal with :func:`principal_from_certificate`.

Keys are ECDSA P-256; private keys are written ``0600`` and never printed.

Development and tests use ``rocars pki`` to make everything here. In production the CA
key stays offline (or in an HSM / a managed private CA); issue one certificate per lane
with a short lifetime (e.g. 90 days) and renew it automatically; remove a decommissioned
lane by deactivating it at central (central refuses certificates of unknown or inactive
lanes) as well as by letting its certificate expire.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LANE_URI_PREFIX = "urn:rocars:lane:"
ELOCK_URI_PREFIX = "urn:rocars:elock-gateway:"
DIRECTIONS = ("import", "export")


class PkiError(ValueError):
    """A certificate request or a presented certificate is not acceptable."""


@dataclass(frozen=True, slots=True)
class Issued:
    key_pem: bytes
    cert_pem: bytes


@dataclass(frozen=True, slots=True)
class CertificatePrincipal:
    """Who a verified client certificate speaks for."""

    kind: str  # "lane" | "elock_gateway"
    subject_id: str  # lane code or gateway id
    control_point: str = ""
    direction: str = ""  # "import" | "export" for a lane


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ROCARS"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def create_ca(common_name: str = "ROCARS development CA", days: int = 3650) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name, "ca")
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def _load_ca(ca: Issued) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError("ca.key: not an EC private key")
    return key, x509.load_pem_x509_certificate(ca.cert_pem)


def _issue(
    ca: Issued,
    common_name: str,
    unit: str,
    sans: list[x509.GeneralName],
    usage: list[x509.ObjectIdentifier],
    days: int,
) -> Issued:
    ca_key, ca_cert = _load_ca(ca)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, unit))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Issued(_key_pem(key), cert.public_bytes(serialization.Encoding.PEM))


def issue_server(ca: Issued, hosts: list[str], days: int = 825) -> Issued:
    """A server certificate for central, valid for each DNS name or IP address given."""
    if not hosts:
        raise PkiError("server.hosts: at least one DNS name or IP address is required")
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    return _issue(ca, hosts[0], "central", sans, [ExtendedKeyUsageOID.SERVER_AUTH], days)


def _check_code(field: str, value: str) -> str:
    if not value or len(value) > 32 or not all(c.isalnum() or c in "-_." for c in value):
        raise PkiError(f"{field}: {value!r} must be 1-32 letters, digits, '-', '_' or '.'")
    return value


def lane_uri(lane_id: str, control_point: str, direction: str) -> str:
    return f"{LANE_URI_PREFIX}{control_point}:{direction}:{lane_id}"


def issue_lane(ca: Issued, lane_id: str, control_point: str, direction: str, days: int = 90) -> Issued:
    """A lane's client certificate naming its lane code, control point and direction."""
    _check_code("lane.id", lane_id)
    control_point = _check_code("lane.control_point", control_point).upper()
    if direction not in DIRECTIONS:
        raise PkiError(f"lane.direction: {direction!r} must be import or export")
    uri = lane_uri(lane_id, control_point, direction)
    return _issue(
        ca, lane_id, "lane", [x509.UniformResourceIdentifier(uri)], [ExtendedKeyUsageOID.CLIENT_AUTH], days
    )


def issue_elock_gateway(ca: Issued, gateway_id: str, days: int = 90) -> Issued:
    _check_code("gateway.id", gateway_id)
    uri = f"{ELOCK_URI_PREFIX}{gateway_id}"
    return _issue(
        ca,
        gateway_id,
        "elock-gateway",
        [x509.UniformResourceIdentifier(uri)],
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        days,
    )


def principal_from_certificate(cert_pem: bytes) -> CertificatePrincipal:
    """Map a client certificate that TLS has already verified against the CA to its
    principal. Raises PkiError when it names no ROCARS identity."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound) as exc:
        raise PkiError("client certificate: no subject alternative name with a ROCARS identity") from exc
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(LANE_URI_PREFIX):
            parts = uri[len(LANE_URI_PREFIX) :].split(":")
            if len(parts) == 3 and parts[1] in DIRECTIONS and all(parts):
                return CertificatePrincipal("lane", parts[2], parts[0].upper(), parts[1])
            raise PkiError(f"client certificate: malformed lane identity {uri!r}")
        if uri.startswith(ELOCK_URI_PREFIX) and uri[len(ELOCK_URI_PREFIX) :]:
            return CertificatePrincipal("elock_gateway", uri[len(ELOCK_URI_PREFIX) :])
    raise PkiError("client certificate: no ROCARS identity (urn:rocars:...) in its subject alternative names")


# --- files -------------------------------------------------------------------------


def write_pair(directory: Path, stem: str, issued: Issued) -> tuple[Path, Path]:
    """Write STEM.pem and STEM.key (0600) into ``directory``; refuses to overwrite a key."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    if key_path.exists():
        raise PkiError(f"{key_path}: exists; refusing to overwrite a private key")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(issued.key_pem)
    cert_path.write_bytes(issued.cert_pem)
    return cert_path, key_path


def read_ca(directory: Path) -> Issued:
    try:
        return Issued((directory / "ca.key").read_bytes(), (directory / "ca.pem").read_bytes())
    except FileNotFoundError as exc:
        raise PkiError(f"{directory}: no CA here (run `rocars pki init-ca --dir {directory}` first)") from exc
