"""Concurrent officers on PostgreSQL: the audit chain and rule versions stay whole and ordered."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from central.risk import audit, rulestore, runtime
from central.risk.rulestore import RuleChange
from central.store.db import database_proxy, write_transaction
from central.store.schema import init_database
from tests.risk.conftest import AUDIT_KEY, SELECTION_KEY, T0

pytestmark = pytest.mark.postgres


def test_concurrent_audit_appends_and_rule_changes_keep_the_chain(postgres_url: str, clock: Any) -> None:
    db = init_database(postgres_url)
    runtime.configure(clock, runtime.RiskKeys(SELECTION_KEY, AUDIT_KEY))
    errors: list[BaseException] = []
    start = threading.Barrier(4, timeout=30)

    def appender(n: int) -> None:
        try:
            start.wait()
            for i in range(15):
                with write_transaction():
                    audit.append(AUDIT_KEY, f"officer-{n}", "test.action", f"s-{n}-{i}", {"i": i}, T0)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)
        finally:
            db.close()

    def changer(n: int) -> None:
        try:
            start.wait()
            for i in range(8):
                rule = {
                    "id": f"KW-{n}-{i}",
                    "kind": "keyword",
                    "owner": "o",
                    "points": 5,
                    "params": {"keywords": [f"w{n}x{i}"]},
                }
                rulestore.change(RuleChange(put=[rule]), f"officer-{n}", T0, SELECTION_KEY, AUDIT_KEY)
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(2)]
    threads += [threading.Thread(target=changer, args=(n,)) for n in range(2, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    result = audit.verify(AUDIT_KEY)
    assert result.ok, result.problem
    assert result.entries == 2 * 15 + 2 * 8
    assert rulestore.current_version() == 16
    assert len(rulestore.load(16).rules) == 16  # no rule change lost another's
    database_proxy.obj.close()
