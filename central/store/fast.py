"""Hot-path statements without per-call query building.

peewee builds SQL from a tree of nodes on every call; for a 30-column insert that costs
more than SQLite's work. The few statements on the submission path are built once per
(model, columns, database kind) and then executed with parameters only. Values still go
through each field's ``db_value`` so they are stored exactly as the ORM would.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import peewee

from central.store.db import database_proxy

_cache: dict[tuple[Any, ...], str] = {}
_lock = threading.Lock()


def _db() -> peewee.Database:
    db = database_proxy.obj
    if db is None:
        raise RuntimeError("database not initialised")
    return db


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def insert_returning_id(model: type[peewee.Model], values: Mapping[str, Any]) -> int:
    """INSERT one row (field names -> Python values); returns the new id."""
    db = _db()
    names = tuple(values)
    key = ("insert", model, names, type(db))
    sql = _cache.get(key)
    fields = model._meta.fields  # type: ignore[attr-defined]
    if sql is None:
        columns = ", ".join(_quote(fields[n].column_name) for n in names)
        params = ", ".join([db.param] * len(names))
        sql = f'INSERT INTO {_quote(model._meta.table_name)} ({columns}) VALUES ({params}) RETURNING "id"'  # type: ignore[attr-defined]
        with _lock:
            _cache[key] = sql
    cursor = db.execute_sql(sql, [fields[n].db_value(values[n]) for n in names])
    row = cursor.fetchone()
    return int(row[0])


def select_one(
    model: type[peewee.Model], columns: Sequence[str], where: Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """SELECT ``columns`` of the first row matching every ``field = value``; None if none."""
    db = _db()
    key = ("select", model, tuple(columns), tuple(where), type(db))
    sql = _cache.get(key)
    fields = model._meta.fields  # type: ignore[attr-defined]
    if sql is None:
        cols = ", ".join(_quote(fields[c].column_name) for c in columns)
        cond = " AND ".join(f"{_quote(fields[w].column_name)} = {db.param}" for w in where)
        sql = f"SELECT {cols} FROM {_quote(model._meta.table_name)} WHERE {cond} LIMIT 1"  # type: ignore[attr-defined]
        with _lock:
            _cache[key] = sql
    cursor = db.execute_sql(sql, [fields[w].db_value(v) for w, v in where.items()])
    row = cursor.fetchone()
    return tuple(row) if row is not None else None
