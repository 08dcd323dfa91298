"""The pytest plugin as a partner uses it: a pytest run of a partner's own test files."""

from __future__ import annotations

import pytest

from tests.contract.broken import broken_target

PARTNER_TESTS = """
import pytest


@pytest.mark.gledger_tenant(fixture="merchant", seed=7)
def test_a_seeded_tenant_has_books(gledger_tenant):
    ledgers = gledger_tenant.client.get("/v1/ledgers")
    assert ledgers.status_code == 200
    assert ledgers.json()["data"], "the merchant fixture seeds a ledger"
    assert gledger_tenant.api_key.startswith("gls_")
    assert gledger_tenant.client_id and gledger_tenant.client_secret


@pytest.mark.gledger_tenant(fixture="empty")
def test_each_test_gets_a_tenant_of_its_own(gledger_tenant):
    ledgers = gledger_tenant.client.get("/v1/ledgers")
    assert ledgers.json()["data"] == []


def test_the_contract_holds(gledger_contract):
    report = gledger_contract(phases=("ledger",), checks=frozenset({"pages_complete"}))
    assert report.ok and report.passed
"""


def test_a_partners_tests_get_a_sandbox_and_tenants(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_partner=PARTNER_TESTS)

    # In a fresh interpreter (the imports' warnings fire again), with warnings as errors, as
    # many partners' suites run: the sandbox's dependencies' deprecations must not break them.
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")

    result.assert_outcomes(passed=3)


def test_a_contract_run_from_pytest_fails_loudly_against_a_broken_target(
    pytester: pytest.Pytester,
) -> None:
    with broken_target() as url:
        pytester.makepyfile(
            test_contract=f"""
def test_the_deployment_honours_the_contract(gledger_contract):
    gledger_contract(base_url="{url}", api_key="gls_any", phases=("ledger",))
"""
        )
        result = pytester.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*request_id failed on*", "*reproduce:*", "*contract FAILED against*"]
    )


PROXIED_TESTS = """
import httpx


def test_good_traffic_passes(gledger_proxy, gledger_tenant):
    key = {"Authorization": f"Bearer {gledger_tenant.api_key}"}
    assert httpx.post(f"{gledger_proxy}/v1/ledgers", json={"name": "Shop"}, headers=key).status_code == 201
    assert httpx.get(f"{gledger_proxy}/v1/ledgers", params={"limit": 2}, headers=key).status_code == 200


def test_a_bad_request_fails_the_test(gledger_proxy, gledger_tenant):
    key = {"Authorization": f"Bearer {gledger_tenant.api_key}"}
    httpx.get(f"{gledger_proxy}/v1/ledgers", params={"limit": "many"}, headers=key)
"""


def test_the_proxy_fixture_fails_a_test_whose_traffic_breaks_the_contract(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_proxied=PROXIED_TESTS)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_a_bad_request_fails_the_test*",
            "*1 violation(s) of the contract*",
            "*1. request_schema_conformance failed on listLedgers*",
            "*curl -X GET *limit=many*",
        ]
    )
