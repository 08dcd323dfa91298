"""``gledger-sandbox serve``: settings from the parsed arguments, then one sandbox or shards.

The command line (``cli``) parses; this turns serve's arguments into ``Settings``, refuses
combinations that cannot work with a clear message (exit status 2), starts the server and
prints the banner. The web stack is imported only here, once the arguments are read.
"""

from __future__ import annotations

import argparse
import gc
import ssl
import sys
from typing import Any

from gledger_sandbox import __version__


def run_serve(args: argparse.Namespace) -> int:
    """``serve``: one sandbox on ``--host``/``--port``, or ``--workers`` shards behind HAProxy;
    prints the banner a partner starts from. Returns the exit status."""
    from gledger_sandbox.api.cors import parse_origins
    from gledger_sandbox.api.memory import measurable
    from gledger_sandbox.api.public import public_settings, rate_limit_for
    from gledger_sandbox.api.ratelimit import RateLimit
    from gledger_sandbox.api.settings import (
        ConnectionSettings,
        Settings,
        StreamSettings,
        TlsSettings,
        WebhookSettings,
    )
    from gledger_sandbox.api.tracing import provider_from_env
    from gledger_sandbox.bootstrap import (
        default_tenant,
        listen,
        sandbox_app,
        serve,
        tune_garbage_collector,
    )

    bounds = public_settings(
        args.public,
        quotas=dict(args.quota),
        creations_per_hour=args.tenant_creations_per_hour,
        streams_per_credential=args.max_streams,
        max_rss_bytes=None if args.max_rss is None else args.max_rss * 1024 * 1024,
        webhook_allow=args.webhook_allow,
        webhook_ports=args.webhook_ports,
        webhook_resolve=args.webhook_resolve,
    )
    if bounds.max_rss_bytes and not measurable():
        print(
            "gledger-sandbox serve: --max-rss needs /proc/self/statm (Linux) to measure the "
            "server's memory; give --max-rss 0 to serve without a cap",
            file=sys.stderr,
        )
        return 1
    if (args.tls_key or args.tls_client_ca) and not args.tls_cert:
        print(
            "gledger-sandbox serve: --tls-key and --tls-client-ca need --tls-cert", file=sys.stderr
        )
        return 2
    try:
        tracer_provider = provider_from_env()
    except ImportError:
        print(
            "gledger-sandbox serve: OTEL_* variables ask for traces, but OpenTelemetry is not "
            "installed: pip install 'gledger-sandbox[otel]'",
            file=sys.stderr,
        )
        return 2

    settings = Settings(
        seed=args.seed,
        fixture=args.fixture,
        api_key=args.api_key,
        clock_start=args.clock_start,
        cors_origins=parse_origins(args.cors_origin),
        max_body_bytes=args.max_body_bytes,
        max_tenants=args.max_tenants,
        state_dir=args.state_dir,
        tenant_ttl_seconds=args.tenant_ttl,
        async_post_delay=args.async_post_delay,
        validate_responses=args.validate_responses,
        rate_limit=rate_limit_for(
            args.public, RateLimit.parse(args.rate_limit) if args.rate_limit else None
        ),
        event_retention_seconds=args.event_retention,
        event_retention_count=args.event_retention_count,
        streams=StreamSettings(keepalive_seconds=args.stream_keepalive),
        connections=ConnectionSettings(
            keep_alive_timeout=args.keep_alive_timeout,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            shutdown_timeout=args.shutdown_timeout,
            trusted_proxies=args.trust_proxy,
        ),
        webhooks=WebhookSettings(
            retry_schedule=args.webhook_retry_schedule,
            retry_scale=args.webhook_retry_scale,
            jitter=args.webhook_jitter,
            timeout_seconds=args.webhook_timeout,
            client_cert=args.webhook_client_cert,
            client_key=args.webhook_client_key,
            ca_file=args.webhook_ca,
        ),
        public=bounds,
        tls=TlsSettings(args.tls_cert, args.tls_key, args.tls_client_ca) if args.tls_cert else None,
        metrics=args.metrics,
        tracer_provider=tracer_provider,
        shard=args.shard,
        default_tenant=args.shard == 0,
    )
    if args.workers > 1:
        if args.shard:
            print(
                "gledger-sandbox serve: --workers numbers its shards itself; drop --shard",
                file=sys.stderr,
            )
            return 2
        return _serve_shards(args, settings)
    try:
        sock = listen(args.host, args.port)
    except OSError as error:
        print(
            f"gledger-sandbox serve: cannot listen on {args.host}:{args.port}: "
            f"{error.strerror or error} (choose another with --port)",
            file=sys.stderr,
        )
        return 1
    from gledger_sandbox.progress import Progress

    try:
        app, services = sandbox_app(settings, Progress(quiet=args.quiet))
    except (OSError, ssl.SSLError) as error:  # a webhook certificate that cannot be read
        print(f"gledger-sandbox serve: {error}", file=sys.stderr)
        return 1
    tune_garbage_collector()  # every shard too (serve --shard N of deploy/)
    if not settings.default_tenant:
        print(f"GLedger Sandbox {__version__}: shard {args.shard} on {args.host}:{args.port}")
        serve(app, services, sock, args.log_level, args.log_format)
        return 0
    tenant = default_tenant(services)
    host = f"[{args.host}]" if ":" in args.host else args.host
    scheme = "https" if settings.tls else "http"
    base = f"{scheme}://{host}:{sock.getsockname()[1]}"
    clock = (
        f"frozen at {args.clock_start.isoformat()} (moves only by POST /v1/sandbox/clock/advance)"
        if args.clock_start
        else "real time"
    )
    cors = ", ".join(settings.cors_origins) or "off (--cors-origin)"
    mode = (
        "public (--public: webhooks to public addresses only, quotas on)"
        if args.public
        else ("local (webhooks may reach loopback; --public for a public backend)")
    )
    print(
        f"GLedger Sandbox {__version__} on {base}\n"
        f"  Swagger UI   {base}/v1/ui/\n"
        f"  OpenAPI      {base}/v1/openapi.json\n"
        f"  tenant       {tenant.id} (fixture {tenant.fixture}, seed {tenant.seed})\n"
        f"  API key      {tenant.api_key}\n"
        f"  clock        {clock}\n"
        f"  CORS         {cors}\n"
        f"  mode         {mode}\n"
        f"  events       {base}/v1/events/stream (SSE), {base.replace('http', 'ws')}/v1/events/ws\n"
        f"  metrics      {base}/metrics ({settings.metrics})\n"
        f"  try          curl -H 'Authorization: Bearer {tenant.api_key}' {base}/v1/ledgers",
        flush=True,
    )
    serve(app, services, sock, args.log_level, args.log_format)
    return 0


def _serve_shards(args: argparse.Namespace, settings: Any) -> int:
    from gledger_sandbox.scaleout.workers import ScaleOutError, ShardedSandbox

    gc.enable()
    with ShardedSandbox(settings, args.workers, args.host, args.port, args.log_level) as sharded:
        try:
            running = sharded.start()
        except (ScaleOutError, OSError) as error:
            print(f"gledger-sandbox serve: {error}", file=sys.stderr)
            return 1
        shards = "\n".join(f"  shard {i}      {url}" for i, url in enumerate(running.shards))
        print(
            f"GLedger Sandbox {__version__} on {running.url} (HAProxy, {args.workers} shards)\n"
            f"{shards}\n"
            f"  proxy config {running.config}\n"
            f"  Swagger UI   {running.url}/v1/ui/\n"
            f"  API key      {running.api_key} (default tenant, shard 0)\n"
            f"  try          curl -H 'Authorization: Bearer {running.api_key}' "
            f"{running.url}/v1/ledgers",
            flush=True,
        )
        sharded.wait()
    return 0
