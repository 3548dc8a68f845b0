"""The lane journal: one JSON line per event, with the commands it produced.

    {"journal":"rocars-lane","version":1,"config":{...}}             header (first line)
    {"n":1,"event":{"type":"LaneStarted","at":...},"commands":[...]}   one line per event

A file the kiosk started by rotating its journal opens with a version 2 header that also
carries the lane machine's state at that point and the number of its next line:

    {"journal":"rocars-lane","version":2,"config":{...},"next_n":1234,"state":{...}}

so each file restores and replays on its own (``lanes.machine_state``), and a replay
across files checks that each file's state is the one the files before it lead to.

Encoding is canonical (sorted keys, no spaces, UTF-8, floats as Python's shortest
round-trip repr), so re-running the machine over the journaled events must reproduce
every line byte for byte; ``rocars-kiosk replay`` checks exactly that. The kiosk writes
(and flushes) a line before it executes the line's commands, so a line torn by a crash
was never acted on and a replay may drop it.

Pure: strings in, values out. Reading and writing files is the kiosk's business.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

from lanes.commands import COMMAND_TYPES, Command
from lanes.config import LaneConfig
from lanes.errors import ConfigError, JournalError
from lanes.events import EVENT_TYPES, Event

MAGIC = "rocars-lane"
VERSION = 1
STATE_VERSION = 2  # a header carrying the machine's state (the first line of a rotated file)

_FLOATY = (float, float | None)
_EVENTS: dict[str, type] = {t.__name__: t for t in EVENT_TYPES}
_COMMANDS: dict[str, type] = {t.__name__: t for t in COMMAND_TYPES}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    n: int
    event: Event
    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class JournalHeader:
    config: LaneConfig
    state: dict[str, Any] | None = None  # the machine's state (lanes.machine_state), version 2 only
    next_n: int = 1  # the number of the file's first event line


@dataclass(frozen=True, slots=True)
class JournalLine:
    line_no: int
    text: str
    item: LaneConfig | JournalEntry  # a (re)configuration header, or an event


@dataclass(frozen=True, slots=True)
class ParsedJournal:
    config: LaneConfig  # from the first line
    lines: tuple[JournalLine, ...]  # every line after the first, in order
    torn_line: int | None  # a last line cut short by a crash (never acted on), skipped
    state: dict[str, Any] | None = None  # the machine's state at the first line (rotated files)
    first_n: int = 1  # the number the file's first event line takes

    def events(self) -> list[Event]:
        """The events to rebuild a machine from (``LaneMachine.restore``)."""
        return [ln.item.event for ln in self.lines if isinstance(ln.item, JournalEntry)]

    def next_n(self) -> int:
        entries = [ln.item.n for ln in self.lines if isinstance(ln.item, JournalEntry)]
        return max(entries, default=self.first_n - 1) + 1


def parse_journal(text: str) -> ParsedJournal:
    """A whole journal file's text; raises ``JournalError`` naming the line and field."""
    raw = text.split("\n")
    torn_tail = raw[-1] != ""  # a complete journal ends with a newline
    if not torn_tail:
        raw.pop()
    if not raw or not raw[0].strip():
        raise JournalError("line 1: empty journal (no header)")
    header = decode_journal_header(raw[0], 1)
    lines: list[JournalLine] = []
    torn: int | None = None
    for line_no, line in enumerate(raw[1:], start=2):
        if not line.strip():
            continue
        try:
            item: LaneConfig | JournalEntry = (
                _mid_file_header(line, line_no) if is_header(line) else decode_entry(line, line_no))
        except JournalError:
            if torn_tail and line_no == len(raw):
                torn = line_no
                break
            raise
        lines.append(JournalLine(line_no, line, item))
    return ParsedJournal(header.config, tuple(lines), torn, header.state, header.next_n)


def dumps(obj: Any) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except ValueError as exc:  # NaN or infinity: not a time any clock gives
        raise JournalError(f"cannot journal a non-finite number: {exc}") from exc


def to_json(value: Any) -> Any:
    """A dataclass/enum/tuple value as plain JSON data (dataclass fields in their order)."""
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = _hints(type(value))
        out = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            # An int given for a float field is journaled as the float it decodes to, so a
            # re-encoded line stays byte-identical.
            if isinstance(item, int) and not isinstance(item, bool) and hints[f.name] in _FLOATY:
                item = float(item)
            out[f.name] = to_json(item)
        return out
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def tagged(value: Any) -> dict[str, Any]:
    return {"type": type(value).__name__, **to_json(value)}


def header_line(config: LaneConfig) -> str:
    return dumps({"journal": MAGIC, "version": VERSION, "config": config.to_dict()})


def state_header_line(config: LaneConfig, state: dict[str, Any], next_n: int) -> str:
    """The first line of a rotated file: settings, the machine's state, the next line's number."""
    return dumps({"journal": MAGIC, "version": STATE_VERSION, "config": config.to_dict(),
                  "next_n": next_n, "state": state})


def entry_line(n: int, event: Event, commands: tuple[Command, ...] | list[Command]) -> str:
    return dumps({"n": n, "event": tagged(event), "commands": [tagged(c) for c in commands]})


def is_header(line: str) -> bool:
    try:
        data = json.loads(line)
    except json.JSONDecodeError:
        return False
    return isinstance(data, dict) and "journal" in data


def decode_header(line: str, line_no: int = 1) -> LaneConfig:
    return decode_journal_header(line, line_no).config


def decode_journal_header(line: str, line_no: int = 1) -> JournalHeader:
    data = _load(line, line_no)
    if data.get("journal") != MAGIC:
        raise JournalError(f"line {line_no}: journal: must be {MAGIC!r} (not a lane journal)")
    version = data.get("version")
    if version not in (VERSION, STATE_VERSION) or isinstance(version, bool):
        raise JournalError(
            f"line {line_no}: version: {version!r} is not supported (want {VERSION} or {STATE_VERSION})")
    if not isinstance(data.get("config"), dict):
        raise JournalError(f"line {line_no}: config: must be an object")
    try:
        config = LaneConfig.from_dict(data["config"])
    except (ConfigError, TypeError) as exc:
        raise JournalError(f"line {line_no}: config: {exc}") from exc
    extra = sorted(set(data) - {"journal", "version", "config", "next_n", "state"})
    if extra:
        raise JournalError(f"line {line_no}: unknown field(s) {', '.join(extra)}")
    if version == VERSION:
        for key in ("next_n", "state"):
            if key in data:
                raise JournalError(f"line {line_no}: {key}: only a version {STATE_VERSION} header has it")
        return JournalHeader(config)
    next_n, state = data.get("next_n"), data.get("state")
    if not isinstance(next_n, int) or isinstance(next_n, bool) or next_n < 1:
        raise JournalError(f"line {line_no}: next_n: must be an integer >= 1")
    if not isinstance(state, dict):
        raise JournalError(f"line {line_no}: state: must be an object")
    return JournalHeader(config, state, next_n)


def _mid_file_header(line: str, line_no: int) -> LaneConfig:
    header = decode_journal_header(line, line_no)
    if header.state is not None:
        raise JournalError(f"line {line_no}: state: only a file's first line carries the lane's state")
    return header.config


def decode_entry(line: str, line_no: int) -> JournalEntry:
    data = _load(line, line_no)
    n = data.get("n")
    if not isinstance(n, int) or isinstance(n, bool):
        raise JournalError(f"line {line_no}: n: must be an integer")
    event = _decode_tagged(data.get("event"), _EVENTS, f"line {line_no}: event")
    raw_commands = data.get("commands")
    if not isinstance(raw_commands, list):
        raise JournalError(f"line {line_no}: commands: must be a list")
    commands = tuple(
        _decode_tagged(c, _COMMANDS, f"line {line_no}: commands[{i}]") for i, c in enumerate(raw_commands)
    )
    return JournalEntry(n, event, commands)


def decode_event(data: Any, where: str = "event") -> Event:
    return _decode_tagged(data, _EVENTS, where)


def decode_value(tp: Any, value: Any, where: str) -> Any:
    """``value`` (plain JSON data) as type ``tp``; ``JournalError`` names ``where`` and the rule."""
    return _decode(tp, value, where)


def _load(line: str, line_no: int) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise JournalError(f"line {line_no}: not JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise JournalError(f"line {line_no}: must be a JSON object")
    return data


def _decode_tagged(data: Any, registry: dict[str, type], where: str) -> Any:
    if not isinstance(data, dict):
        raise JournalError(f"{where}: must be an object")
    name = data.get("type")
    cls = registry.get(name) if isinstance(name, str) else None
    if cls is None:
        raise JournalError(f"{where}.type: unknown type {name!r}")
    body = {k: v for k, v in data.items() if k != "type"}
    return _decode(cls, body, f"{where}({name})")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            if len(options) < len(typing.get_args(tp)):
                return None
            raise JournalError(f"{where}: must not be null")
        if len(options) != 1:
            raise JournalError(f"{where}: ambiguous type")  # no journaled field is like this
        return _decode(options[0], value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise JournalError(f"{where}: must be a list")
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return tuple(_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise JournalError(f"{where}: must be an object")
        hints = _hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise JournalError(f"{where}: unknown field(s) {', '.join(unknown)}")
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(tp):
            if f.name in value:
                kwargs[f.name] = _decode(hints[f.name], value[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise JournalError(f"{where}.{f.name}: required")
        return tp(**kwargs)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(value)
        except ValueError as exc:
            allowed = ", ".join(str(m.value) for m in tp)
            raise JournalError(f"{where}: {value!r} is not one of {allowed}") from exc
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise JournalError(f"{where}: must be a number")
        return float(value)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise JournalError(f"{where}: must be {getattr(tp, '__name__', tp)}")
