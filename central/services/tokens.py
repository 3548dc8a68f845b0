"""API tokens: 256-bit random, shown once, stored only as SHA-256.

A fast hash is right here (unlike passwords): the token has 256 bits of entropy, so
nothing can be brute-forced from the hash, and every call pays for the look-up.
Tokens carry a short prefix (``rcs_``) so secret scanners can spot a leaked one.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from datetime import datetime
from typing import Any

from central.services import errors
from central.services.epoch import Generation, bump, shared_epoch
from central.services.principal import COMPANY, DRIVER, OFFICER, Principal
from central.store import models
from central.store.db import to_db

TOKEN_PREFIX = "rcs_"
MAX_TOKEN_LENGTH = 128


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(
    role: int,
    now: datetime,
    *,
    officer: models.Officer | None = None,
    company: models.Company | None = None,
    driver: models.Driver | None = None,
    label: str = "",
) -> str:
    """Create a token for one account (inside the caller's transaction); returns the
    clear token, which is never stored."""
    accounts: dict[int, models.BaseModel | None] = {OFFICER: officer, COMPANY: company, DRIVER: driver}
    if role not in accounts or accounts[role] is None:
        raise ValueError(f"token role {role} needs its account")
    token = new_token()
    models.ApiToken.create(
        token_hash=hash_token(token),
        role=role,
        officer=officer,
        company=company,
        driver=driver,
        label=label[:100],
        created_at=to_db(now),
    )
    return token


def revoke_all(role: int, account_id: int, now: datetime) -> int:
    field: Any = {
        OFFICER: models.ApiToken.officer,
        COMPANY: models.ApiToken.company,
        DRIVER: models.ApiToken.driver,
    }[role]
    count = (
        models.ApiToken.update(revoked_at=to_db(now))
        .where((field == account_id) & models.ApiToken.revoked_at.is_null())
        .execute()
    )
    bump()  # other processes drop their caches when this commits
    token_cache.clear()
    return int(count)


def _lookup(token_hash: str) -> Principal | None:
    T = models.ApiToken
    row = (
        T.select(T.id, T.role, T.officer, T.company, T.driver)
        .where((T.token_hash == token_hash) & T.revoked_at.is_null())
        .first()
    )
    if row is None:
        return None
    if row.role == OFFICER:
        officer = models.Officer.get_or_none(models.Officer.id == row.officer_id)
        if officer is None or not officer.active:
            return None
        return Principal(OFFICER, officer.id, officer.name, token_id=row.id)
    if row.role == COMPANY:
        company = models.Company.get_or_none(models.Company.id == row.company_id)
        if company is None or not company.active:
            return None
        return Principal(COMPANY, company.id, company.name, token_id=row.id)
    if row.role == DRIVER:
        driver = models.Driver.get_or_none(models.Driver.id == row.driver_id)
        if driver is None or not driver.active:
            return None
        return Principal(DRIVER, driver.id, driver.name, token_id=row.id)
    return None


class TokenCache:
    """Token hash -> principal for a few seconds, so a busy client does not cost two
    indexed look-ups per call. Any process's revocation or deactivation moves the shared
    epoch (central.services.epoch), which clears this cache in every process within the
    epoch's poll interval; ``ttl_s`` is only the backstop."""

    def __init__(self, ttl_s: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()
        self.generation = Generation()

    def get(self, token_hash: str) -> Principal | None:
        if self.ttl_s <= 0:
            return None
        with self._lock:
            hit = self._entries.get(token_hash)
            if hit is None:
                return None
            if hit[0] < time.monotonic():
                del self._entries[token_hash]
                return None
            return hit[1]

    def put(self, token_hash: str, principal: Principal, generation: int) -> None:
        """Store a look-up begun at ``generation``; dropped if a clear came since."""
        if self.ttl_s <= 0:
            return
        with self._lock:
            if generation != self.generation.value:
                return
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[token_hash] = (time.monotonic() + self.ttl_s, principal)

    def clear(self) -> None:
        with self._lock:
            self.generation.advance()
            self._entries.clear()


token_cache = TokenCache()
shared_epoch.register(token_cache.clear)


def authenticate(token: str) -> Principal:
    """Bearer token -> principal; Unauthenticated if unknown, revoked or inactive."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.startswith(TOKEN_PREFIX):
        raise errors.Unauthenticated("authorization: not a ROCARS API token", reason="malformed_token")
    digest = hash_token(token)
    shared_epoch.check()
    cached = token_cache.get(digest)
    if cached is not None:
        return cached
    generation = token_cache.generation.value
    principal = _lookup(digest)
    if principal is None:
        raise errors.Unauthenticated(
            "authorization: unknown, revoked or inactive token", reason="unknown_token"
        )
    token_cache.put(digest, principal, generation)
    return principal
