"""The kiosk's TOML configuration: loaded, checked whole, and handed out as frozen dataclasses.

Every rule broken is reported, not just the first, each as ``key.path: rule (got X)``
(``devices.io.unit: must be an integer 1-247 (got 300)``), so a technician fixes a file
in one pass. Unknown keys are errors: a misspelt ``stale_afer_s`` silently falling back
to its default is how a lane ends up running on settings nobody chose.

Relative paths are resolved against the configuration file's directory, so a lane
directory written by ``rocars-sim lane`` works wherever it is. Files the kiosk needs
before any device is touched (TLS material, card issuer keys) must exist at load time;
device paths (``/dev/ttyUSB0``, ``/dev/video0``) need not, since a device that is absent
is a device fault the drivers report, not a configuration error. A private key readable
by group or others is refused, as ssh does.

``[lane]`` takes the lane's identity and, optionally, any timing setting of
``lanes.config.LaneConfig`` (``identify_timeout_s``, ``vacate_s``, ...): the lane logic's
own dataclass is the single source of those names, defaults and rules.
The ``[devices.*]`` tables use the driver's own argument names (seconds without a suffix,
``backoff_initial``/``backoff_cap`` for reconnection): ``[devices.card]`` is checked by the
card driver's ``CardReaderConfig`` and ``[devices.camera]`` becomes the camera driver's
``CameraSettings``, so each driver keeps one definition of its settings.
``python -m kiosk.config FILE`` checks a file and prints every error.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from drivers.camera import CameraSettings
from drivers.card.config import CardConfigError, CardReaderConfig
from lanes.config import LaneConfig
from lanes.errors import ConfigError as LaneConfigError

__all__ = [
    "AnprSection",
    "CacheSection",
    "CentralSection",
    "ConfigError",
    "DevicesSection",
    "IoSection",
    "JournalSection",
    "KioskConfig",
    "LaneSection",
    "MetricsSection",
    "RfidSection",
    "load_config",
    "parse_config",
]

BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
SERIAL_URL_SCHEMES = ("loop", "socket", "rfc2217", "spy", "alt", "hwgrep", "cp2110")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
_CONTROL_POINT = re.compile(r"[A-Z]{2,8}")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})")
# LaneConfig fields the [lane] section sets under other names or always sets.
_LANE_OWN = {
    "lane_id": "id",
    "control_point": "control_point",
    "direction": "direction",
    "stale_limit_s": "stale_after_s",
}


class ConfigError(ValueError):
    """The file breaks one or more rules; ``errors`` holds one ``key.path: rule`` line each."""

    def __init__(self, errors: list[str], source: str = "") -> None:
        self.errors = list(errors)
        self.source = source
        head = f"{source}: " if source else ""
        super().__init__(head + ("\n" + head).join(self.errors))


@dataclass(frozen=True, slots=True)
class LaneSection:
    id: str
    control_point: str
    direction: str  # import | export
    # Beyond this age of the local cache, trucks not already known clear are referred.
    stale_after_s: float = 600.0
    logic: LaneConfig | None = None  # the lane logic's settings, built from this section


@dataclass(frozen=True, slots=True)
class CentralSection:
    address: str  # host:port of central's gRPC endpoint
    ca: Path  # CA that signed central's certificate
    cert: Path  # this lane's client certificate (mutual TLS)
    key: Path  # this lane's private key
    server_name: str = ""  # TLS name to expect when it differs from the address's host
    connect_timeout_s: float = 5.0
    rpc_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class CacheSection:
    path: Path


@dataclass(frozen=True, slots=True)
class JournalSection:
    path: Path
    # A lane's journal file is rotated once its event lines pass this size. A restart re-runs
    # the current file (about 26,000 lines/s, ~150 bytes a line, on a 2-core box: 16 MiB is
    # about 4 s of start-up, 64 MiB about 17 s); a busy lane writes roughly 20 MiB a day.
    max_file_mib: float = 16.0
    keep_files: int = 90  # rotated files kept (the oldest beyond are deleted)
    compress: bool = True  # gzip rotated files (~19x smaller; in the background, replay reads them)


@dataclass(frozen=True, slots=True)
class RfidSection:
    """Names follow ``drivers.rfid.RfidReader``'s arguments (``reader_address`` is ``address``)."""

    url: str
    baudrate: int = 115200
    reader_address: int = 255
    hold_time: float = 1.0  # a tag not seen again for this long has gone
    command_timeout: float = 0.5
    repeat: int = 1
    fail_after: int = 2  # commands unanswered in a row before the reader counts as lost
    backoff_initial: float = 0.05
    backoff_cap: float = 2.0


@dataclass(frozen=True, slots=True)
class IoSection:
    """Names follow ``drivers.io.LaneIO``'s arguments."""

    url: str
    baudrate: int = 19200
    unit: int = 1
    watchdog_ms: int = 2000  # the module drops its outputs (barrier down, red) if not fed
    timeout: float = 0.2
    poll_interval: float = 0.05
    fail_after: int = 2
    backoff_initial: float = 0.05
    backoff_cap: float = 2.0


@dataclass(frozen=True, slots=True)
class DevicesSection:
    io: IoSection
    rfid: RfidSection | None = None
    card: CardReaderConfig | None = None
    camera: CameraSettings | None = None


@dataclass(frozen=True, slots=True)
class MetricsSection:
    enabled: bool = True
    listen: str = "127.0.0.1:9460"


@dataclass(frozen=True, slots=True)
class AnprSection:
    enabled: bool = True
    frames_per_vehicle: int = 5
    frame_interval_ms: int = 200
    frame_time_limit_ms: int = 1000


@dataclass(frozen=True, slots=True)
class OfficerSection:
    # The officers' control socket (Unix, JSON lines: release / inspect / reset); mode 0660,
    # so only the kiosk's user and group can act on the lane.
    socket: Path


# sun_path holds 108 bytes with its terminating NUL on Linux.
_UNIX_PATH_MAX = 107


@dataclass(frozen=True, slots=True)
class KioskConfig:
    lane: LaneSection
    devices: DevicesSection
    cache: CacheSection
    journal: JournalSection
    central: CentralSection | None = None  # None: an offline lane, working from its cache
    metrics: MetricsSection = field(default_factory=MetricsSection)
    anpr: AnprSection = field(default_factory=AnprSection)
    source: Path | None = None
    officer: OfficerSection | None = None  # None: no local officer interface


_MISSING: Any = object()


class _Table:
    """One TOML table being read: each getter checks a rule and records a ``key.path`` error."""

    def __init__(self, data: object, path: str, errors: list[str], base: Path) -> None:
        self.path = path
        self.errors = errors
        self.base = base
        self.ok = isinstance(data, dict)
        if not self.ok:
            self.fail(path, f"must be a table ([{path}])", data)
        self.data: dict[str, Any] = data if isinstance(data, dict) else {}
        self.seen: set[str] = set()

    def fail(self, key_path: str, rule: str, got: object = _MISSING) -> None:
        shown = "" if got is _MISSING else f" (got {got!r})"
        self.errors.append(f"{key_path}: {rule}{shown}")

    def key(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, default: Any) -> Any:
        self.seen.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING and self.ok:
            self.fail(self.key(key), "required")
        return default

    def text(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        pattern: re.Pattern[str] | None = None,
        rule: str = "must be a non-empty string",
    ) -> str:
        value = self._get(key, default)
        if value is default:
            return value if isinstance(value, str) else ""
        if not isinstance(value, str) or not value.strip() or (pattern and not pattern.fullmatch(value)):
            self.fail(self.key(key), rule, value)
            return ""
        return value

    def integer(
        self, key: str, lo: int, hi: int, default: Any = _MISSING, *, also: tuple[int, ...] = ()
    ) -> int:
        value = self._get(key, default)
        if value is default:
            return int(value) if isinstance(value, int) else 0
        if isinstance(value, bool) or not isinstance(value, int) or not (lo <= value <= hi or value in also):
            extra = "".join(f" or {v}" for v in also)
            self.fail(self.key(key), f"must be an integer {lo}-{hi}{extra}", value)
            return lo
        return value

    def choice(self, key: str, options: tuple[Any, ...], default: Any = _MISSING) -> Any:
        value = self._get(key, default)
        if value is _MISSING:
            return None
        if value is not default and (isinstance(value, bool) or value not in options):
            self.fail(self.key(key), f"must be one of {', '.join(map(str, options))}", value)
            return None
        return value

    def seconds(self, key: str, default: float, hi: float = 86400.0) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= hi:
            self.fail(self.key(key), f"must be a number of seconds > 0 and <= {hi:g}", value)
            return default
        return float(value)

    def number(self, key: str, default: float, lo: float, hi: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not lo < value <= hi:
            self.fail(self.key(key), f"must be a number > {lo:g} and <= {hi:g}", value)
            return default
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(self.key(key), "must be true or false", value)
            return default
        return value

    def file(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        private: bool = False,
        value: Any = _MISSING,
        key_path: str = "",
    ) -> Path:
        """A file that must exist now (resolved against the config's directory)."""
        raw = self._get(key, default) if value is _MISSING else value
        key_path = key_path or self.key(key)
        if not isinstance(raw, str) or not raw.strip():
            if raw is not default or default is not _MISSING:
                self.fail(key_path, "must be a file path", raw)
            return Path()
        path = self.resolve(raw)
        if not path.is_file():
            self.fail(key_path, f"file not found: {path}")
        elif private and path.stat().st_mode & 0o077:
            self.fail(key_path, f"private key must not be readable by group or others (chmod 600 {path})")
        return path

    def resolve(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.base / path

    def table(self, key: str, *, required: bool = False) -> _Table | None:
        value = self._get(key, _MISSING if required else None)
        if value is None:
            return None
        return _Table(value, self.key(key), self.errors, self.base)

    def done(self) -> None:
        for key in sorted(set(self.data) - self.seen):
            self.fail(self.key(key), "unknown key")


def _address(t: _Table, key: str, default: Any = _MISSING, *, any_port: bool = False) -> str:
    """``host:port``; ``any_port`` also takes port 0 (bind any free port, e.g. in tests)."""
    value = t.text(key, default, pattern=_HOST_PORT, rule="must be host:port")
    match = _HOST_PORT.fullmatch(value) if value else None
    lowest = 0 if any_port else 1
    if match and not lowest <= int(match["port"]) <= 65535:
        t.fail(t.key(key), f"port must be {lowest}-65535", value)
    return value


def _serial_url(t: _Table) -> str:
    value = t.text("url", rule="must be a serial device path or a serial_for_url URL")
    if value and not value.startswith("/"):
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in SERIAL_URL_SCHEMES:
            t.fail(
                t.key("url"),
                "must be an absolute device path or one of "
                + ", ".join(f"{s}://" for s in SERIAL_URL_SCHEMES),
                value,
            )
    return value


def _lane(t: _Table) -> LaneSection:
    errors_before = len(t.errors)
    lane_id = t.text("id", pattern=_ID, rule="must be 1-32 letters, digits, '-' or '_'")
    control_point = t.text("control_point", pattern=_CONTROL_POINT, rule="must be 2-8 upper-case letters")
    direction = t.choice("direction", ("import", "export")) or ""
    stale = t.seconds("stale_after_s", 600.0, hi=7 * 86400.0)
    logic_keys = {f.name for f in fields(LaneConfig)} - set(_LANE_OWN)
    extra = {k: t._get(k, None) for k in sorted(logic_keys & set(t.data))}
    for k, v in extra.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            t.fail(t.key(k), "must be a number", v)
    logic: LaneConfig | None = None
    if len(t.errors) == errors_before:
        try:
            logic = LaneConfig.from_dict(
                {
                    "lane_id": lane_id,
                    "control_point": control_point,
                    "direction": direction,
                    "stale_limit_s": stale,
                    **extra,
                }
            )
        except LaneConfigError as exc:  # its messages already name "lane.<key>"
            message = str(exc)
            t.errors.append(
                message if message.startswith("lane.") else f"lane: {message.removeprefix('lane: ')}"
            )
    t.done()
    return LaneSection(lane_id, control_point, direction, stale, logic)


def _central(t: _Table) -> CentralSection:
    section = CentralSection(
        address=_address(t, "address"),
        ca=t.file("ca"),
        cert=t.file("cert"),
        key=t.file("key", private=True),
        server_name=t.text("server_name", "", rule="must be a host name"),
        connect_timeout_s=t.seconds("connect_timeout_s", 5.0, hi=120.0),
        rpc_timeout_s=t.seconds("rpc_timeout_s", 10.0, hi=300.0),
    )
    t.done()
    return section


def _backoff(t: _Table, initial: float, cap: float) -> tuple[float, float]:
    first = t.seconds("backoff_initial", initial, hi=60.0)
    last = t.seconds("backoff_cap", cap, hi=300.0)
    if last < first:
        t.fail(t.key("backoff_cap"), "must be >= backoff_initial", last)
    return first, last


def _io(t: _Table) -> IoSection:
    url = _serial_url(t)
    baudrate = t.choice("baudrate", BAUDRATES, 19200) or 19200
    unit = t.integer("unit", 1, 247, 1)
    watchdog_ms = t.integer("watchdog_ms", 100, 60000, 2000, also=(0,))
    timeout = t.seconds("timeout", 0.2, hi=10.0)
    poll_interval = t.seconds("poll_interval", 0.05, hi=1.0)
    if watchdog_ms and poll_interval * 1000 * 3 > watchdog_ms:
        # Three polls per watchdog period, or one slow answer lets the module fall back.
        t.fail(
            t.key("poll_interval"), f"must be <= watchdog_ms / 3 ({watchdog_ms / 3000:g} s)", poll_interval
        )
    fail_after = t.integer("fail_after", 1, 100, 2)
    first, cap = _backoff(t, 0.05, 2.0)
    t.done()
    return IoSection(url, baudrate, unit, watchdog_ms, timeout, poll_interval, fail_after, first, cap)


def _rfid(t: _Table) -> RfidSection:
    url = _serial_url(t)
    baudrate = t.choice("baudrate", BAUDRATES, 115200) or 115200
    address = t.integer("reader_address", 0, 255, 255)
    hold_time = t.seconds("hold_time", 1.0, hi=60.0)
    command_timeout = t.seconds("command_timeout", 0.5, hi=10.0)
    repeat = t.integer("repeat", 1, 255, 1)
    fail_after = t.integer("fail_after", 1, 100, 2)
    first, cap = _backoff(t, 0.05, 2.0)
    t.done()
    return RfidSection(url, baudrate, address, hold_time, command_timeout, repeat, fail_after, first, cap)


def _card(t: _Table) -> CardReaderConfig | None:
    """Checked by the card driver's own ``CardReaderConfig``; key files must exist now."""
    table = dict(t.data)
    t.seen.update(table)  # the card driver names its own unknown keys
    keys = table.get("issuer_public_keys")
    if isinstance(keys, list) and keys:
        table["issuer_public_keys"] = [
            str(t.file("", value=v, key_path=f"{t.key('issuer_public_keys')}[{i}]"))
            for i, v in enumerate(keys)
        ]
    elif keys is not None:
        t.fail(t.key("issuer_public_keys"), "must be a non-empty list of PEM file paths", keys)
        return None
    try:
        return CardReaderConfig.from_mapping(table)
    except CardConfigError as exc:
        t.errors.append(_key_rule(str(exc)))
    except TypeError as exc:
        t.fail(t.path, f"invalid card reader setting: {exc}")
    return None


def _camera(t: _Table) -> CameraSettings:
    url = t.text("url", rule="must be a stream URL, a file or folder path, or a device index")
    if url and "://" not in url and not url.isdigit() and not url.startswith("/"):
        url = str(t.resolve(url))  # a replay folder next to the config file
    open_timeout = t.seconds("open_timeout", 3.0, hi=60.0)
    read_timeout = t.seconds("read_timeout", 2.0, hi=60.0)
    stale_after = t.seconds("stale_after", 1.0, hi=60.0)
    first, cap = _backoff(t, 0.2, 5.0)
    fps = t.number("fps", 10.0, 0.0, 120.0)
    t.done()
    return CameraSettings(url, open_timeout, read_timeout, stale_after, first, cap, fps)


def _devices(t: _Table) -> DevicesSection:
    io_t = t.table("io", required=True)
    io = _io(io_t) if io_t is not None else IoSection("")
    rfid_t, card_t, camera_t = t.table("rfid"), t.table("card"), t.table("camera")
    rfid = _rfid(rfid_t) if rfid_t is not None else None
    card = _card(card_t) if card_t is not None and card_t.ok else None
    camera = _camera(camera_t) if camera_t is not None else None
    t.done()
    return DevicesSection(io, rfid, card, camera)


def _key_rule(message: str) -> str:
    """A driver's 'devices.x.key must be ...' as this module's 'devices.x.key: must be ...'."""
    key, sep, rule = message.partition(" ")
    return f"{key}: {rule}" if sep and key.startswith("devices.") and not key.endswith(":") else message


def parse_config(data: dict[str, Any], base_dir: Path, source: str = "") -> KioskConfig:
    """Check a parsed TOML document; raises ``ConfigError`` listing every broken rule."""
    errors: list[str] = []
    top = _Table(data, "", errors, base_dir)
    lane_t = top.table("lane", required=True)
    lane = _lane(lane_t) if lane_t else LaneSection("", "", "")
    central_t = top.table("central")
    central = _central(central_t) if central_t else None
    devices_t = top.table("devices", required=True)
    devices = _devices(devices_t) if devices_t else DevicesSection(IoSection(""))
    cache_t = top.table("cache")
    cache = CacheSection(base_dir / "cache.sqlite3")
    if cache_t is not None:
        cache = CacheSection(cache_t.resolve(cache_t.text("path", "cache.sqlite3")))
        cache_t.done()
    journal_t = top.table("journal")
    journal = JournalSection(base_dir / "journal")
    if journal_t is not None:
        journal = JournalSection(
            journal_t.resolve(journal_t.text("path", "journal")),
            max_file_mib=_file_mib(journal_t, "max_file_mib", 16.0),
            keep_files=journal_t.integer("keep_files", 1, 100000, 90),
            compress=journal_t.flag("compress", True),
        )
        journal_t.done()
    metrics = MetricsSection()
    if (mt := top.table("metrics")) is not None:
        listen = _address(mt, "listen", "127.0.0.1:9460", any_port=True)
        metrics = MetricsSection(mt.flag("enabled", True), listen)
        mt.done()
    anpr = AnprSection(enabled=devices.camera is not None)
    if (at := top.table("anpr")) is not None:
        anpr = AnprSection(
            enabled=at.flag("enabled", devices.camera is not None),
            frames_per_vehicle=at.integer("frames_per_vehicle", 1, 30, 5),
            frame_interval_ms=at.integer("frame_interval_ms", 10, 5000, 200),
            frame_time_limit_ms=at.integer("frame_time_limit_ms", 50, 10000, 1000),
        )
        if anpr.enabled and devices.camera is None and devices_t is not None:
            at.fail("anpr.enabled", "needs a [devices.camera] section")
        at.done()
    officer = None
    if (ot := top.table("officer")) is not None:
        officer = _officer(ot)
        ot.done()
    top.done()
    if errors:
        raise ConfigError(errors, source)
    return KioskConfig(
        lane, devices, cache, journal, central, metrics, anpr, Path(source) if source else None, officer
    )


def _file_mib(t: _Table, key: str, default: float) -> float:
    # Tiny files only churn (each rotated file opens with the lane's state, a few KiB); the
    # floor is low so that a test can watch many rotations.
    value = t._get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.001 <= value <= 4096:
        t.fail(t.key(key), "must be a number of MiB from 0.001 to 4096", value)
        return default
    return float(value)


def _officer(t: _Table) -> OfficerSection | None:
    raw = t.text("socket", rule="must be a non-empty path of a Unix socket")
    if not raw:
        return None
    path = t.resolve(raw)
    if len(str(path).encode()) > _UNIX_PATH_MAX:
        rule = f"must be at most {_UNIX_PATH_MAX} bytes long (a Unix socket path)"
        t.fail(t.key("socket"), rule, str(path))
    elif not path.parent.is_dir():
        t.fail(t.key("socket"), f"directory not found: {path.parent}")
    elif path.exists() and not path.is_socket():
        t.fail(t.key("socket"), f"exists and is not a socket: {path}")
    return OfficerSection(path)


def load_config(path: str | Path) -> KioskConfig:
    """Read and check a kiosk configuration file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError([f"cannot read: {exc.strerror or exc}"], str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], str(path)) from exc
    return parse_config(data, path.resolve().parent, str(path))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kiosk.config FILE", file=sys.stderr)
        return 2
    try:
        config = load_config(args[0])
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{args[0]}: OK (lane {config.lane.id}, {config.lane.control_point} {config.lane.direction})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
