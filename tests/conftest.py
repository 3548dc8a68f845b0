"""Fixtures shared by every test area."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pg import PgCluster, pg_cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster for the whole run; tests create databases on it."""
    with pg_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: PgCluster) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return postgres_cluster.create_database()
