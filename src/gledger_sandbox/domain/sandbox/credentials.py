"""Tenant ids and credentials: random, and each naming the shard (worker process) that holds it.

A sharded deployment (``serve --workers N``, or ``deploy/``) puts each tenant on one process and
a standard reverse proxy in front. The proxy keeps no table of tenants: it reads the shard from
what the request carries, so every id and credential a client holds starts with a fixed prefix
and the shard's tag, then the random part::

    ten_s1_<20 base32>     tenant id
    gls_test_s1_<32>       API key               (Authorization: Bearer, ?access_token=)
    cli_s1_<20 hex>        OAuth2 client id      (HTTP Basic or the token form's client_id)
    cs_s1_<43>             OAuth2 client secret
    glat_s1_<43>           OAuth2 access token   (Authorization: Bearer, ?access_token=)

The random part comes from ``secrets`` (the operating system's generator), never from a seed, so
neither a tenant id nor a credential can be guessed, and a restart repeats none of them. A
tenant's resource ids (``ldg_``, ``acc_``, ``ent_``...) stay the seeded, deterministic ones.
The shard tag is public: it says where to route, and grants nothing.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, as resource ids
TENANT_PREFIX = "ten"
API_KEY_PREFIX = "gls_test"
CLIENT_ID_PREFIX = "cli"
CLIENT_SECRET_PREFIX = "cs"
ACCESS_TOKEN_PREFIX = "glat"
BEARER_PREFIXES = (API_KEY_PREFIX, ACCESS_TOKEN_PREFIX)
"""What a request may carry as a bearer credential (header or ``access_token`` parameter)."""
MAX_SHARD = 999

_TAGGED = re.compile(
    r"^(?:ten|gls_test|cli|cs|glat)_s(0|[1-9][0-9]{0,2})_[A-Za-z0-9_-]+$", re.ASCII
)


@dataclass(frozen=True, slots=True)
class Shard:
    """The shard a server is: the tag it puts into every tenant id and credential it mints."""

    index: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.index <= MAX_SHARD:
            raise ValueError(f"a shard is numbered 0 to {MAX_SHARD}, not {self.index}")

    @property
    def tag(self) -> str:
        return f"s{self.index}"

    def tenant_id(self) -> str:
        return self._named(TENANT_PREFIX, "".join(secrets.choice(_ALPHABET) for _ in range(20)))

    def api_key(self) -> str:
        return self._named(API_KEY_PREFIX, secrets.token_urlsafe(24))

    def client_id(self) -> str:
        return self._named(CLIENT_ID_PREFIX, secrets.token_hex(10))

    def client_secret(self) -> str:
        return self._named(CLIENT_SECRET_PREFIX, secrets.token_urlsafe(32))

    def access_token(self) -> str:
        return self._named(ACCESS_TOKEN_PREFIX, secrets.token_urlsafe(32))

    def _named(self, prefix: str, random_part: str) -> str:
        return f"{prefix}_{self.tag}_{random_part}"


def shard_of(credential: str) -> int | None:
    """The shard a tenant id or credential names; None for one without a tag (``--api-key``)."""
    found = _TAGGED.match(credential)
    return int(found.group(1)) if found else None
