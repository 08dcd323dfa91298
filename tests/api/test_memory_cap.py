"""``serve --max-rss``: with many tenants the server's resident set stays under the cap.

A real ``gledger-sandbox serve --max-rss 300`` process; tenants are created one after another,
each filled with about 8 MiB of entries (metadata-heavy, so a few requests do it), until far
more data has been written than the cap holds. Measured from outside, in ``/proc/<pid>``:

- the resident set never passes the cap (the guard aims at 85% of it: 45 MiB of headroom);
- tenants were evicted, the oldest first: every evicted tenant was created before every tenant
  still alive, except one old tenant the test keeps using (least *recently used* goes first);
- an evicted tenant's API keys (its own and one it made), access token and OAuth client
  answer 401 ``tenant.evicted``
  (``invalid_client`` on the token endpoint, saying why), not a bare ``unauthorized``;
- the default tenant is never evicted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.served import ServedProcess

CAP_MIB = 300
TENANTS = 36
BATCHES_PER_TENANT = 8
METADATA = {f"note_{i:02}": "m" * 400 for i in range(40)}  # 16 KiB of JSON per entry


@pytest.fixture(scope="module")
def served() -> Iterator[ServedProcess]:
    running = ServedProcess("--max-rss", str(CAP_MIB), "--max-tenants", "500")
    with running:
        yield running
    running.close()


def rss_mib(served: ServedProcess) -> float:
    assert served.process is not None
    status = Path(f"/proc/{served.process.pid}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def fill(client: httpx.Client, key: str) -> None:
    """About 8 MiB of entries in a fresh tenant (400 entries of 16 KiB of metadata each)."""
    auth = {"Authorization": f"Bearer {key}"}
    ledger = client.post("/v1/ledgers", json={"name": "filled"}, headers=auth).json()["id"]
    accounts = [
        client.post(
            f"/v1/ledgers/{ledger}/accounts",
            json={"code": code, "name": code, "kind": kind, "currency": "USD"},
            headers=auth,
        ).json()["id"]
        for code, kind in (("cash", "asset"), ("revenue", "revenue"))
    ]
    item = {
        "ledger_id": ledger,
        "metadata": METADATA,
        "lines": [
            {"account_id": accounts[0], "direction": "debit", "amount": 500},
            {"account_id": accounts[1], "direction": "credit", "amount": 500},
        ],
    }
    for _ in range(BATCHES_PER_TENANT):
        answer = client.post("/v1/entries/batch", json={"entries": [item] * 50}, headers=auth)
        assert answer.status_code == 201, answer.text


def status_of(client: httpx.Client, key: str) -> int:
    return client.get("/v1/ledgers", headers={"Authorization": f"Bearer {key}"}).status_code


@pytest.fixture(scope="module")
def run(served: ServedProcess) -> dict[str, Any]:
    """Create and fill the tenants; the credentials in creation order, the RSS seen."""
    created: list[dict[str, Any]] = []
    seen = [rss_mib(served)]
    with httpx.Client(base_url=served.url, timeout=60) as client:
        for _ in range(TENANTS):
            answer = client.post("/v1/sandbox/tenants", json={"fixture": "empty"})
            assert answer.status_code == 201, answer.text
            tenant = answer.json()
            form = {"grant_type": "client_credentials"}
            auth = (tenant["client_id"], tenant["client_secret"])
            tenant["token"] = client.post("/oauth/token", data=form, auth=auth).json()[
                "access_token"
            ]
            made = client.post(
                "/v1/sandbox/api-keys",
                json={"name": "made"},
                headers={"Authorization": f"Bearer {tenant['api_key']}"},
            )
            assert made.status_code == 201, made.text
            tenant["made_key"] = made.json()["secret"]
            created.append(tenant)
            fill(client, tenant["api_key"])
            assert status_of(client, created[0]["api_key"]) in (200, 401)  # keeps #0 in use
            seen.append(rss_mib(served))
        alive = [status_of(client, t["api_key"]) == 200 for t in created]
    return {"created": created, "alive": alive, "rss": seen}


def test_the_resident_set_stays_under_the_cap(run: dict[str, Any]) -> None:
    seen = run["rss"]
    per_tenant = (seen[5] - seen[0]) / 5  # before any eviction
    unbounded = seen[0] + per_tenant * TENANTS
    assert unbounded > 1.25 * CAP_MIB, seen  # without the cap the tenants would not fit
    assert max(seen) < CAP_MIB, f"resident set seen (MiB): {seen}"


def test_the_least_recently_used_tenants_were_evicted_first(run: dict[str, Any]) -> None:
    alive = run["alive"]
    evicted = [n for n, up in enumerate(alive) if not up]
    assert len(evicted) >= 10, alive
    assert alive[0], "tenant 0 was used after every creation: it is kept"
    assert all(alive[-5:]), alive
    survivors = [n for n, up in enumerate(alive) if up and n != 0]
    assert max(evicted) < min(survivors), alive


def test_an_evicted_credential_says_it_was_evicted(
    served: ServedProcess, run: dict[str, Any]
) -> None:
    gone = run["created"][1]
    assert not run["alive"][1]
    with httpx.Client(base_url=served.url, timeout=30) as client:
        asked = [("/v1/ledgers", gone["api_key"]), ("/v1/ledgers", gone["token"])]
        asked.append(("/v1/ledgers", gone["made_key"]))  # a key the tenant made itself
        asked.append(("/v1/events/stream", gone["api_key"]))  # the SSE feed's door too
        for path, credential in asked:
            answer = client.get(path, headers={"Authorization": f"Bearer {credential}"})
            assert answer.status_code == 401
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["code"] == "tenant.evicted", problem
            assert "POST /v1/sandbox/tenants" in problem["detail"]
            assert answer.headers["www-authenticate"].startswith("Bearer")
        refused = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(gone["client_id"], gone["client_secret"]),
        )
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_client"
        assert "evicted" in refused.json()["error_description"]
        never = client.get("/v1/ledgers", headers={"Authorization": "Bearer gls_test_s0_nope"})
        assert never.status_code == 401
        assert never.json()["code"] == "unauthorized"


def test_the_default_tenant_is_never_evicted(served: ServedProcess, run: dict[str, Any]) -> None:
    assert any(not up for up in run["alive"])
    with httpx.Client(base_url=served.url, timeout=30) as client:
        assert status_of(client, served.api_key) == 200
