"""Sandbox tenants and their credentials: API keys, OAuth2 clients and the tokens they are granted.

Each tenant has its own store, clock, ids and idempotency keys, so tenants share nothing: an id
from another tenant is simply unknown. Tenant ids and credentials are random and carry the
server's shard (``credentials``: never derived from the seed, so a public sandbox's keys cannot
be guessed, and a proxy can route them); what the seed reproduces is the tenant's data.
Idle tenants expire on wall time; access tokens expire on their tenant's sandbox clock, so
``clock/advance`` past a token's lifetime expires it, and on a frozen clock it lasts until moved.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from gledger_sandbox.domain.clock import wall_clock
from gledger_sandbox.domain.errors import AccessError, GrantRefused, InvalidRequest, NotFound
from gledger_sandbox.domain.sandbox.api_keys import ApiKeys, Refusal, digest
from gledger_sandbox.domain.sandbox.credentials import Shard
from gledger_sandbox.domain.sandbox.evictions import Evictions
from gledger_sandbox.domain.sandbox.release import dismantle
from gledger_sandbox.domain.sandbox.replaced_credentials import (
    API_KEY,
    CLIENT_SECRET,
    ReplacedCredentials,
)
from gledger_sandbox.domain.sandbox.tenant import Tenant, TenantPolicy

SCOPES = ("ledger.read", "ledger.write", "admin")
MAX_SEED = 2**31 - 1
MAX_TOKENS_PER_TENANT = 100
"""Live access tokens a tenant holds at once; issuing one more drops its oldest."""

MADE_KEY = "made:"
"""Before the digest of a made API key among an evicted tenant's tombstones."""

UNSHARDED = Shard(0)
"""A server on its own is shard 0."""

DEFAULT_POLICY = TenantPolicy()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant, and the scopes its credential grants."""

    tenant: Tenant
    scopes: frozenset[str]
    expires_at: datetime | None = None
    """For a key the tenant made: when it stops working (wall time); a key it makes in turn
    may not outlive it."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    token: str
    tenant_id: str
    scopes: frozenset[str]
    expires_at: datetime
    """On the tenant's sandbox clock."""


Seeder = Callable[[Tenant], Iterator[None]]
"""Fills a fresh tenant from its fixture profile and seed (the seeding package provides it),
in steps of a few milliseconds each: the server runs other requests between steps."""


def drain(steps: Iterable[None]) -> None:
    """Run every step at once (start-up, or where nothing else may run meanwhile)."""
    for _ in steps:
        pass


@dataclass(slots=True)
class TenantBuild:
    """A tenant being seeded aside, step by step; nobody sees it until ``TenantRegistry.finish``.

    For a reset, ``tenant`` is a stand-in (same id, fresh state) whose state is swapped into
    ``resets`` at the end; until then the tenant serves its old data.
    """

    tenant: Tenant
    steps: Iterator[None]
    resets: Tenant | None = None
    generation: int = 0
    """The generation of ``resets`` when its reset began."""
    events_after: int = 0
    """Where the new event log starts (past the old log's end when the reset began)."""
    release: Iterator[None] = field(default_factory=lambda: iter(()))
    """Once a reset is finished: the steps that let go of the old state (see ``release``)."""


class TenantRegistry:
    """Every tenant of a server, and the credentials that lead to them."""

    def __init__(
        self,
        seeder: Seeder,
        *,
        fixtures: frozenset[str],
        max_tenants: int = 1000,
        tenant_ttl: timedelta = timedelta(hours=24),
        token_ttl: timedelta = timedelta(hours=1),
        wall: Callable[[], datetime] = wall_clock,
        policy: TenantPolicy = DEFAULT_POLICY,
        shard: Shard = UNSHARDED,
    ) -> None:
        self.policy = policy
        self._seeder = seeder
        self.fixtures = fixtures
        self.shard = shard
        self.max_tenants = max_tenants
        self.tenant_ttl = tenant_ttl
        self.token_ttl = token_ttl
        self._wall = wall
        self.tenants: dict[str, Tenant] = {}
        self._api_keys: dict[str, str] = {}
        self._clients: dict[str, str] = {}
        self._token_tenants: dict[str, str] = {}
        self._grants: dict[str, dict[str, AccessToken]] = {}
        """Per tenant id, its live tokens, oldest first."""
        self._building = 0
        """Tenants being seeded: they count against ``max_tenants`` already."""
        self.api_keys = ApiKeys(shard)
        """The keys tenants make for themselves (``api_keys``), beside each one's own."""
        self.evictions = Evictions()
        """Credentials of tenants the memory cap evicted (``evict``)."""
        self.replaced = ReplacedCredentials()
        """Tenants' own API keys and client secrets a rotation replaced (``rotate``)."""

    def create(
        self,
        fixture: str = "merchant",
        seed: int | None = None,
        clock_start: datetime | None = None,
        *,
        api_key: str | None = None,
        expires: bool = True,
    ) -> Tenant:
        """A new tenant seeded from ``fixture``; ``expires=False`` pins it (the default tenant)."""
        build = self.begin_create(fixture, seed, clock_start, api_key=api_key, expires=expires)
        drain(build.steps)
        return self.finish(build)

    def begin_create(
        self,
        fixture: str = "merchant",
        seed: int | None = None,
        clock_start: datetime | None = None,
        *,
        api_key: str | None = None,
        expires: bool = True,
    ) -> TenantBuild:
        """A new tenant to seed step by step, then ``finish`` (or ``abandon``)."""
        if fixture not in self.fixtures:
            raise InvalidRequest.at(
                "/fixture", "validation.invalid_value", f"No fixture profile named {fixture!r}."
            )
        now = self._wall()
        self._sweep(now)
        if len(self.tenants) + self._building >= self.max_tenants:
            raise AccessError(
                "tenant_limit_reached",
                f"This sandbox server holds its limit of {self.max_tenants} tenants; "
                "retry after idle tenants expire, or delete one.",
            )
        ttl = self.tenant_ttl if expires else None
        tenant = Tenant(
            id=self.shard.tenant_id(),
            fixture=fixture,
            seed=secrets.randbelow(MAX_SEED + 1) if seed is None else seed,
            created_at=now,
            clock_start=clock_start,
            api_key=api_key or self.shard.api_key(),
            client_id=self.shard.client_id(),
            client_secret=self.shard.client_secret(),
            ttl=ttl,
            expires_at=now + ttl if ttl else None,
            policy=self.policy,
        )
        self._building += 1
        return TenantBuild(tenant, self._seeder(tenant))

    def reset(self, tenant: Tenant, fixture: str | None = None, seed: int | None = None) -> Tenant:
        """Drop a tenant's data and seed it anew; its credentials stay valid."""
        build = self.begin_reset(tenant, fixture, seed)
        drain(build.steps)
        self.finish(build)
        drain(build.release)
        return tenant

    def begin_reset(
        self, tenant: Tenant, fixture: str | None = None, seed: int | None = None
    ) -> TenantBuild:
        """A fresh state for ``tenant`` to seed aside step by step, then ``finish``."""
        if fixture is not None and fixture not in self.fixtures:
            raise InvalidRequest.at(
                "/fixture", "validation.invalid_value", f"No fixture profile named {fixture!r}."
            )
        stand_in = tenant.staged(fixture or tenant.fixture, tenant.seed if seed is None else seed)
        return TenantBuild(
            stand_in,
            self._seeder(stand_in),
            resets=tenant,
            generation=tenant.generation,
            events_after=tenant.store.events.last_seq + 1,
        )

    def finish(self, build: TenantBuild) -> Tenant:
        """Take in a seeded build: register a new tenant, or swap a reset's state in."""
        tenant, target = build.tenant, build.resets
        if target is None:
            self._building -= 1
            self.tenants[tenant.id] = tenant
            self._api_keys[tenant.api_key] = tenant.id
            self._clients[tenant.client_id] = tenant.id
            return tenant
        if self.tenants.get(target.id) is not target:
            raise NotFound("tenant", target.id)  # deleted (or expired) while it was seeded
        before = target.clock.now()
        if self.stale(build):
            # The tenant changed while its new state was seeded (a write, another reset): the
            # new log would not go on from the old one's end, so seed once more, in place
            # (the server's handler first tries again aside, see ``stale``).
            target.fixture, target.seed = tenant.fixture, tenant.seed
            target.fresh_state()
            drain(self._seeder(target))
        else:
            old = target.store
            target.adopt(tenant)
            build.release = dismantle(old, old.events)
        # The clock restarts: each token keeps the lifetime it had left.
        shift = target.clock.now() - before
        grants = self._grants.get(target.id, {})
        for token, grant in grants.items():
            grants[token] = replace(grant, expires_at=grant.expires_at + shift)
        self.policy.on_events(target.id)
        return target

    def stale(self, build: TenantBuild) -> bool:
        """Whether a reset's tenant changed while its new state was seeded aside (a write, or
        another reset): swapped in, the new event log would not go on from the old one's end."""
        target = build.resets
        return target is not None and (
            target.generation != build.generation
            or target.store.events.last_seq >= build.events_after
        )

    def abandon(self, build: TenantBuild) -> None:
        """Drop a build that will not be finished (its request went away)."""
        build.steps = iter(())
        if build.resets is None:
            self._building -= 1

    def delete(self, tenant: Tenant) -> None:
        tenant.generation += 1  # its open feeds end
        self.tenants.pop(tenant.id, None)
        self._api_keys.pop(tenant.api_key, None)
        self._clients.pop(tenant.client_id, None)
        for token in self._grants.pop(tenant.id, {}):
            del self._token_tenants[token]
        self.api_keys.forget(tenant.id)
        self.replaced.forget(tenant.id)
        self.policy.on_events(tenant.id)

    def evict(self, tenant: Tenant) -> None:
        """Delete a tenant to free memory, remembering its credentials: they then answer 401
        ``tenant.evicted`` (``evicted_by``) rather than a bare ``unauthorized``."""
        tokens = list(self._grants.get(tenant.id, {}))
        made = [MADE_KEY + key.digest for key in self.api_keys.of(tenant.id)]  # kept as digests
        self.evictions.record(
            (tenant.id, tenant.api_key, tenant.client_id, *tokens, *made), self._wall()
        )
        self.delete(tenant)

    def evicted_by(self, credential: str) -> AccessError | None:
        """The refusal for a credential (or tenant id) of an evicted tenant; None otherwise."""
        at = self.evictions.evicted_at(credential)
        if at is None and len(self.evictions):
            at = self.evictions.evicted_at(MADE_KEY + digest(credential))
        if at is None:
            return None
        return AccessError(
            "tenant.evicted",
            f"The sandbox tenant this credential belonged to was evicted at "
            f"{at.isoformat(timespec='seconds')} to keep the server under its memory cap (the "
            "least recently used tenants go first); create a new tenant "
            "(POST /v1/sandbox/tenants).",
        )

    def _sweep(self, now: datetime) -> None:
        for tenant in [t for t in self.tenants.values() if self._expired(t, now)]:
            self.delete(tenant)

    @staticmethod
    def _expired(tenant: Tenant, now: datetime) -> bool:
        return tenant.expires_at is not None and tenant.expires_at <= now

    def _live(self, tenant_id: str | None) -> Tenant | None:
        """The tenant, if it has not expired; using it keeps it alive for another TTL."""
        tenant = self.tenants.get(tenant_id) if tenant_id else None
        if tenant is None:
            return None
        now = self._wall()
        if self._expired(tenant, now):
            self.delete(tenant)
            return None
        if tenant.ttl is not None:
            tenant.expires_at = now + tenant.ttl
        return tenant

    def by_api_key(self, api_key: str) -> Principal | None:
        """The tenant's own key (every scope), or a working key it made (its scopes)."""
        if api_key in self._api_keys:
            tenant = self._live(self._api_keys[api_key])
            return Principal(tenant, frozenset(SCOPES)) if tenant else None
        now = self._wall()
        made = self.api_keys.check(api_key, now)
        if made is None:
            tenant = self._live(self.replaced.api_key_tenant(api_key, now))  # in its grace
            return Principal(tenant, frozenset(SCOPES)) if tenant else None
        if isinstance(made, Refusal):
            return None
        tenant = self._live(made.tenant_id)
        return Principal(tenant, made.scopes, made.expires_at) if tenant else None

    def rotate(
        self, tenant: Tenant, kinds: Iterable[str], grace: timedelta, revoke_tokens: bool
    ) -> datetime:
        """New secrets for the tenant's own API key and/or client secret (``kinds``); the
        replaced ones work on for ``grace`` of wall time. Returns when they stop."""
        until = self._wall() + grace
        for kind in kinds:
            if kind == API_KEY:
                self.replaced.replace(tenant.id, API_KEY, tenant.api_key, until)
                self._api_keys.pop(tenant.api_key, None)
                tenant.api_key = self.shard.api_key()
                self._api_keys[tenant.api_key] = tenant.id
            elif kind == CLIENT_SECRET:
                self.replaced.replace(tenant.id, CLIENT_SECRET, tenant.client_secret, until)
                tenant.client_secret = self.shard.client_secret()
        if revoke_tokens:
            for token in list(self._grants.get(tenant.id, {})):
                self._revoke(tenant.id, token)
        return until

    def now(self) -> datetime:
        """Wall time, as the registry reads it (tenant and API key expiry)."""
        return self._wall()

    def refusal(self, credential: str) -> Refusal | None:
        """Why a key a tenant made no longer works (revoked, expired, rotated), or why a
        credential of an evicted tenant does not (``tenant.evicted``), if it is one of those."""
        now = self._wall()
        made = self.api_keys.check(credential, now)
        if isinstance(made, Refusal):
            return made
        rotated = self.replaced.refusal(credential, now)
        if rotated is not None:
            return rotated
        evicted = self.evicted_by(credential)
        return Refusal(evicted.code, evicted.detail) if evicted else None

    def by_access_token(self, token: str) -> Principal | None:
        """The token's tenant and scopes, unless the tenant's clock has passed its expiry."""
        tenant_id = self._token_tenants.get(token)
        grant = self._grants[tenant_id].get(token) if tenant_id else None
        tenant = self.tenants.get(tenant_id) if tenant_id else None
        if grant is None or tenant is None or grant.expires_at <= tenant.clock.now():
            return None
        live = self._live(grant.tenant_id)
        return Principal(live, grant.scopes) if live else None

    def issue_token(self, client_id: str, client_secret: str, scope: str | None) -> AccessToken:
        """The client-credentials grant: a bearer token for the client's tenant, valid for
        ``token_ttl`` of the tenant's clock."""
        tenant = self._live(self._clients.get(client_id))
        evicted = self.evicted_by(client_id) if tenant is None else None
        if evicted is not None:
            raise GrantRefused("invalid_client", evicted.detail)
        if tenant is None:
            raise GrantRefused("invalid_client", "Unknown client, or wrong client secret.")
        if not hmac.compare_digest(client_secret.encode(), tenant.client_secret.encode()):
            replaced = self.replaced.client_secret_state(tenant.id, client_secret, self._wall())
            if replaced == "ended":
                raise GrantRefused(
                    "invalid_client",
                    "This client secret was replaced by a rotation "
                    "(POST /v1/sandbox/tenant/rotate-credentials): use the new one.",
                )
            if replaced is None:
                raise GrantRefused("invalid_client", "Unknown client, or wrong client secret.")
        asked = frozenset(scope.split()) if scope and scope.strip() else frozenset(SCOPES)
        unknown = sorted(asked - set(SCOPES))
        if unknown:
            raise GrantRefused.at(
                "/scope", "invalid_scope", f"Unknown scope(s): {', '.join(unknown)}."
            )
        now = tenant.clock.now()
        grants = self._grants.setdefault(tenant.id, {})
        for token in [t for t, grant in grants.items() if grant.expires_at <= now]:
            self._revoke(tenant.id, token)
        while len(grants) >= MAX_TOKENS_PER_TENANT:
            self._revoke(tenant.id, next(iter(grants)))
        grant = AccessToken(self.shard.access_token(), tenant.id, asked, now + self.token_ttl)
        grants[grant.token] = grant
        self._token_tenants[grant.token] = tenant.id
        return grant

    # -- durable state (serve --state-dir) ------------------------------------------------

    def tenant_id_for(self, credential: str) -> str | None:
        """Whose an API key or access token is (no side effect: no TTL is extended)."""
        found = self._api_keys.get(credential) or self._token_tenants.get(credential)
        return (
            found or self.api_keys.tenant_of(credential) or self.replaced.api_key_owner(credential)
        )

    def grants_of(self, tenant_id: str) -> list[AccessToken]:
        return list(self._grants.get(tenant_id, {}).values())

    def ids_issued(self) -> int:
        """Kept in the state file's format: tenant ids are random (``credentials``), so there is
        no counter to carry over a restart and ids cannot repeat."""
        return 0

    def readmit(self, tenant: Tenant, grants: Iterable[AccessToken], ids_issued: int) -> None:
        """Take back a tenant a previous run of the server held, with its live tokens."""
        del ids_issued  # see ids_issued
        self.tenants[tenant.id] = tenant
        self._api_keys[tenant.api_key] = tenant.id
        self._clients[tenant.client_id] = tenant.id
        for grant in grants:
            self._grants.setdefault(tenant.id, {})[grant.token] = grant
            self._token_tenants[grant.token] = tenant.id

    def _revoke(self, tenant_id: str, token: str) -> None:
        del self._grants[tenant_id][token]
        del self._token_tenants[token]
