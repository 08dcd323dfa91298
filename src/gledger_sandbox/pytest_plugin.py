"""The pytest plugin (registered as ``pytest11``): a sandbox for a partner's own tests, and the kit.

Fixtures:

- ``gledger_sandbox`` (session): the base URL of a sandbox started in-process on loopback, or
  of ``--gledger-base-url`` when given.
- ``gledger_tenant``: a fresh tenant per test (``base_url``, ``tenant_id``, ``api_key``,
  ``client_id``, ``client_secret`` and a ready ``httpx.Client`` sending the key), deleted
  afterwards; ``@pytest.mark.gledger_tenant(fixture="merchant", seed=7)`` chooses its data.
  With ``--gledger-api-key`` it hands out that credential instead of creating a tenant.
- ``gledger_contract``: a function running the contract kit
  (``gledger_contract(base_url=..., api_key=..., **options)``, options as
  ``ContractOptions``) that returns the report and fails the test with the summary when a
  check failed. Without ``base_url`` it checks the ``gledger_sandbox`` one.
- ``gledger_proxy``: the base URL of the validating proxy (``contract proxy``) in front of the
  ``gledger_sandbox`` one: point the code under test at it, and every exchange is checked
  against the spec and the ledger; a test whose traffic broke the contract fails at teardown,
  each violation named with its curl. One proxy serves the whole session.

It loads in every test session of an environment that has the package: it imports nothing
heavy until a fixture is used.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx

    from gledger_sandbox.contract import ContractReport
    from gledger_sandbox.contract.proxy import ProxySession


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gledger", "GLedger Sandbox")
    group.addoption(
        "--gledger-base-url",
        default=None,
        help="test against this deployment instead of an in-process sandbox",
    )
    group.addoption(
        "--gledger-api-key",
        default=None,
        help="credential for --gledger-base-url (gledger_tenant then uses it, creating none)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gledger_tenant(fixture=None, seed=None, clock_start=None): the fixture profile, seed "
        "and frozen clock of the tenant the gledger_tenant fixture creates",
    )


@pytest.fixture(scope="session")
def gledger_sandbox(request: pytest.FixtureRequest) -> Iterator[str]:
    """Base URL of the sandbox under test: ``--gledger-base-url``, or one started here."""
    given = request.config.getoption("gledger_base_url")
    if given:
        yield str(given).rstrip("/")
        return
    with warnings.catch_warnings():
        # connexion 3.3 imports starlette's test client and jsonschema's RefResolver at import
        # time, which warn: not the partner's code, and a suite run with ``-W error`` (or
        # ``filterwarnings = error``) must still get its sandbox.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from gledger_sandbox.api.settings import Settings
        from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app

        app, services = sandbox_app(Settings(default_tenant=False))
    with LoopbackServer(app, services=services) as server:
        yield server.url


@dataclass
class GLedgerTenant:
    """A tenant of the sandbox under test, and a client that sends its API key."""

    base_url: str
    tenant_id: str | None
    api_key: str
    client_id: str | None
    client_secret: str | None
    client: httpx.Client


@pytest.fixture
def gledger_tenant(request: pytest.FixtureRequest, gledger_sandbox: str) -> Iterator[GLedgerTenant]:
    """A fresh tenant for this test (see the ``gledger_tenant`` marker), deleted afterwards."""
    import httpx

    given_key = request.config.getoption("gledger_api_key")
    if given_key:
        with _client(gledger_sandbox, given_key) as client:
            yield GLedgerTenant(gledger_sandbox, None, given_key, None, None, client)
        return
    marker = request.node.get_closest_marker("gledger_tenant")
    body = {k: v for k, v in (marker.kwargs if marker else {}).items() if v is not None}
    created = httpx.post(f"{gledger_sandbox}/v1/sandbox/tenants", json=body, timeout=30)
    if created.status_code != 201:
        pytest.fail(f"could not create a sandbox tenant: {created.status_code} {created.text}")
    tenant = created.json()
    with _client(gledger_sandbox, tenant["api_key"]) as client:
        yield GLedgerTenant(
            gledger_sandbox,
            tenant["tenant_id"],
            tenant["api_key"],
            tenant.get("client_id"),
            tenant.get("client_secret"),
            client,
        )
        client.delete("/v1/sandbox/tenant")


def _client(base_url: str, api_key: str) -> httpx.Client:
    import httpx

    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


@pytest.fixture
def gledger_contract(
    request: pytest.FixtureRequest, gledger_sandbox: str
) -> Callable[..., ContractReport]:
    """Run the contract kit from a test; a failed check fails the test with the summary."""

    def run(
        base_url: str | None = None, api_key: str | None = None, **options: Any
    ) -> ContractReport:
        from gledger_sandbox.contract import (
            ContractOptions,
            ContractUsageError,
            TargetUnreachable,
            run_contract,
        )

        url = base_url or gledger_sandbox
        key = api_key or request.config.getoption("gledger_api_key")
        if key is None and not any(options.get(k) for k in ("client_id", "client_secret")):
            key = request.getfixturevalue("gledger_tenant").api_key
            # A tenant made for this test: moving its clock harms nobody.
            options.setdefault("own_tenant", True)
        out = io.StringIO()
        try:
            report = run_contract(ContractOptions(base_url=url, api_key=key, **options), out)
        except (ContractUsageError, TargetUnreachable) as error:
            pytest.fail(f"the contract kit could not run against {url}: {error}", pytrace=False)
        if not report.ok:
            pytest.fail(out.getvalue(), pytrace=False)
        return report

    return run


@pytest.fixture(scope="session")
def _gledger_proxy_session(gledger_sandbox: str) -> Iterator[tuple[str, ProxySession]]:
    from gledger_sandbox.bootstrap import LoopbackServer
    from gledger_sandbox.contract.proxy import ProxySession, ValidatingProxy

    session = ProxySession(gledger_sandbox, out=io.StringIO(), quiet=True)
    with LoopbackServer(ValidatingProxy(session)) as running:
        yield running.url, session


@pytest.fixture
def gledger_proxy(_gledger_proxy_session: tuple[str, ProxySession]) -> Iterator[str]:
    """Base URL of the validating proxy; the test fails if its traffic broke the contract."""
    from gledger_sandbox.contract.proxy.session import describe

    url, session = _gledger_proxy_session
    before = len(session.violations)
    yield url
    found = session.violations[before:]
    if found:
        pytest.fail(
            f"the validating proxy found {len(found)} violation(s) of the contract in this "
            f"test's traffic:\n{describe(found)}",
            pytrace=False,
        )
