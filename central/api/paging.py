"""Keyset pagination: the page token is the last id seen, opaque to clients. It is not
secret: every list query applies its ownership filter first, so a forged token only
moves the window inside what the caller may see anyway. Plain (unsigned) so that any
replica behind the load balancer accepts any other's tokens."""

from __future__ import annotations

import base64
from typing import Any

from central.services.errors import FieldViolation, ValidationError
from proto.rocars.v1 import common_pb2

DEFAULT_PAGE = 100
_PREFIX = b"id:"


def _encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(_PREFIX + str(last_id).encode()).decode().rstrip("=")


def _decode(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        if not raw.startswith(_PREFIX):
            raise ValueError("prefix")
        return int(raw[len(_PREFIX) :])
    except ValueError as exc:
        raise ValidationError(
            [FieldViolation("page.page_token", "is not a token this service issued")]
        ) from exc


def page_of(query: Any, id_field: Any, page: common_pb2.PageRequest, max_size: int) -> tuple[list[Any], str]:
    size = page.page_size or DEFAULT_PAGE
    if not 1 <= size <= max_size:
        raise ValidationError([FieldViolation("page.page_size", f"must be between 1 and {max_size}")])
    if len(page.page_token) > 64:
        raise ValidationError([FieldViolation("page.page_token", "is not a token this service issued")])
    if page.page_token:
        query = query.where(id_field > _decode(page.page_token))
    rows = list(query.order_by(id_field).limit(size + 1))
    more = len(rows) > size
    rows = rows[:size]
    return rows, (_encode(int(rows[-1].id)) if more else "")
