"""A real PostgreSQL deadlock between two writers: the one PostgreSQL aborts is run
again by ``retrying`` and both writes complete."""

from __future__ import annotations

import threading

import pytest

from central.services.bootstrap import HK_CONTROL_POINTS
from central.store import models
from central.store.db import close_all, retrying, write_transaction
from central.store.schema import init_database
from tests.support.pg import PgCluster


@pytest.mark.postgres
def test_deadlocked_writer_is_retried(postgres_cluster: PgCluster) -> None:
    init_database(postgres_cluster.create_database())
    for code, name in HK_CONTROL_POINTS[:2]:
        models.ControlPoint.create(code=code, name=name)
    first_locks = {"LMC": threading.Event(), "MKT": threading.Event()}
    attempts: list[str] = []
    errors: list[BaseException] = []

    @retrying()
    def cross_lock(mine: str, theirs: str) -> None:
        attempts.append(mine)
        with write_transaction():
            row = models.ControlPoint.select().where(models.ControlPoint.code == mine).for_update().get()
            first_locks[mine].set()
            first_locks[theirs].wait(timeout=5)  # both hold one row: now cross over
            models.ControlPoint.select().where(models.ControlPoint.code == theirs).for_update().get()
            row.slot_capacity += 1
            row.save()

    def run(mine: str, theirs: str) -> None:
        try:
            cross_lock(mine, theirs)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in (("LMC", "MKT"), ("MKT", "LMC"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert len(attempts) >= 3  # at least one writer was the deadlock victim and ran again
    assert sorted(cp.slot_capacity for cp in models.ControlPoint.select()) == [61, 61]
    close_all()
