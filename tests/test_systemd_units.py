"""The systemd units parse cleanly and keep the properties operations rely on."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "systemd").glob("*.service"))


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_units_exist() -> None:
    names = {p.name for p in UNITS}
    assert {"rocars-central.service", "rocars-kiosk@.service", "rocars-sim-lane@.service"} <= names


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_is_clean(unit: Path, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze not found (Debian package 'systemd'; scripts/setup.sh installs it)")
    # Point ExecStart at this checkout so verify can check the executables exist.
    text = unit.read_text().replace("/opt/rocars/", f"{ROOT}/")
    (tmp_path / unit.name).write_text(text)
    name = unit.name.replace("@.service", "@lane1.service") if "@." in unit.name else unit.name
    result = subprocess.run(
        [analyze, "verify", "--man=no", f"./{name}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )
    output = (result.stdout + result.stderr).strip()
    # verify exits 0 on unknown keys and bad values but prints them: both must be empty.
    assert result.returncode == 0, output
    own_lines = [line for line in output.splitlines() if unit.name.split("@")[0] in line]
    assert not own_lines, output


def test_kiosk_unit_is_notify_with_watchdog_and_hardened() -> None:
    service = _unit(ROOT / "systemd" / "rocars-kiosk@.service")["Service"]
    assert service["Type"] == "notify"
    assert service["WatchdogSec"]
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("", "root")
    assert service["ProtectSystem"] == "strict"
    assert service["DevicePolicy"] == "closed"
    assert "%i" in service["ExecStart"]


def test_central_unit_restarts_and_is_hardened() -> None:
    service = _unit(ROOT / "systemd" / "rocars-central.service")["Service"]
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("", "root")
    assert service["ProtectSystem"] == "strict"
    assert service["NoNewPrivileges"] == "yes"
