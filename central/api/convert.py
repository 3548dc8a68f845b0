"""Small conversions between store rows / Python values and protobuf messages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from central.store.db import from_db

MIN_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(2100, 1, 1, tzinfo=UTC)


def enum(value: int) -> Any:
    """A stored enum number for a protobuf enum field (the generated stubs type those
    fields as the enum class; the wire and the runtime take the number)."""
    return value


def ts(when: datetime | None) -> timestamp_pb2.Timestamp | None:
    """Store or aware datetime -> Timestamp (None stays unset)."""
    aware = from_db(when)
    if aware is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(aware)
    return out


def ts_of(when: datetime) -> timestamp_pb2.Timestamp:
    """Aware datetime -> Timestamp (never unset)."""
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(when.astimezone(UTC))
    return out


def from_ts(value: timestamp_pb2.Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)


def from_ts_checked(value: timestamp_pb2.Timestamp) -> datetime | None:
    """None when the timestamp is outside 2000..2100 (hostile or nonsense input)."""
    if not value.seconds and not value.nanos:
        return None
    try:
        when = value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None
    return when if MIN_TIME <= when < MAX_TIME else None
