"""The HAProxy configuration that routes each request to the shard its credential names.

HAProxy, not nginx, because stock HAProxy (Debian's package, no module or script) can read every
place a credential travels: the bearer header and the ``access_token`` query parameter (API
calls, SSE, WebSocket upgrades), the client id of HTTP Basic (``http_auth_user``), and the
``client_id`` field of the token endpoint's form body (``req.body_param`` after
``wait-for-body``). nginx reads the first two, but decodes neither Basic nor a form body
without njs or Lua. The proxy keeps no state: each request's shard is a regular expression
over what it carries (``domain.credentials``); a request without a credential (tenant creation,
health, docs) goes to any shard, round-robin (one with an ``Idempotency-Key`` by a hash of the
key, so that a retried creation reaches the shard that made the tenant; by client address
with ``by_address``); a credential without a shard tag (a fixed
``--api-key``) goes to shard 0, where the default tenant lives. HAProxy routes every request
of a keep-alive connection on its own, and passes SSE and WebSocket streams through as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gledger_sandbox.domain.sandbox.credentials import BEARER_PREFIXES, CLIENT_ID_PREFIX

TOKEN_PATH = "/oauth/token"


@dataclass(frozen=True, slots=True)
class ShardAddress:
    """Where a shard listens, as the proxy reaches it (``127.0.0.1:8101``, ``shard1:8080``)."""

    index: int
    address: str


@dataclass(frozen=True, slots=True)
class ProxyTimeouts:
    """How long the proxy waits; streams stay open across keep-alive comments."""

    connect: float = 5
    idle: float = 60
    """No byte either way for this long closes a request or an SSE stream (keep-alives are
    sent every 15 s by default, so a quiet stream stays)."""
    tunnel: float = 3600
    """A WebSocket with no traffic for this long is closed."""
    header: float = 10


def _seconds(value: float) -> str:
    return f"{round(value * 1000)}ms"


def _bind(listen: str) -> str:
    """HAProxy's spelling of ``host:port`` (``[::1]:8080`` -> ``ipv6@::1:8080``)."""
    if listen.startswith("["):
        host, _, port = listen[1:].partition("]:")
        return f"ipv6@{host}:{port}"
    return listen


def shard_rules(index: int) -> list[str]:
    """The ACL lines that recognise a request for shard ``index`` (one name, any line matches)."""
    bearer = "|".join(BEARER_PREFIXES)
    name = f"to_shard{index}"
    tag = f"_s{index}_"
    return [
        rf"acl {name} req.hdr(authorization) -m reg -i ^bearer[[:space:]]+({bearer}){tag}",
        rf"acl {name} url_param(access_token) -m reg ^({bearer}){tag}",
        rf"acl {name} http_auth_user -m reg ^{CLIENT_ID_PREFIX}{tag}",
        rf"acl {name} req.body_param(client_id) -m reg ^{CLIENT_ID_PREFIX}{tag}",
    ]


def render(
    listen: str,
    shards: Sequence[ShardAddress],
    timeouts: ProxyTimeouts = ProxyTimeouts(),
    *,
    remote: bool = False,
    threads: int | None = None,
    by_address: bool = False,
    trusted: Sequence[str] | None = None,
) -> str:
    """The whole configuration: one frontend on ``listen``, a backend per shard, one for any.

    ``threads`` sets HAProxy's ``nbthread`` (None: HAProxy's default, a thread per core).
    ``by_address`` sends every request without a credential (tenant creation above all) to the
    shard its client address hashes to, instead of round-robin, so that the per-address
    counts (tenant creations per hour, the rate limit of anonymous calls) are each kept by one
    shard and hold as they do for one process.

    ``remote`` is for shards on other hosts, named by DNS (``deploy/``): names are resolved
    again while running (a restarted container may come back on another address), so HAProxy
    also starts before they resolve, and a shard that stops answering ``/healthz`` is left out
    of tenant creation. ``serve --workers`` watches its own processes instead (a check that
    times out on a loaded machine would only skew creation onto the other shards).

    ``trusted`` makes the proxy the edge (``serve --workers``): the ``X-Forwarded-For`` and
    ``-Proto`` a client sends are dropped unless it is one of these proxies (``*``: any), so
    the shards, which believe what HAProxy forwards, see the real client address (a client on
    the same host could otherwise name any address, past an allowed-networks list).
    ``deploy/haproxy.cfg`` is rendered with ``()``: HAProxy is the edge there too (behind an L4
    load balancer at most), and its Kubernetes shards trust any peer (``--trust-proxy '*'``,
    pods move), so a forwarded address a client sent would otherwise be believed. None
    forwards them as they come (a web proxy in front that HAProxy cannot name).
    """
    if not shards or shards[0].index != 0:
        raise ValueError("a sharded sandbox has a shard 0 (it holds untagged credentials)")
    check = " check inter 5s fall 3 rise 1" if remote else ""
    lines = [
        "# GLedger Sandbox: route each request to the shard named by its credential.",
        "# Generated by gledger_sandbox.scaleout.haproxy; see README (Scale-out) and deploy/.",
        "global",
        "    # maxconn follows the open-file limit HAProxy is given (ulimit -n).",
    ]
    if threads is not None:
        lines += [f"    nbthread {threads}"]
    lines += [""]
    if remote:
        lines += [
            "resolvers system",
            "    parse-resolv-conf",
            "    hold valid 10s",
            "",
        ]
    lines += [
        "defaults",
        "    mode http",
        "    option forwardfor",
        f"    timeout connect {_seconds(timeouts.connect)}",
        f"    timeout client {_seconds(timeouts.idle)}",
        f"    timeout server {_seconds(timeouts.idle)}",
        f"    timeout http-request {_seconds(timeouts.header)}",
        "    timeout http-keep-alive 5s",
        f"    timeout tunnel {_seconds(timeouts.tunnel)}",
    ]
    if remote:
        lines += ["    default-server resolvers system init-addr last,libc,none"]
    lines += [
        "",
        "frontend sandbox",
        f"    bind {_bind(listen)}",
        "    # The token endpoint's client may be in its form body: read the body first.",
        f"    http-request wait-for-body time {_seconds(timeouts.header)}"
        f" if {{ path {TOKEN_PATH} }}",
    ]
    if trusted is not None and "*" not in trusted:
        unless = f" unless {{ src {' '.join(trusted)} }}" if trusted else ""
        lines += [
            "    # The edge: what a client says of its own address is not believed.",
            f"    http-request del-header x-forwarded-for{unless}",
            f"    http-request del-header x-forwarded-proto{unless}",
        ]
    for shard in shards:
        lines += ["    " + rule for rule in shard_rules(shard.index)]
    lines += [
        "    acl has_credential req.hdr(authorization) -m found",
        "    acl has_credential url_param(access_token) -m found",
        "    acl has_credential req.body_param(client_id) -m found",
    ]
    lines += [f"    use_backend shard{s.index} if to_shard{s.index}" for s in shards]
    lines += [
        "    # A credential without a shard tag (a fixed --api-key) lives on shard 0.",
        "    use_backend shard0 if has_credential",
    ]
    if not by_address:
        lines += [
            "    # No credential but an Idempotency-Key (a tenant creation that may be retried):",
            "    # the shard the key hashes to, so that a replay reaches the tenant it made.",
            "    use_backend by_key if { req.hdr(idempotency-key) -m found }",
        ]
    lines += [
        "    # No credential (tenant creation, health, docs): any shard.",
        "    default_backend any_shard",
    ]
    for shard in shards:
        lines += ["", f"backend shard{shard.index}", f"    server s{shard.index} {shard.address}"]
    pool = [f"    server s{s.index} {s.address}{check}" for s in shards]
    if remote:
        pool = ["    option httpchk GET /healthz", "    timeout check 10s", *pool]
    if by_address:
        balance = [
            "    # One client address, one shard: its per-address quotas hold across shards",
            "    # (and a replayed tenant creation reaches the shard that made the tenant).",
            "    balance source",
            "    hash-type consistent",
        ]
    else:
        balance = ["    balance roundrobin"]
        keyed = ["    balance hdr(idempotency-key)", "    hash-type consistent"]
        lines += ["", "backend by_key", *keyed, *pool]
    lines += ["", "backend any_shard", *balance, *pool]
    return "\n".join(lines) + "\n"
