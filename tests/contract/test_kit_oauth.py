"""A run that outlasts its OAuth token renews it: an expired token is never a contract failure.

The token is renewed shortly before its ``expires_in`` (checked with a clock the test moves),
and once when the target answers 401 to it: a proxy in front of the sandbox makes the kit's
first token expire after a few requests, and the run still passes, with no credential shown.
"""

from __future__ import annotations

import io

import httpx

from gledger_sandbox.contract import ContractOptions, run_contract
from gledger_sandbox.contract.target import REFRESH_MARGIN, Credential
from tests.conftest import ServerThread, new_sandbox
from tests.contract.faults.proxy import Answer, Call, Fault, fault_proxy

TOKEN_PATH = "/oauth/token"


class FirstTokenExpires(Fault):
    """The first token the proxy hands out stops working after ``life`` requests (401)."""

    name = "first_token_expires"

    def __init__(self, life: int) -> None:
        super().__init__()
        self.life = life
        self.first: str | None = None
        self.uses = 0

    def request(self, call: Call) -> Call:
        if self.first and call.headers.get("authorization") == f"Bearer {self.first}":
            self.uses += 1
            if self.uses > self.life:
                del call.headers["authorization"]  # the sandbox answers its own 401
                self.hits += 1
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        document = answer.json() if call.path == TOKEN_PATH else None
        if self.first is None and isinstance(document, dict):
            self.first = document.get("access_token")
        return answer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_is_renewed_before_it_expires(server: ServerThread) -> None:
    box = new_sandbox(server)
    box.client.close()
    clock = Clock()
    credential = Credential(
        token_url=server.url + TOKEN_PATH,
        client_id=box.credentials["client_id"],
        client_secret=box.credentials["client_secret"],
        clock=clock,
    )
    first = credential.header()
    lifetime = httpx.post(
        server.url + TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": box.credentials["client_id"],
              "client_secret": box.credentials["client_secret"]},
    ).json()["expires_in"]  # fmt: skip

    clock.now += lifetime - REFRESH_MARGIN - 1
    still = credential.header()
    clock.now += 2
    renewed = credential.header()

    assert still == first and renewed != first and credential.renewals == 1
    answer = httpx.get(f"{server.url}/v1/ledgers", headers={"Authorization": renewed})
    assert answer.status_code == 200
    assert credential.sent == [first, renewed]


def test_an_api_key_is_never_renewed(server: ServerThread) -> None:
    credential = Credential(api_key="gls_test_fixed")

    assert credential.header() == "Bearer gls_test_fixed"
    assert not credential.renew("Bearer gls_test_fixed")
    assert credential.sent == ["Bearer gls_test_fixed"] and credential.renewals == 0


def test_a_token_expiring_mid_run_is_renewed_not_reported(server: ServerThread) -> None:
    box = new_sandbox(server, fixture="merchant", seed=2)
    box.client.close()
    fault = FirstTokenExpires(life=15)
    summary = io.StringIO()
    with fault_proxy(server.url, fault) as proxy:
        options = ContractOptions(
            base_url=proxy.url,
            client_id=box.credentials["client_id"],
            client_secret=box.credentials["client_secret"],
            phases=("ledger", "fuzz", "stateful"),
            checks=frozenset({"request_id", "not_a_server_error", "idempotent_replay"}),
            operations=frozenset({"listLedgers", "createLedger", "getLedger"}),
            examples=5,
            seed=3,
        )
        report = run_contract(options, summary)

    assert fault.hits >= 1, "the first token never expired: the run was too short to show it"
    assert report.ok, summary.getvalue()
    assert "idempotent_replay" in {o.check for o in report.outcomes if o.skipped is None}
