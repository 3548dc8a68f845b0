"""Hot-path statements without per-call query building.

peewee builds SQL from a tree of nodes on every call; for a 30-column insert that costs
more than SQLite's work. The few statements on the submission path are built once per
(model, columns, database kind) and then executed with parameters only. Values are stored
exactly as the ORM would: through each field's ``db_value``, skipped only where it is the
identity for that value's type.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
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


# Field classes whose db_value hands a value of this exact type back unchanged (peewee's
# adapt converts only other types): passing such values straight through stores the same
# thing without a Python call per column. Exact classes only: a subclass may convert.
_PASS_THROUGH: dict[type, type] = {
    peewee.CharField: str,
    peewee.TextField: str,
    peewee.IntegerField: int,
    peewee.SmallIntegerField: int,
    peewee.BigIntegerField: int,
}
_converters: dict[tuple[Any, ...], tuple[tuple[str, Callable[[Any], Any], type | None], ...]] = {}


def _params(model: type[peewee.Model], names: Sequence[str], values: Mapping[str, Any]) -> list[Any]:
    """Each value as its field's ``db_value`` would store it, in ``names`` order."""
    key = (model, tuple(names))
    plan = _converters.get(key)
    if plan is None:
        fields = model._meta.fields  # type: ignore[attr-defined]
        plan = tuple((n, fields[n].db_value, _PASS_THROUGH.get(type(fields[n]))) for n in names)
        with _lock:
            _converters[key] = plan
    return [v if type(v := values[n]) is plain else convert(v) for n, convert, plain in plan]


def _returning(db: peewee.Database) -> str:
    # SQLite hands the new rowid back on the cursor (``lastrowid``) with no second step
    # of the statement: a fetch is one more sqlite3 call, and every call releases and
    # re-takes the GIL, a thread hand-off (futex) whenever other threads wait for it.
    return "" if isinstance(db, peewee.SqliteDatabase) else ' RETURNING "id"'


def _insert(model: type[peewee.Model], values: Mapping[str, Any], conflict: str) -> Any:
    """Execute one INSERT (``conflict``: "" or " ON CONFLICT DO NOTHING"); returns the cursor."""
    db = _db()
    names = tuple(values)
    key = ("insert", conflict, model, names, type(db))
    sql = _cache.get(key)
    if sql is None:
        fields = model._meta.fields  # type: ignore[attr-defined]
        columns = ", ".join(_quote(fields[n].column_name) for n in names)
        params = ", ".join([db.param] * len(names))
        table = _quote(model._meta.table_name)  # type: ignore[attr-defined]
        sql = f"INSERT INTO {table} ({columns}) VALUES ({params}){conflict}{_returning(db)}"
        with _lock:
            _cache[key] = sql
    return db.execute_sql(sql, _params(model, names, values))


def insert_returning_id(model: type[peewee.Model], values: Mapping[str, Any]) -> int:
    """INSERT one row (field names -> Python values); returns the new id."""
    cursor = _insert(model, values, "")
    if isinstance(_db(), peewee.SqliteDatabase):
        return int(cursor.lastrowid)
    return int(cursor.fetchone()[0])


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


def statement(key: Hashable, build: Callable[[peewee.Database], str]) -> str:
    """The SQL text ``build(db)`` returns, built once per (key, database kind).

    For statements the helpers above cannot express (a capped count, a scalar); ``build``
    gets the database so it can use ``db.param`` and quote names as that database wants.
    """
    db = _db()
    full = ("statement", key, type(db))
    sql = _cache.get(full)
    if sql is None:
        sql = build(db)
        with _lock:
            _cache[full] = sql
    return sql


def select_fields(
    model: type[peewee.Model], columns: Sequence[str], where: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Like ``select_one``, but returns ``{field name: Python value}`` converted by each
    field's ``python_value`` (dates as datetimes, decimals as Decimals), as the ORM would."""
    row = select_one(model, columns, where)
    if row is None:
        return None
    fields = model._meta.fields  # type: ignore[attr-defined]
    return {c: fields[c].python_value(v) for c, v in zip(columns, row, strict=True)}


def update_by_id(model: type[peewee.Model], row_id: int, values: Mapping[str, Any]) -> int:
    """UPDATE the named fields of the row with this id; returns the rows changed (0 or 1)."""
    db = _db()
    names = tuple(values)
    key = ("update", model, names, type(db))
    sql = _cache.get(key)
    fields = model._meta.fields  # type: ignore[attr-defined]
    if sql is None:
        sets = ", ".join(f"{_quote(fields[n].column_name)} = {db.param}" for n in names)
        sql = f'UPDATE {_quote(model._meta.table_name)} SET {sets} WHERE "id" = {db.param}'  # type: ignore[attr-defined]
        with _lock:
            _cache[key] = sql
    cursor = db.execute_sql(sql, [*_params(model, names, values), row_id])
    return int(cursor.rowcount)


def upsert(
    model: type[peewee.Model],
    values: Mapping[str, Any],
    conflict: Sequence[str],
    update: Sequence[str],
) -> None:
    """INSERT one row, or on a conflict over the unique ``conflict`` fields UPDATE the
    ``update`` fields to the new values (SQLite 3.24+ and PostgreSQL share the syntax)."""
    db = _db()
    names = tuple(values)
    key = ("upsert", model, names, tuple(conflict), tuple(update), type(db))
    sql = _cache.get(key)
    fields = model._meta.fields  # type: ignore[attr-defined]
    if sql is None:
        columns = ", ".join(_quote(fields[n].column_name) for n in names)
        params = ", ".join([db.param] * len(names))
        target = ", ".join(_quote(fields[n].column_name) for n in conflict)
        sets = ", ".join(
            f"{_quote(fields[n].column_name)} = EXCLUDED.{_quote(fields[n].column_name)}" for n in update
        )
        sql = (
            f"INSERT INTO {_quote(model._meta.table_name)} ({columns}) VALUES ({params}) "  # type: ignore[attr-defined]
            f"ON CONFLICT ({target}) DO UPDATE SET {sets}"
        )
        with _lock:
            _cache[key] = sql
    db.execute_sql(sql, _params(model, names, values))


def insert_or_ignore_returning_id(model: type[peewee.Model], values: Mapping[str, Any]) -> int | None:
    """INSERT one row unless it would break a unique index; returns the new id, or None when
    a row with the same unique key already exists (nothing written, transaction intact:
    ``ON CONFLICT DO NOTHING`` raises no error, so PostgreSQL does not abort the transaction)."""
    cursor = _insert(model, values, " ON CONFLICT DO NOTHING")
    if isinstance(_db(), peewee.SqliteDatabase):
        # rowcount is sqlite3_changes(): 0 when the conflict clause skipped the row.
        return int(cursor.lastrowid) if cursor.rowcount == 1 else None
    row = cursor.fetchone()
    return None if row is None else int(row[0])


def instance(model: type[peewee.Model], values: Mapping[str, Any]) -> Any:
    """``model(**values)`` for a row just written: the same ``__data__`` (defaults, then
    ``values``), dirty set and empty relation cache, without one attribute-protocol call
    per field (on a 30-column row that was most of the cost). Values must be plain
    column values (a related row's id, not the row); anything else takes the ORM path."""
    meta = model._meta  # type: ignore[attr-defined]
    if not meta.fields.keys() >= values.keys() or any(
        isinstance(values.get(name), peewee.Model) for name in _foreign_keys(model)
    ):
        return model(**values)
    obj = model.__new__(model)
    data = meta.get_default_dict()
    data.update(values)
    obj.__data__ = data
    obj._dirty = set(data)  # type: ignore[attr-defined]
    obj.__rel__ = {}
    return obj


_fk_names: dict[type[peewee.Model], tuple[str, ...]] = {}


def _foreign_keys(model: type[peewee.Model]) -> tuple[str, ...]:
    names = _fk_names.get(model)
    if names is None:
        names = _fk_names[model] = tuple(
            name for name, f in model._meta.fields.items() if isinstance(f, peewee.ForeignKeyField)  # type: ignore[attr-defined]
        )
    return names
