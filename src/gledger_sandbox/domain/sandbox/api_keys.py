"""API keys a tenant makes for itself: named, scoped, short-lived, rotated and revoked.

Besides the key a tenant is created with (which holds every scope and lasts as long as the
tenant), a tenant may make keys to hand out (``POST /v1/sandbox/api-keys``)::

    active --rotate--> active (new secret; the old one works on for the grace period, if any)
    active --revoke--> revoked        (at once, for good; the record stays, to say so)
    active --expires_at passes--> expired

Each key has the shape of every API key (``gls_test_s<shard>_<random>``, ``credentials``), so a
sharding proxy routes it like the tenant's own. The server keeps only each secret's SHA-256
(a key is 192 random bits: a plain digest cannot be reversed), so a key's secret is shown
once, in the answer that made it. Expiry is on wall time, not on the tenant's sandbox clock:
a key handed to a CI job for an hour lasts an hour, whether or not the sandbox clock is frozen
or advanced (access tokens, by contrast, follow the sandbox clock).

A secret that no longer works is told apart from an unknown one (``Refusal``): revoked,
expired, or replaced by a rotation. Ids (``key_...``) are random and looked up within the
caller's tenant only, so another tenant's key id is simply unknown.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from gledger_sandbox.domain.errors import Conflict, NotFound
from gledger_sandbox.domain.quotas import QuotaExceeded
from gledger_sandbox.domain.sandbox.credentials import API_KEY_PREFIX, Shard

KEY_ID_PREFIX = "key"
MAX_ACTIVE_KEYS = 100
"""Keys a tenant may hold that still work (revoked and expired ones do not count)."""
MAX_KEPT_KEYS = 200
"""Key records a tenant keeps; past it the oldest revoked or expired ones are forgotten (their
secrets then answer as unknown ones)."""
MAX_GRACE = timedelta(hours=24)
MAX_LIFETIME = timedelta(days=365)
_HINT_LENGTH = 4


def digest(secret: str) -> str:
    """What the server keeps of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One key a tenant made; ``digest`` names its current secret."""

    id: str
    tenant_id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    digest: str
    hint: str
    """The secret's shard prefix and last four characters, to recognise it by."""
    rotated_at: datetime | None = None
    previous_digest: str | None = None
    """The secret the last rotation replaced, working until ``previous_until``."""
    previous_until: datetime | None = None
    revoked_at: datetime | None = None

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a secret that once worked works no more (answered as 401 with ``code``)."""

    code: str
    detail: str


def _hint(secret: str, shard: Shard) -> str:
    head = f"{API_KEY_PREFIX}_{shard.tag}_"  # the random part may hold "_" itself
    return f"{head}...{secret[-_HINT_LENGTH:]}"


class ApiKeys:
    """Every tenant's managed keys, and the digests that lead to them."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self._keys: dict[str, dict[str, ApiKey]] = {}
        """Per tenant id, its keys by id, oldest first."""
        self._by_digest: dict[str, tuple[str, str]] = {}
        """Current and previous secrets' digests: (tenant id, key id)."""

    def create(
        self,
        tenant_id: str,
        name: str,
        scopes: frozenset[str],
        expires_at: datetime | None,
        now: datetime,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (the only time the secret is told)."""
        kept = self._keys.setdefault(tenant_id, {})
        if sum(key.status(now) == "active" for key in kept.values()) >= MAX_ACTIVE_KEYS:
            raise QuotaExceeded(
                "api_keys",
                MAX_ACTIVE_KEYS,
                f"The tenant already holds {MAX_ACTIVE_KEYS} working API keys: revoke one first.",
            )
        self._forget_ended(tenant_id, now)
        secret = self.shard.api_key()
        key = ApiKey(
            id=f"{KEY_ID_PREFIX}_{secrets.token_hex(12)}",
            tenant_id=tenant_id,
            name=name,
            scopes=scopes,
            created_at=now,
            expires_at=expires_at,
            digest=digest(secret),
            hint=_hint(secret, self.shard),
        )
        self._put(key)
        return key, secret

    def of(self, tenant_id: str) -> list[ApiKey]:
        return list(self._keys.get(tenant_id, {}).values())

    def get(self, tenant_id: str, key_id: str) -> ApiKey:
        found = self._keys.get(tenant_id, {}).get(key_id)
        if found is None:
            raise NotFound("API key", key_id)
        return found

    def rotate(
        self, tenant_id: str, key_id: str, grace: timedelta, now: datetime
    ) -> tuple[ApiKey, str]:
        """A new secret for a working key; the old one works on for ``grace`` (0: stops now).

        Only the secret just replaced can be in its grace period: a second rotation ends the
        first one's grace at once.
        """
        key = self.get(tenant_id, key_id)
        status = key.status(now)
        if status != "active":
            raise Conflict(
                "api_key.not_rotatable",
                f"The API key {key_id!r} is {status}: only a working key can be rotated "
                "(make a new one instead).",
            )
        if key.previous_digest is not None:
            self._by_digest.pop(key.previous_digest, None)
        secret = self.shard.api_key()
        # The replaced secret stays known (until the next rotation), so that its use after
        # the grace period is told "rotated" rather than "unknown".
        rotated = replace(
            key,
            digest=digest(secret),
            hint=_hint(secret, self.shard),
            rotated_at=now,
            previous_digest=key.digest,
            previous_until=now + grace,
        )
        self._put(rotated)
        return rotated, secret

    def revoke(self, tenant_id: str, key_id: str, now: datetime) -> ApiKey:
        """End a key for good (its secret, and one in a rotation's grace); again is a no-op."""
        key = self.get(tenant_id, key_id)
        if key.revoked_at is not None:
            return key
        revoked = replace(key, revoked_at=now)
        self._put(revoked)  # its digests stay known: their use is told "revoked"
        return revoked

    def check(self, secret: str, now: datetime) -> ApiKey | Refusal | None:
        """The working key a secret is, why it no longer works, or None for no key of ours."""
        found = self._by_digest.get(digest(secret))
        key = self._keys.get(found[0], {}).get(found[1]) if found else None
        if key is None:
            return None
        status = key.status(now)
        if status == "revoked":
            return Refusal("api_key_revoked", f"The API key {key.id} was revoked.")
        if status == "expired":
            return Refusal("api_key_expired", f"The API key {key.id} has expired.")
        if key.digest != digest(secret):
            assert key.previous_until is not None
            if key.previous_until <= now:
                return Refusal(
                    "api_key_rotated",
                    f"The API key {key.id} was rotated: this secret was replaced by a new one.",
                )
        return key

    def tenant_of(self, secret: str) -> str | None:
        """Whose key a secret is or was (working or not)."""
        found = self._by_digest.get(digest(secret))
        return found[0] if found else None

    def forget(self, tenant_id: str) -> None:
        """Drop a deleted tenant's keys."""
        for key in self._keys.pop(tenant_id, {}).values():
            self._unindex(key)

    def readmit(self, keys: Iterable[ApiKey]) -> None:
        """Take back keys a previous run of the server held."""
        for key in keys:
            self._put(key)

    def _put(self, key: ApiKey) -> None:
        self._keys.setdefault(key.tenant_id, {})[key.id] = key
        self._by_digest[key.digest] = (key.tenant_id, key.id)
        if key.previous_digest is not None:
            self._by_digest[key.previous_digest] = (key.tenant_id, key.id)

    def _unindex(self, key: ApiKey) -> None:
        for known in (key.digest, key.previous_digest):
            if known is not None:
                self._by_digest.pop(known, None)

    def _forget_ended(self, tenant_id: str, now: datetime) -> None:
        """Make room for one more record: drop the oldest revoked or expired keys."""
        kept = self._keys.get(tenant_id, {})
        ended = [key for key in kept.values() if key.status(now) != "active"]
        while len(kept) >= MAX_KEPT_KEYS and ended:
            gone = kept.pop(ended.pop(0).id)
            self._unindex(gone)


def to_records(keys: Iterable[ApiKey]) -> list[dict[str, object]]:
    """Keys as plain JSON values, for the server's own state (``serve --state-dir``): digests
    only, never a secret. Never part of a tenant's exported state (``tenant_state``)."""
    return [
        {
            "id": key.id,
            "name": key.name,
            "scopes": sorted(key.scopes),
            "created_at": key.created_at.isoformat(),
            "expires_at": _iso(key.expires_at),
            "digest": key.digest,
            "hint": key.hint,
            "rotated_at": _iso(key.rotated_at),
            "previous_digest": key.previous_digest,
            "previous_until": _iso(key.previous_until),
            "revoked_at": _iso(key.revoked_at),
        }
        for key in keys
    ]


def from_records(tenant_id: str, records: Iterable[dict[str, Any]]) -> list[ApiKey]:
    """The keys ``to_records`` wrote, back."""
    return [
        ApiKey(
            id=r["id"],
            tenant_id=tenant_id,
            name=r["name"],
            scopes=frozenset(r["scopes"]),
            created_at=datetime.fromisoformat(r["created_at"]),
            expires_at=_time(r["expires_at"]),
            digest=r["digest"],
            hint=r["hint"],
            rotated_at=_time(r["rotated_at"]),
            previous_digest=r["previous_digest"],
            previous_until=_time(r["previous_until"]),
            revoked_at=_time(r["revoked_at"]),
        )
        for r in records
    ]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text is not None else None
