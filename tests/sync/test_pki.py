"""``rocars pki``: a CA, server, lane and e-lock gateway certificates, and how central
reads a lane's identity from its certificate."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from central import pki

ROCARS = [sys.executable, "-m", "central.cli.app"]


def _rocars(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ROCARS, *args], capture_output=True, text=True, timeout=60)


def test_cli_issues_a_working_chain(tmp_path: Path) -> None:
    d = str(tmp_path / "pki")
    assert _rocars("pki", "init-ca", "--dir", d).returncode == 0
    assert _rocars("pki", "server", "--dir", d, "--host", "localhost", "--host", "127.0.0.1").returncode == 0
    assert (
        _rocars(
            "pki", "lane", "--dir", d, "--lane", "LMC-I-01", "--control-point", "lmc", "--direction", "import"
        ).returncode
        == 0
    )
    assert _rocars("pki", "elock-gateway", "--dir", d, "--id", "GW-7").returncode == 0
    shown = json.loads(_rocars("pki", "show", f"{d}/lanes/LMC-I-01.pem").stdout)
    assert shown["principal"] == {
        "kind": "lane",
        "id": "LMC-I-01",
        "control_point": "LMC",
        "direction": "import",
    }
    assert shown["subject"] == "CN=LMC-I-01,OU=lane,O=ROCARS"
    for key in Path(d).rglob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    ca = x509.load_pem_x509_certificate(Path(d, "ca.pem").read_bytes())
    for leaf in ("server.pem", "lanes/LMC-I-01.pem", "gateways/GW-7.pem"):
        cert = x509.load_pem_x509_certificate(Path(d, leaf).read_bytes())
        cert.verify_directly_issued_by(ca)  # raises if not signed by our CA
    gateway = pki.principal_from_certificate(Path(d, "gateways/GW-7.pem").read_bytes())
    assert (gateway.kind, gateway.subject_id) == ("elock_gateway", "GW-7")


def test_cli_refuses_to_overwrite_keys_and_bad_input(tmp_path: Path) -> None:
    d = str(tmp_path / "pki")
    assert _rocars("pki", "init-ca", "--dir", d).returncode == 0
    again = _rocars("pki", "init-ca", "--dir", d)
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    bad = _rocars(
        "pki", "lane", "--dir", d, "--lane", "LMC I 01", "--control-point", "LMC", "--direction", "import"
    )
    assert bad.returncode == 1 and "lane.id" in bad.stderr
    missing = _rocars("pki", "server", "--dir", str(tmp_path / "nowhere"), "--host", "localhost")
    assert missing.returncode == 1 and "init-ca" in missing.stderr


def test_a_certificate_without_rocars_identity_is_refused() -> None:
    ca = pki.create_ca()
    server = pki.issue_server(ca, ["localhost"])
    with pytest.raises(pki.PkiError, match="no ROCARS identity"):
        pki.principal_from_certificate(server.cert_pem)
    with pytest.raises(pki.PkiError, match="direction"):
        pki.issue_lane(ca, "L1", "LMC", "sideways")
