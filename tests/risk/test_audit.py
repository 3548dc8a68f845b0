"""The audit log is hash-chained: any edited, deleted, inserted or truncated entry is detected."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from central.risk import audit
from central.risk.models import AuditEntry, AuditHead
from central.store.db import write_transaction
from tests.risk.conftest import T0

KEY = b"audit-key-for-tests-0123456789abc"


def fill(n: int = 5) -> None:
    for i in range(n):
        with write_transaction():
            audit.append(
                KEY,
                f"officer-{i % 2}",
                "rule.put",
                f"KW-{i}",
                {"points": i, "note": "ünïcode"},
                T0 + timedelta(minutes=i),
            )


def test_intact_chain_verifies(db: Any) -> None:
    assert audit.verify(KEY).ok and audit.verify(KEY).entries == 0
    fill()
    result = audit.verify(KEY)
    assert result.ok, result.problem
    assert result.entries == 5
    assert result.head_hash == AuditEntry.get(AuditEntry.seq == 5).hash
    assert [e.subject for e in audit.entries(after=2)] == ["KW-2", "KW-3", "KW-4"]
    assert audit.entries(subject="KW-1")[0].details == {"points": 1, "note": "ünïcode"}


def test_append_outside_transaction_is_refused(db: Any) -> None:
    with pytest.raises(RuntimeError):
        audit.append(KEY, "o", "x", "y", {}, T0)


@pytest.mark.parametrize(
    ("column", "value"),
    [("details", '{"points":99}'), ("actor", "someone-else"), ("action", "rule.delete"), ("subject", "KW-X")],
)
def test_edited_entry_is_detected(db: Any, column: str, value: str) -> None:
    fill()
    AuditEntry.update({getattr(AuditEntry, column): value}).where(AuditEntry.seq == 3).execute()
    result = audit.verify(KEY)
    assert not result.ok and result.first_bad_seq == 3 and "altered" in result.problem


def test_edited_time_is_detected(db: Any) -> None:
    fill()
    AuditEntry.update(at=T0.replace(tzinfo=None) - timedelta(days=1)).where(AuditEntry.seq == 2).execute()
    assert audit.verify(KEY).first_bad_seq == 2


def test_deleted_entry_is_detected(db: Any) -> None:
    fill()
    AuditEntry.delete().where(AuditEntry.seq == 2).execute()
    result = audit.verify(KEY)
    assert not result.ok and result.first_bad_seq == 2 and "missing" in result.problem


def test_deleted_and_renumbered_entry_is_detected(db: Any) -> None:
    fill()
    AuditEntry.delete().where(AuditEntry.seq == 2).execute()
    for seq in (3, 4, 5):
        AuditEntry.update(seq=seq - 1).where(AuditEntry.seq == seq).execute()
    AuditHead.update(seq=4).execute()
    result = audit.verify(KEY)
    assert not result.ok and result.first_bad_seq == 2


def test_truncated_tail_is_detected(db: Any) -> None:
    fill()
    AuditEntry.delete().where(AuditEntry.seq == 5).execute()
    result = audit.verify(KEY)
    assert not result.ok and "head" in result.problem


def test_rechained_forgery_without_the_key_is_detected(db: Any) -> None:
    fill()
    # An attacker with database access but without the key rebuilds the chain with another key.
    AuditEntry.delete().execute()
    AuditHead.delete().execute()
    forged = b"attacker-key-000000000000000000000"
    for i in range(5):
        with write_transaction():
            audit.append(forged, "officer-0", "rule.put", f"KW-{i}", {"points": 0}, T0)
    assert audit.verify(forged).ok
    result = audit.verify(KEY)
    assert not result.ok and result.first_bad_seq == 1
