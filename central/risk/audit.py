"""The append-only, hash-chained audit log of officer actions.

Each entry's hash is HMAC-SHA256 under a server-held key of the previous entry's hash and
the entry's canonical JSON (sequence, time, actor, action, subject, details). Because the
key is not in the database, someone who can write to the database but does not hold the
key cannot rewrite an entry and re-chain the rest. ``verify`` detects:

* an edited entry (its hash no longer matches),
* a deleted or inserted entry (a gap in sequence numbers or a broken ``prev_hash`` link),
* a truncated tail (the head row names a later entry than the log holds).

Appends happen inside the caller's transaction, so an action and its audit entry commit
together. On PostgreSQL, writers serialise on a transaction-scoped advisory lock so two
officers cannot take the same sequence number; a writer that also records a change takes
this lock first, then the change log's, so the two locks are always taken in one order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from central.risk.models import AuditEntry, AuditHead
from central.store.db import database_proxy, from_db, is_postgres, to_db

GENESIS = "0" * 64
AUDIT_LOCK = 0x524F43415253_4144  # "ROCARS" + "AD"
_BATCH = 2000


def _canonical(seq: int, at: datetime, actor: str, action: str, subject: str, details: str) -> bytes:
    body = {
        "seq": seq,
        "at": at.isoformat(),
        "actor": actor,
        "action": action,
        "subject": subject,
        "details": details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _hash(key: bytes, prev: str, canonical: bytes) -> str:
    return hmac.new(key, prev.encode() + b"\n" + canonical, hashlib.sha256).hexdigest()


def append(
    key: bytes, actor: str, action: str, subject: str, details: Mapping[str, Any], now: datetime
) -> int:
    """Add one entry inside the caller's transaction; returns its sequence number."""
    db = database_proxy.obj
    if not db.in_transaction():
        raise RuntimeError("audit.append must run inside the action's transaction")
    if is_postgres(db):
        db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
    head = AuditHead.get_or_none(AuditHead.id == 1)
    seq = (head.seq if head else 0) + 1
    prev = head.hash if head else GENESIS
    at = to_db(now)
    text = json.dumps(dict(details), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    digest = _hash(key, prev, _canonical(seq, at, actor, action, subject, text))
    AuditEntry.create(
        seq=seq, at=at, actor=actor, action=action, subject=subject, details=text, prev_hash=prev, hash=digest
    )
    if head is None:
        AuditHead.create(id=1, seq=seq, hash=digest)
    else:
        AuditHead.update(seq=seq, hash=digest).where(AuditHead.id == 1).execute()
    return seq


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    entries: int
    head_hash: str
    first_bad_seq: int = 0
    problem: str = ""


def verify(key: bytes) -> VerifyResult:
    """Walk the whole chain in sequence order; stop at the first problem."""
    prev = GENESIS
    expected = 1
    count = 0
    last = 0
    while True:
        rows = list(AuditEntry.select().where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(_BATCH))
        if not rows:
            break
        for e in rows:
            if e.seq != expected:
                return VerifyResult(
                    False, count, prev, expected, f"entry {expected} is missing (next is {e.seq})"
                )
            if e.prev_hash != prev:
                return VerifyResult(
                    False, count, prev, e.seq, f"entry {e.seq} does not link to entry {e.seq - 1}"
                )
            at = e.at if isinstance(e.at, datetime) else datetime.fromisoformat(str(e.at))
            digest = _hash(key, prev, _canonical(e.seq, at, e.actor, e.action, e.subject, e.details))
            if not hmac.compare_digest(digest, e.hash):
                return VerifyResult(False, count, prev, e.seq, f"entry {e.seq} was altered (hash mismatch)")
            prev = e.hash
            expected += 1
            count += 1
            last = e.seq
    head = AuditHead.get_or_none(AuditHead.id == 1)
    head_seq = head.seq if head else 0
    if head_seq != count or (head is not None and head.hash != prev):
        return VerifyResult(
            False, count, prev, count + 1, f"log ends at entry {count} but its head records entry {head_seq}"
        )
    return VerifyResult(True, count, prev)


@dataclass(frozen=True, slots=True)
class AuditView:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    hash: str


def entries(after: int = 0, limit: int = 100, subject: str = "") -> list[AuditView]:
    q = AuditEntry.select().where(AuditEntry.seq > after)
    if subject:
        q = q.where(AuditEntry.subject == subject)
    out = []
    for e in q.order_by(AuditEntry.seq).limit(limit):
        at = from_db(e.at)
        assert at is not None
        out.append(AuditView(e.seq, at, e.actor, e.action, e.subject, json.loads(e.details), e.hash))
    return out
