from __future__ import annotations

import peewee
import pytest

from central.store.db import open_database


@pytest.mark.postgres
def test_throwaway_cluster_gives_isolated_databases(postgres_cluster) -> None:  # type: ignore[no-untyped-def]
    url_a, url_b = postgres_cluster.create_database(), postgres_cluster.create_database()
    assert url_a != url_b
    db = open_database(url_a)
    assert isinstance(db, peewee.PostgresqlDatabase)
    db.connect()
    db.execute_sql("CREATE TABLE marker (x int)")
    db.close()
    other = open_database(url_b)
    other.connect()
    assert "marker" not in other.get_tables()
    other.close()
