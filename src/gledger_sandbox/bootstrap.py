"""Wires a whole sandbox from its settings: the one place that knows every package.

The registry gets the fixture seeder; the default tenant is seeded; the web app serves it.
Both the command line and the tests start a sandbox through here.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from gledger_sandbox import resources, spec_cache
from gledger_sandbox.api.app import create_app
from gledger_sandbox.api.durability import Durability, DurableWorker, DurableWrites
from gledger_sandbox.api.limits import StreamSlots
from gledger_sandbox.api.memory import MemoryGuard
from gledger_sandbox.api.ratelimit import RateLimit
from gledger_sandbox.api.runner import SandboxRunner
from gledger_sandbox.api.settings import ConnectionSettings, Services, Settings, TlsSettings
from gledger_sandbox.api.streams import event_bytes
from gledger_sandbox.api.telemetry import Telemetry
from gledger_sandbox.api.tls import webhook_tls
from gledger_sandbox.domain.ledger.events import Retention
from gledger_sandbox.domain.live.webhook_models import RetryPolicy
from gledger_sandbox.domain.quotas import CreationBudget
from gledger_sandbox.domain.sandbox.credentials import Shard
from gledger_sandbox.domain.sandbox.tenant import Tenant, TenantPolicy
from gledger_sandbox.domain.sandbox.tenants import TenantRegistry
from gledger_sandbox.progress import QUIET, Progress
from gledger_sandbox.seeding.names import warm_up
from gledger_sandbox.seeding.profiles import Seeder
from gledger_sandbox.webhooks.fair_share import FairShare
from gledger_sandbox.webhooks.outbound import OutboundGuard
from gledger_sandbox.webhooks.worker import DeliveryWorker

if TYPE_CHECKING:
    import uvicorn

    from gledger_sandbox.contract import ContractOptions, ContractReport


def build_services(settings: Settings, progress: Progress = QUIET) -> Services:
    """The registry, seeded with the default tenant unless the settings say otherwise."""
    seeder = Seeder(resources.fixtures_dir(), recordings=spec_cache)
    hooks, public = settings.webhooks, settings.public
    share = FairShare(hooks.attempts_in_flight, hooks.tenant_share, hooks.endpoint_share)
    durability = Durability(settings.state_dir) if settings.state_dir else None
    telemetry = Telemetry(settings.metrics, settings.tracer_provider)
    guard = OutboundGuard(public.outbound)
    worker_kind = DurableWorker if durability else DeliveryWorker
    worker = worker_kind(
        event_bytes,
        timeout=hooks.timeout_seconds,
        share=share,
        tls=webhook_tls(hooks),
        watch=telemetry.watch_attempt,
        guard=guard,
    )
    if isinstance(worker, DurableWorker):
        worker.durability = durability
    runner = SandboxRunner(worker, settings.tick_seconds)
    events_kept = public.quotas.events_kept or settings.event_retention_count
    listener = durability.listener(runner.on_events) if durability else runner.on_events
    policy = TenantPolicy(
        retention=Retention(
            max_age=timedelta(seconds=settings.event_retention_seconds),
            max_count=min(settings.event_retention_count, events_kept),
        ),
        retries=RetryPolicy(
            schedule=tuple(delay * hooks.retry_scale for delay in hooks.retry_schedule),
            jitter=hooks.jitter,
        ),
        on_events=listener,
        quotas=public.quotas,
        # The memory cap counts what each tenant holds, metadata bytes included.
        count_metadata=bool(public.max_rss_bytes),
    )
    registry = TenantRegistry(
        seeder,
        fixtures=seeder.profiles,
        max_tenants=settings.max_tenants,
        tenant_ttl=timedelta(seconds=settings.tenant_ttl_seconds),
        token_ttl=timedelta(seconds=settings.token_ttl_seconds),
        policy=policy,
        shard=Shard(settings.shard),
    )
    telemetry.attach(registry, runner)
    services = Services(
        settings,
        registry,
        runner,
        telemetry,
        durability=durability,
        outbound=guard,
        creations=CreationBudget(public.tenant_creations_per_hour),
        streams=StreamSlots(public.streams_per_credential),
        memory=MemoryGuard(registry, public.max_rss_bytes) if public.max_rss_bytes else None,
    )
    recovered = durability.recover(registry) if durability else 0
    if settings.default_tenant and not recovered:
        seeder.recall(settings.fixture, settings.seed)
        _seed_default_tenant(registry, settings, progress)
    if durability:
        durability.write_all_now()
    return services


def default_tenant(services: Services) -> Tenant:
    """The tenant the banner shows: the pinned one (seeded at the first start, no expiry),
    which a state directory brings back with its own credentials (rotated ones included)."""
    tenants = list(services.registry.tenants.values())
    return next((t for t in tenants if t.expires_at is None), tenants[0])


def _seed_default_tenant(registry: TenantRegistry, settings: Settings, progress: Progress) -> None:
    progress.start(f"seeding the default tenant ({settings.fixture}, seed {settings.seed})")
    build = registry.begin_create(
        settings.fixture,
        settings.seed,
        settings.clock_start,
        api_key=settings.api_key,
        expires=False,
    )
    events = build.tenant.store.events
    for _ in build.steps:
        progress.update(f"{events.last_seq} events")
    tenant = registry.finish(build)
    counts = tenant.counts()
    progress.finish(
        f"seeded the default tenant: {counts['entries']} entries, {events.last_seq} events"
    )


def tune_garbage_collector() -> None:
    """Keep full collections proportional to new objects, not to everything the sandbox holds.

    A sandbox keeps its whole ledger in memory, so a full cyclic collection walks every entry
    ever posted: pauses measured at 40-90 ms with the default fixture, 360 ms at 100k entries
    (bench/README.md). Survivors of each full collection are frozen (never walked again; still
    freed by reference counting, as the store holds no reference cycles), and young collections
    run less often.

    What is frozen here is frozen without a collection first: one full collection of all that
    starting built takes 70-100 ms, the longest single step of a start (bench/startup.py), and
    finds only the garbage starting left (about 3,000 objects, half a MiB: argument parsers,
    import-time leftovers). ``collect_start_garbage`` frees those once the server answers.
    """
    gc.freeze()

    def refreeze(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    gc.callbacks.append(refreeze)
    gc.set_threshold(10_000, 10, 10)


def collect_start_garbage() -> None:
    """Free the garbage starting left, which ``tune_garbage_collector`` froze uncollected.

    The one full collection a start used to make before it listened (70-100 ms), made once
    the server is answering (``serve``): no client waits for it to reach the sandbox.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _after_start() -> None:
    """What a served sandbox does once it answers, aside: Faker loaded (the default tenant's
    names may have come from a recording), so that no visitor's first tenant waits for it;
    then the garbage starting left collected."""

    def work() -> None:
        warm_up()
        collect_start_garbage()

    threading.Thread(target=work, name="after-start", daemon=True).start()


def listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on ``host:port``, so a busy port fails before anything else.

    Raises ``OSError`` (e.g. address in use) with the operating system's reason.
    """
    # As uvicorn binds: IPv6 for an address with a colon, else IPv4 ("localhost" -> 127.0.0.1).
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def sandbox_app(
    settings: Settings | None = None, progress: Progress = QUIET
) -> tuple[ASGIApp, Services]:
    """A ready sandbox: the ASGI app and the services behind it."""
    services = build_services(settings or Settings(), progress)
    progress.start("building the API from the spec")
    with _spec_checked_once():
        app = create_app(services)
    if services.durability is not None:
        app = DurableWrites(app, services.durability)
    progress.finish("built the API from the spec")
    return app, services


@contextlib.contextmanager
def _spec_checked_once() -> Iterator[None]:
    """Connexion's check of the spec against the OpenAPI schema, skipped once it passed.

    Connexion validates the document it is given every time an app is built (a quarter of a
    second of a start). The document is the shipped spec's bundle, which changes only with the
    spec's files: once connexion (this version) accepted the bundle of this digest, a marker in
    ``spec_cache`` says so, and later builds skip the check. ``tests/test_spec.py`` and every
    first start still run it. (Connexion has no option for this: its classmethod is swapped
    for the while the app is built, in this thread's build only by convention.)
    """
    from importlib.metadata import version

    from connexion.spec import OpenAPISpecification

    marker = f"connexion-{version('connexion')}-accepted-{spec_cache.digest(resources.spec_dir())}"
    if spec_cache.read(marker) is None:
        yield
        spec_cache.write(marker, b"")  # only reached when building the app raised nothing
        return
    OpenAPISpecification._validate_spec = classmethod(lambda cls, spec: None)
    try:
        yield
    finally:
        del OpenAPISpecification._validate_spec  # the inherited check again


def serve(
    app: ASGIApp,
    services: Services,
    sock: socket.socket,
    log_level: str,
    log_format: str = "text",
) -> None:
    """Serve the sandbox on an already bound socket (``listen``) until SIGINT or SIGTERM."""
    gc.enable()  # the command line starts with it off (cli.main)
    from gledger_sandbox.api.logs import log_config
    from gledger_sandbox.api.transport import SandboxServer, server_config

    settings = services.settings
    logging = log_config(log_format, log_level)
    config = server_config(
        app,
        settings.connections,
        settings.tls,
        log_level=log_level,
        **({"log_config": logging} if logging else {}),
    )
    SandboxServer(config, services, after_start=_after_start).run(sockets=[sock])


class LoopbackServer:
    """uvicorn serving an app on a loopback port of its own, in a background thread, until stopped.

    The port is the operating system's pick (bound as 0), so parallel runs never collide. The
    contract kit's in-process mode, the pytest plugin and the test suite all serve through it.
    Given the app's ``services``, it serves with their connection settings and ends open streams
    when stopped, as ``serve`` does.
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        start_timeout: float = 30,
        *,
        services: Services | None = None,
    ) -> None:
        from gledger_sandbox.api.transport import SandboxServer, server_config

        self.host = host
        self.port = 0
        self.start_timeout = start_timeout
        connections = services.settings.connections if services else ConnectionSettings()
        self.tls: TlsSettings | None = services.settings.tls if services else None
        config = server_config(
            app, connections, self.tls, host=host, port=0, log_level="warning", lifespan="on"
        )
        self.server: uvicorn.Server = SandboxServer(config, services)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the sandbox server did not start")
            time.sleep(0.02)
        self.port = _bound_port(self.server)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    raise RuntimeError("the sandbox server listens on no socket")


CONTRACT_RATE_LIMIT = RateLimit(1_000_000, 3600)
"""The in-process sandbox's rate limit for the kit: its answers carry the rate-limit headers, so
``operational_headers`` checks them, under a quota no run comes near."""


def contract_against_sandbox(options: ContractOptions) -> ContractReport:
    """Run the contract kit against a sandbox started here, in-process, on loopback.

    The sandbox serves a default tenant seeded from the ``merchant`` fixture (the kit's seed
    seeds it too) and checks its own answers against the spec; the kit gets its API key.
    """
    import secrets
    from dataclasses import replace

    from gledger_sandbox.contract import run_contract
    from gledger_sandbox.contract.options import IN_PROCESS_WORKERS

    key = "gls_test_contract_" + secrets.token_urlsafe(16)
    settings = Settings(
        api_key=key,
        seed=options.seed or 0,
        validate_responses=True,
        rate_limit=CONTRACT_RATE_LIMIT,
    )
    app, services = sandbox_app(settings)
    with LoopbackServer(app, services=services) as running:
        return run_contract(
            replace(
                options,
                base_url=running.url,
                api_key=key,
                client_id=None,
                client_secret=None,
                token_url=None,
                own_tenant=True,
                workers=options.workers or IN_PROCESS_WORKERS,
            )
        )
