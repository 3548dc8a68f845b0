"""Schema creation and versioned migrations.

``SCHEMA_VERSION`` is the version this code writes. A fresh database gets every table
at once and is stamped with it; an older one runs each migration step in order, each
in its own transaction, and is stamped after each. A database newer than the code is
refused rather than written to.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_migrations

from central.store import models
from central.store.db import database_proxy, open_database, to_db

log = logging.getLogger(__name__)

# Modules whose import registers extra tables (risk, sync). Imported lazily, skipped
# while an area does not exist yet.
AREA_MODEL_MODULES: tuple[str, ...] = ("central.store.changes", "central.risk.models", "central.sync.models")

SCHEMA_VERSION = 5


def _v2_submission_hash(db: peewee.Database) -> None:
    """v2: consignments remember the hash of their first submission, so a retry with
    the same idempotency key but other content is refused instead of answered."""
    columns = {c.name for c in db.get_columns(models.Consignment._meta.table_name)}
    if "request_hash" not in columns:
        migrator = SchemaMigrator.from_database(db)
        run_migrations(
            migrator.add_column(
                models.Consignment._meta.table_name,
                "request_hash",
                peewee.CharField(max_length=64, default=""),
            )
        )


def _v3_crossing_indexes(db: peewee.Database) -> None:
    """v3: indexes for officers' crossing queries by time window, control point and
    outcome. ``create_tables(safe=True)`` in ``migrate`` already creates missing indexes
    of existing tables (IF NOT EXISTS); this step makes the version say so."""
    from central.sync.models import CrossingEventRecord

    db.create_tables([CrossingEventRecord], safe=True)  # creates missing indexes too


def _v4_shared_state(db: peewee.Database) -> None:
    """v4: state that must hold across central processes on one database: the cache
    epoch (one row, seeded) and the per-driver wrong-security-code guard."""
    db.create_tables([models.CacheEpoch, models.SecurityCodeGuard], safe=True)
    _seed(db)


def _v5_drop_redundant_version_index(db: peewee.Database) -> None:
    """v5: the version table's single-column index on consignment_id goes; the unique
    (consignment_id, version) index leads with that column and serves every look-up, and
    each submission writes one index page fewer."""
    db.execute_sql(f'DROP INDEX IF EXISTS "{REDUNDANT_VERSION_INDEX}"')


REDUNDANT_VERSION_INDEX = "consignment_version_consignment_id"


def _seed(db: peewee.Database) -> None:
    """Rows the code expects to exist (idempotent: run on every start)."""
    models.CacheEpoch.insert(id=1, value=0).on_conflict_ignore().execute()


# version -> step that brings the schema from version-1 to version
MIGRATIONS: dict[int, Callable[[peewee.Database], None]] = {
    2: _v2_submission_hash,
    3: _v3_crossing_indexes,
    4: _v4_shared_state,
    5: _v5_drop_redundant_version_index,
}


class SchemaError(RuntimeError):
    pass


def load_area_models() -> None:
    for name in AREA_MODEL_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise  # a real missing dependency, not an area still to be built


def init_database(url: str, *, create: bool = True) -> peewee.Database:
    """Open the database at ``url``, bind every model to it, and bring it to the current
    schema (creating it when empty)."""
    db = open_database(url)
    database_proxy.initialize(db)
    db.connect(reuse_if_open=True)
    load_area_models()
    if create:
        migrate(db)
    return db


def current_version(db: peewee.Database) -> int:
    if not db.table_exists(models.SchemaVersion._meta.table_name):
        return 0
    row = models.SchemaVersion.select(peewee.fn.MAX(models.SchemaVersion.version)).scalar()
    return int(row or 0)


def migrate(db: peewee.Database) -> int:
    version = current_version(db)
    if version > SCHEMA_VERSION:
        raise SchemaError(f"database schema version {version} is newer than this code ({SCHEMA_VERSION})")
    with db.atomic():
        # safe=True: tables added by areas since the stamp are created too.
        db.create_tables(models.all_models(), safe=True)
        if version == 0:
            _seed(db)
            models.SchemaVersion.create(version=SCHEMA_VERSION, applied_at=to_db(datetime.now(UTC)))
            log.info("schema created at version %d", SCHEMA_VERSION)
            return SCHEMA_VERSION
    for step in range(version + 1, SCHEMA_VERSION + 1):
        with db.atomic():
            MIGRATIONS[step](db)
            models.SchemaVersion.create(version=step, applied_at=to_db(datetime.now(UTC)))
        log.info("schema migrated to version %d", step)
    return SCHEMA_VERSION
