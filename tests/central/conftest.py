"""The core's own tests run the core servicers only (plus risk when present): the
lane feed has its own tests (tests/sync/) and a background watcher per server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.api.registry import SERVICER_MODULES
from tests.support.central import CentralUnderTest, running_central, sqlite_url

CORE_MODULES = [m for m in SERVICER_MODULES if m != "central.sync.api"]


@pytest.fixture
def central(tmp_path: Path) -> Iterator[CentralUnderTest]:
    with running_central(sqlite_url(tmp_path), modules=CORE_MODULES) as under_test:
        yield under_test


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def central_both(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CentralUnderTest]:
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("postgres_cluster").create_database()
    with running_central(url, modules=CORE_MODULES) as under_test:
        yield under_test
