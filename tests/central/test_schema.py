"""Schema versions: a fresh database is stamped current; an older one is migrated step
by step (on both databases); a newer one is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from central.store import models
from central.store.db import close_all, database_proxy
from central.store.schema import (
    REDUNDANT_VERSION_INDEX,
    SCHEMA_VERSION,
    SchemaError,
    current_version,
    init_database,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'schema.db'}"
    return str(request.getfixturevalue("postgres_cluster").create_database())


def _stamp(version: int) -> None:
    models.SchemaVersion.delete().execute()
    models.SchemaVersion.create(version=version, applied_at=datetime.now(UTC).replace(tzinfo=None))


def test_v1_database_is_migrated_to_current(url: str) -> None:
    db = init_database(url)
    assert current_version(db) == SCHEMA_VERSION
    # Make it what version 1 of the code created: no request_hash column.
    db.execute_sql('ALTER TABLE "consignment" DROP COLUMN "request_hash"')
    # ... nor the crossing-query indexes of version 3.
    for index in ("crossing_event_occurred_at", "crossing_event_control_point_outcome_occurred_at"):
        db.execute_sql(f'DROP INDEX "{index}"')
    _stamp(1)
    close_all()
    db = init_database(url)
    assert current_version(db) == SCHEMA_VERSION
    assert "request_hash" in {c.name for c in db.get_columns("consignment")}
    indexes = {i.name for i in db.get_indexes("crossing_event")}
    assert {"crossing_event_occurred_at", "crossing_event_control_point_outcome_occurred_at"} <= indexes
    close_all()


def test_newer_database_is_refused(url: str) -> None:
    init_database(url)
    _stamp(SCHEMA_VERSION + 1)
    close_all()
    with pytest.raises(SchemaError):
        init_database(url)
    database_proxy.obj.close()


def test_init_twice_changes_nothing(url: str) -> None:
    init_database(url)
    close_all()
    db = init_database(url)
    assert [r.version for r in models.SchemaVersion.select()] == [SCHEMA_VERSION]
    db.close()


def test_v3_database_is_migrated_to_v4_with_shared_state(url: str) -> None:
    db = init_database(url)
    # Make it what version 3 of the code created: no cache epoch, no code guard.
    db.drop_tables([models.SecurityCodeGuard, models.CacheEpoch])
    _stamp(3)
    close_all()
    db = init_database(url)
    assert current_version(db) == SCHEMA_VERSION
    assert [r.version for r in models.SchemaVersion.select().order_by(models.SchemaVersion.version)] == [
        3, *range(4, SCHEMA_VERSION + 1)
    ]
    assert [(r.id, r.value) for r in models.CacheEpoch.select()] == [(1, 0)]
    assert {"driver_id", "failures", "locked_until"} <= {
        c.name for c in db.get_columns("security_code_guard")
    }
    # One guard row per driver: the unique index the lock-out's upsert relies on.
    assert any(i.unique and i.columns == ["driver_id"] for i in db.get_indexes("security_code_guard"))
    close_all()


def test_fresh_database_has_the_epoch_row(url: str) -> None:
    init_database(url)
    assert [(r.id, r.value) for r in models.CacheEpoch.select()] == [(1, 0)]
    close_all()


def test_v4_database_loses_the_redundant_version_index(url: str) -> None:
    """What version 4 created: a single-column index on consignment_version.consignment_id
    beside the unique (consignment_id, version) one. Version 5 drops it; look-ups by
    consignment still use an index (the unique one leads with the column)."""
    db = init_database(url)
    db.execute_sql(
        f'CREATE INDEX "{REDUNDANT_VERSION_INDEX}" ON "consignment_version" ("consignment_id")'
    )
    _stamp(4)
    close_all()
    db = init_database(url)
    assert current_version(db) == SCHEMA_VERSION
    names = {i.name for i in db.get_indexes("consignment_version")}
    assert REDUNDANT_VERSION_INDEX not in names
    assert any(
        i.unique and i.columns == ["consignment_id", "version"] for i in db.get_indexes("consignment_version")
    )
    close_all()
