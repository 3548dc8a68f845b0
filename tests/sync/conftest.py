from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync.support import CentralProcess, Pki, make_pki, seed_world


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def sqlite_world(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    seed_world(url)
    return url


@pytest.fixture
def central_proc(sqlite_world: str, certs: Pki, tmp_path: Path) -> Iterator[CentralProcess]:
    proc = CentralProcess(sqlite_world, certs, tmp_path).start()
    yield proc
    proc.stop()
