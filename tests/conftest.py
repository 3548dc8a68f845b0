"""Fixtures shared by every test area."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.central import TEST_MODULES, CentralUnderTest, running_central, sqlite_url
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


@pytest.fixture
def central(tmp_path: Path) -> Iterator[CentralUnderTest]:
    """A real central server in this process on a fresh SQLite file (settable clock,
    bootstrapped officer), every servicer but the lane feed (TEST_MODULES). See
    tests/support/central.py."""
    with running_central(sqlite_url(tmp_path), modules=TEST_MODULES) as under_test:
        yield under_test


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def central_both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralUnderTest]:
    """The same, once on SQLite and once on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_cluster").create_database()
    with running_central(url, modules=TEST_MODULES) as under_test:
        yield under_test
