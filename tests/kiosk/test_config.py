"""The kiosk's TOML configuration: good files load whole; every broken rule is named."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import os
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import ConfigError, KioskConfig, load_config, main, parse_config
from lanes.config import LaneConfig

# The device part exactly as the shared lane conventions show it (rocars-sim lane writes it).
CONVENTIONS_EXAMPLE = """
[lane]
id = "LMC-I-01"           # lane id
control_point = "LMC"     # control point code
direction = "import"      # import | export

[devices.rfid]
url = "/dev/pts/7"        # anything serial_for_url takes
baudrate = 115200
reader_address = 255

[devices.io]
url = "/dev/pts/8"
baudrate = 19200
unit = 1
watchdog_ms = 2000

[devices.card]
reader = "Virtual PCD 00 00"            # PC/SC reader name (prefix match)
issuer_public_keys = ["{issuer}"]

[devices.camera]
url = "http://127.0.0.1:8090/stream.mjpg"   # or a file, a folder, or a device index
"""

FULL = """
[lane]
id = "SBC-E-12"
control_point = "SBC"
direction = "export"
stale_after_s = 300
identify_timeout_s = 45
vacate_s = 2.5

[central]
address = "central.example.hk:7443"
ca = "tls/ca.pem"
cert = "tls/lane.pem"
key = "tls/lane.key"
rpc_timeout_s = 4

[cache]
path = "state/cache.sqlite3"

[journal]
path = "/var/lib/rocars/journal"

[devices.rfid]
url = "socket://127.0.0.1:4001"
command_timeout = 0.25
hold_time = 0.8

[devices.io]
url = "/dev/ttyUSB0"
unit = 17
watchdog_ms = 0

[devices.card]
reader = "Virtual PCD"
issuer_public_keys = ["keys/issuer-a.pem", "keys/issuer-b.pem"]
call_timeout = 2.0

[devices.camera]
url = "replay/frames"
stale_after = 0.5
fps = 12.5

[metrics]
listen = "0.0.0.0:9460"

[anpr]
frames_per_vehicle = 7
"""


def touch(path: Path, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("-----BEGIN PUBLIC KEY-----\n")
    path.chmod(mode)
    return path


@pytest.fixture
def lane_dir(tmp_path: Path) -> Path:
    for name in ("tls/ca.pem", "tls/lane.pem", "keys/issuer-a.pem", "keys/issuer-b.pem", "issuer.pem"):
        touch(tmp_path / name)
    touch(tmp_path / "tls/lane.key", 0o600)
    return tmp_path


def minimal() -> dict[str, Any]:
    return {
        "lane": {"id": "LMC-I-01", "control_point": "LMC", "direction": "import"},
        "devices": {"io": {"url": "/dev/pts/8"}},
    }


def errors_of(data: dict[str, Any], base: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, base)
    return info.value.errors


def test_the_conventions_example_loads_as_is(lane_dir: Path) -> None:
    path = lane_dir / "lane.toml"
    path.write_text(CONVENTIONS_EXAMPLE.replace("{issuer}", str(lane_dir / "issuer.pem")))
    config = load_config(path)
    assert config.lane.id == "LMC-I-01" and config.lane.direction == "import"
    assert config.devices.rfid is not None and config.devices.rfid.url == "/dev/pts/7"
    assert config.devices.rfid.reader_address == 255 and config.devices.rfid.baudrate == 115200
    assert config.devices.io.unit == 1 and config.devices.io.watchdog_ms == 2000
    assert config.devices.card is not None and config.devices.card.reader == "Virtual PCD 00 00"
    assert config.devices.card.issuer_public_keys == (lane_dir / "issuer.pem",)
    assert config.devices.camera is not None
    assert config.devices.camera.url == "http://127.0.0.1:8090/stream.mjpg"
    assert config.central is None  # an offline lane
    assert config.lane.stale_after_s == 600.0
    assert config.anpr.enabled and config.anpr.frames_per_vehicle == 5
    assert config.cache.path == lane_dir / "cache.sqlite3"
    assert config.source == path


def test_a_full_file_with_relative_paths(lane_dir: Path) -> None:
    path = lane_dir / "kiosk.toml"
    path.write_text(FULL)
    config = load_config(path)
    assert config.central is not None
    assert config.central.key == lane_dir / "tls/lane.key"
    assert config.central.rpc_timeout_s == 4.0 and config.central.connect_timeout_s == 5.0
    assert config.cache.path == lane_dir / "state/cache.sqlite3"
    assert config.journal.path == Path("/var/lib/rocars/journal")
    assert config.devices.camera is not None
    assert config.devices.camera.url == str(lane_dir / "replay/frames")
    assert config.devices.camera.fps == 12.5 and config.devices.camera.stale_after == 0.5
    assert config.devices.rfid is not None
    assert config.devices.rfid.command_timeout == 0.25 and config.devices.rfid.hold_time == 0.8
    assert config.devices.card is not None and config.devices.card.call_timeout == 2.0
    assert config.devices.card.issuer_public_keys == (
        lane_dir / "keys/issuer-a.pem",
        lane_dir / "keys/issuer-b.pem",
    )
    assert config.devices.io.watchdog_ms == 0 and config.devices.io.unit == 17
    assert config.metrics.listen == "0.0.0.0:9460"
    assert config.anpr.frames_per_vehicle == 7
    logic = config.lane.logic
    assert isinstance(logic, LaneConfig)
    assert logic.stale_limit_s == 300 and logic.identify_timeout_s == 45 and logic.vacate_s == 2.5
    assert logic.lane_id == "SBC-E-12" and str(logic.direction) == "export"


def test_device_sections_feed_the_drivers(lane_dir: Path) -> None:
    """Each [devices.*] table maps onto its driver's own settings without renaming."""
    from drivers.camera import CameraSettings, PlateCamera
    from drivers.io import LaneIO
    from drivers.rfid import RfidReader

    path = lane_dir / "kiosk.toml"
    path.write_text(FULL)
    devices = load_config(path).devices
    assert isinstance(devices.camera, CameraSettings)
    PlateCamera(devices.camera).close()  # accepted as is (never started)
    io_args = set(inspect.signature(LaneIO).parameters)
    assert {f.name for f in dataclasses.fields(devices.io)} - {"backoff_initial", "backoff_cap"} <= io_args
    rfid_args = set(inspect.signature(RfidReader).parameters)
    rfid_fields = {f.name for f in dataclasses.fields(devices.rfid)} if devices.rfid else set()
    assert rfid_fields - {"backoff_initial", "backoff_cap", "reader_address"} <= rfid_args


def test_minimal_lane_gets_defaults(tmp_path: Path) -> None:
    config = parse_config(minimal(), tmp_path)
    assert isinstance(config, KioskConfig)
    assert config.devices.rfid is None and config.devices.card is None and config.devices.camera is None
    assert not config.anpr.enabled  # no camera, no plate reading
    assert config.metrics.enabled and config.metrics.listen == "127.0.0.1:9460"
    assert config.lane.logic is not None and config.lane.logic.stale_limit_s == 600.0


BAD_CASES: list[tuple[str, Any, str]] = [
    ("devices.io.unit", 300, "devices.io.unit: must be an integer 1-247 (got 300)"),
    ("devices.io.unit", True, "devices.io.unit: must be an integer 1-247 (got True)"),
    ("devices.io.unit", "1", "devices.io.unit: must be an integer 1-247 (got '1')"),
    ("devices.io.watchdog_ms", 50, "devices.io.watchdog_ms: must be an integer 100-60000 or 0 (got 50)"),
    ("devices.io.baudrate", 12345, "devices.io.baudrate: must be one of 1200, 2400"),
    ("devices.io.url", "COM3", "devices.io.url: must be an absolute device path or one of loop://"),
    ("devices.io.url", "", "devices.io.url: must be a serial device path"),
    ("devices.io.timeout", 0, "devices.io.timeout: must be a number of seconds > 0 and <= 10"),
    ("devices.io.poll_interval", 0.9, "devices.io.poll_interval: must be <= watchdog_ms / 3 (0.666667 s)"),
    ("devices.rfid", {"url": "/dev/pts/3", "hold_time": -1}, "devices.rfid.hold_time: must be a number"),
    ("devices.io.unti", 3, "devices.io.unti: unknown key"),
    (
        "devices.rfid",
        {"url": "/dev/pts/3", "reader_address": 256},
        "devices.rfid.reader_address: must be an integer 0-255 (got 256)",
    ),
    ("devices.rfid", {"baudrate": 9600}, "devices.rfid.url: required"),
    (
        "devices.card",
        {"reader": "X", "issuer_public_keys": []},
        "devices.card.issuer_public_keys: must be a non-empty list of PEM file paths",
    ),
    (
        "devices.card",
        {"reader": "X", "issuer_public_keys": ["missing.pem"]},
        "devices.card.issuer_public_keys[0]: file not found",
    ),
    ("devices.card", {"issuer_public_keys": ["issuer.pem"]}, "devices.card.reader: is required"),
    (
        "devices.card",
        {"reader": "X", "issuer_public_keys": ["issuer.pem"], "call_timeout": 0},
        "devices.card.call_timeout: must be a number of seconds",
    ),
    (
        "devices.card",
        {"reader": "X", "issuer_public_keys": ["issuer.pem"], "pin": "1234"},
        "devices.card: has unknown keys ['pin']",
    ),
    (
        "devices.camera",
        {"url": "0", "backoff_initial": 2.0, "backoff_cap": 1.0},
        "devices.camera.backoff_cap: must be >= backoff_initial",
    ),
    ("devices.camera", {"url": "0", "stale_after_s": 1.0}, "devices.camera.stale_after_s: unknown key"),
    ("devices.camera", {"url": "0", "fps": 0}, "devices.camera.fps: must be a number > 0 and <= 120"),
    ("devices.camera", "http://x", "devices.camera: must be a table"),
    ("devices.lidar", {"url": "/dev/x"}, "devices.lidar: unknown key"),
    ("devices", 3, "devices: must be a table"),
    ("lane.direction", "sideways", "lane.direction: must be one of import, export (got 'sideways')"),
    ("lane.id", "", "lane.id: must be 1-32 letters, digits"),
    ("lane.id", "lane 1", "lane.id: must be 1-32 letters, digits"),
    ("lane.control_point", "lmc", "lane.control_point: must be 2-8 upper-case letters"),
    ("lane.stale_after_s", -5, "lane.stale_after_s: must be a number of seconds > 0"),
    ("lane.stale_limit_s", 600, "lane.stale_limit_s: unknown key"),
    ("lane.vacate_s", -1, "lane.vacate_s: must be a number of seconds >= 0"),
    ("lane.vacate_s", True, "lane.vacate_s: must be a number (got True)"),
    ("lane.min_plate_confidence", 1.5, "lane.min_plate_confidence: must be within 0..1"),
    (
        "central",
        {"address": "central", "ca": "tls/ca.pem", "cert": "tls/lane.pem", "key": "tls/lane.key"},
        "central.address: must be host:port (got 'central')",
    ),
    (
        "central",
        {"address": "c:70000", "ca": "tls/ca.pem", "cert": "tls/lane.pem", "key": "tls/lane.key"},
        "central.address: port must be 1-65535",
    ),
    ("central", {"address": "c:7443", "ca": "tls/ca.pem", "cert": "tls/lane.pem"}, "central.key: required"),
    (
        "central",
        {"address": "c:7443", "ca": "nope.pem", "cert": "tls/lane.pem", "key": "tls/lane.key"},
        "central.ca: file not found",
    ),
    (
        "central",
        {"address": "c:7443", "ca": "tls/ca.pem", "cert": "tls/lane.pem", "key": "tls/ca.pem"},
        "central.key: private key must not be readable by group or others",
    ),
    ("metrics.listen", "9460", "metrics.listen: must be host:port"),
    ("metrics.enabled", "yes", "metrics.enabled: must be true or false (got 'yes')"),
    ("anpr.enabled", True, "anpr.enabled: needs a [devices.camera] section"),
    ("anpr.frames_per_vehicle", 0, "anpr.frames_per_vehicle: must be an integer 1-30 (got 0)"),
    ("cache.path", 5, "cache.path: must be a non-empty string (got 5)"),
    ("journal.fsync", True, "journal.fsync: unknown key"),
    ("lanes", {}, "lanes: unknown key"),
]


def with_value(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


@pytest.mark.parametrize(("key", "value", "message"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_each_broken_rule_names_its_key(lane_dir: Path, key: str, value: Any, message: str) -> None:
    errors = errors_of(with_value(minimal(), key, value), lane_dir)
    assert any(e.startswith(message) for e in errors), errors


@pytest.mark.parametrize("missing", ["lane", "devices", "lane.id", "lane.control_point", "lane.direction"])
def test_required_keys(tmp_path: Path, missing: str) -> None:
    data = minimal()
    *parents, last = missing.split(".")
    node = data
    for part in parents:
        node = node[part]
    del node[last]
    assert f"{missing}: required" in errors_of(data, tmp_path)


def test_devices_io_is_required(tmp_path: Path) -> None:
    data = minimal()
    data["devices"] = {"rfid": {"url": "/dev/pts/1"}}
    assert "devices.io: required" in errors_of(data, tmp_path)


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    data = with_value(with_value(minimal(), "devices.io.unit", 0), "lane.direction", "up")
    data["extra"] = 1
    errors = errors_of(data, tmp_path)
    assert len(errors) == 3
    assert {e.split(":")[0] for e in errors} == {"devices.io.unit", "lane.direction", "extra"}


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[lane]\nid = "LMC-I-01\n')
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML: .*line 2"):
        load_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_command_line_check(lane_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = lane_dir / "good.toml"
    good.write_text(FULL)
    assert main([str(good)]) == 0
    assert "OK (lane SBC-E-12" in capsys.readouterr().out
    bad = lane_dir / "bad.toml"
    bad.write_text(FULL.replace("unit = 17", "unit = 900"))
    assert main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}: devices.io.unit: must be an integer 1-247 (got 900)" in err
    assert main([]) == 2


def test_private_key_check_follows_the_mode(lane_dir: Path) -> None:
    path = lane_dir / "kiosk.toml"
    path.write_text(FULL)
    os.chmod(lane_dir / "tls/lane.key", 0o640)
    with pytest.raises(ConfigError, match=r"central\.key: private key must not be readable"):
        load_config(path)
    os.chmod(lane_dir / "tls/lane.key", 0o400)
    assert load_config(path).central is not None
