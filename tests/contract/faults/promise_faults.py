"""Faults that break the promises the kit's later checks look at (state machine, balances...).

| fault                        | what the client sees                                               | caught by             |
|------------------------------|--------------------------------------------------------------------|-----------------------|
| `mutable_posted_entry`       | a refused change of a posted entry answers 200, changed            | `entry_state_machine` |
| `pending_resolves_twice`     | posting or voiding a resolved entry answers 200                    | `entry_state_machine` |
| `reversal_unlinked`          | a reversed entry reads back without `reversed_by`                  | `entry_state_machine` |
| `refused_entry_applied`      | an unbalanced entry is posted (balanced) yet answered 422          | `entry_state_machine` |
| `available_ignores_pending`  | `available` is `posted`: pending lines never lower it              | `balances_in_time`    |
| `as_of_ignored`              | a balance `as_of` a past time is the balance of now                | `balances_in_time`    |
| `desc_running_balance`       | a descending statement shows each line's balance before it         | `balances_in_time`    |
| `pnl_tax_in_net`             | the P&L's `net` takes tax off too                                  | `report_arithmetic`   |
| `trial_balance_unsummed`     | a trial balance total is not its rows' sum, yet `balanced`         | `report_arithmetic`   |
| `cash_flow_bucket_dropped`   | a cash-flow day with postings shows none (totals unchanged)        | `report_arithmetic`   |
| `stale_event_data`           | `entry.posted` events carry the entry as it was, pending           | `events_truthful`     |
| `drop_async_posted`          | an entry posted later (async) has no `entry.posted` event          | `events_truthful`     |
| `drop_payout_paid`           | a payout paid on the clock has no `payout.paid` event              | `events_truthful`     |
| `tenant_leak_beyond_reads`   | another tenant reads treasury, events, webhooks, id-filtered lists | `tenant_isolation`    |
| `repeated_request_id`        | every ledger list answers with the first one's request id          | `operational_headers` |
| `correlation_dropped`        | refusals (4xx) do not echo `X-Correlation-Id`                      | `operational_headers` |
| `rate_limit_stuck`           | `RateLimit` remaining never falls                                  | `operational_headers` |
| `rate_limit_inconsistent`    | `RateLimit` names a policy `RateLimit-Policy` does not             | `operational_headers` |
| `server_error_on_deep_input` | a body nested deeper than 12 levels answers 500                    | `hostile_inputs`      |
| `retry_new_webhook_id`       | a retried delivery comes with a new (re-signed) webhook-id         | `webhook_delivery`    |
| `retry_signature_broken`     | a retried delivery's signature does not verify                     | `webhook_delivery`    |
| `sequence_scrambled`         | `x-gledger-sequence` runs backwards                                | `webhook_delivery`    |

Booked promises here; the live ones (events, tenancy, headers, inputs, webhooks) in
``live_faults.py``. Each keeps the state it needs (the entries it has seen, which calls it
changed).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from tests.contract.faults.live_faults import (
    CorrelationDropped,
    DropAsyncPosted,
    DropPayoutPaid,
    RateLimitInconsistent,
    RateLimitStuck,
    RepeatedRequestId,
    RetryNewWebhookId,
    RetrySignatureBroken,
    SequenceScrambled,
    ServerErrorOnDeepInput,
    StaleEventData,
    TenantLeakBeyondReads,
    compact,
    problem,
)
from tests.contract.faults.proxy import Answer, Call, Fault

_ENTRY = re.compile(r"^/v1/entries/([^/]+)$")
_BALANCE = re.compile(r"^/v1/accounts/[^/]+/balance$")
_LINES = re.compile(r"^/v1/accounts/[^/]+/lines$")
_REPORT = re.compile(r"^/v1/ledgers/[^/]+/reports/([a-z-]+)$")
_RESOLVE = re.compile(r"^/v1/entries/([^/]+)/(post|void)$")


class RemembersEntries(Fault):
    """Keeps the latest version of every entry an answer showed, by id."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, dict[str, Any]] = {}

    def remember(self, answer: Answer) -> None:
        document = answer.json()
        entry = isinstance(document, dict) and str(document.get("id", "")).startswith("ent_")
        if 200 <= answer.status < 300 and entry:
            self.entries[document["id"]] = document


class MutablePostedEntry(RemembersEntries):
    """A change the sandbox refuses as `entry.immutable` is answered 200, as if applied."""

    name = "mutable_posted_entry"

    def response(self, call: Call, answer: Answer) -> Answer:
        self.remember(answer)
        read = _ENTRY.match(call.path)
        refusal = answer.json()
        if call.method != "PATCH" or not read or not isinstance(refusal, dict):
            return answer
        if refusal.get("code") != "entry.immutable" or read.group(1) not in self.entries:
            return answer
        answer.status = 200
        answer.headers["content-type"] = "application/json"
        return self.rewritten(answer, {**self.entries[read.group(1)], **(call.json() or {})})


class PendingResolvesTwice(RemembersEntries):
    """Posting or voiding an entry that is no longer pending answers 200 with the new status."""

    name = "pending_resolves_twice"

    def response(self, call: Call, answer: Answer) -> Answer:
        self.remember(answer)
        resolve = _RESOLVE.match(call.path)
        refusal = answer.json()
        if call.method != "POST" or not resolve or not isinstance(refusal, dict):
            return answer
        if refusal.get("code") != "entry.invalid_transition":
            return answer
        entry = self.entries.get(resolve.group(1))
        if entry is None:
            return answer
        answer.status = 200
        answer.headers["content-type"] = "application/json"
        status = "posted" if resolve.group(2) == "post" else "voided"
        return self.rewritten(answer, {**entry, "status": status})


class ReversalUnlinked(Fault):
    """An entry read back forgets the reversal that reversed it (`reversed_by` is null)."""

    name = "reversal_unlinked"

    def response(self, call: Call, answer: Answer) -> Answer:
        entry = answer.json()
        if call.method != "GET" or answer.status != 200 or not _ENTRY.match(call.path):
            return answer
        links = entry.get("links") or {}
        if not links.get("reversed_by"):
            return answer
        links["reversed_by"] = None
        return self.rewritten(answer, entry)


class RefusedEntryApplied(Fault):
    """An unbalanced entry is balanced on its way in (so it posts) and answered 422 all the same.

    The client is told its entry was refused, while the ledger holds it, its events were
    made and its accounts moved: the half-applied change a refusal must never leave.
    """

    name = "refused_entry_applied"

    def __init__(self) -> None:
        super().__init__()
        self.changed: set[int] = set()

    def request(self, call: Call) -> Call | Answer:
        body = call.json()
        if call.method != "POST" or call.path != "/v1/entries" or not isinstance(body, dict):
            return call
        lines = body.get("lines")
        if not isinstance(lines, list) or len(lines) < 2 or "currency" in lines[0]:
            return call
        sides: dict[str, int] = defaultdict(int)
        for line in lines:
            sides[line.get("direction", "")] += int(line.get("amount", 0))
        gap = sides["debit"] - sides["credit"]
        if gap == 0:
            return call
        last = lines[-1]
        last["amount"] += gap if last["direction"] == "credit" else -gap
        if last["amount"] <= 0:
            return call
        call.body = compact(body)
        self.changed.add(id(call))
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        if id(call) not in self.changed or answer.status != 201:
            return answer
        detail = "debits do not equal credits."
        return self.rewritten(answer, problem(answer, 422, "validation.unbalanced_entry", detail))


class AvailableIgnoresPending(Fault):
    """Every balance read shows `available` equal to `posted`."""

    name = "available_ignores_pending"

    def response(self, call: Call, answer: Answer) -> Answer:
        balance = answer.json()
        if call.method != "GET" or answer.status != 200 or not _BALANCE.match(call.path):
            return answer
        if balance["available"] == balance["posted"]:
            return answer
        balance["available"] = dict(balance["posted"])
        return self.rewritten(answer, balance)


class AsOfIgnored(Fault):
    """`as_of` is dropped on the way in (the answer still names it): every balance is today's."""

    name = "as_of_ignored"

    def request(self, call: Call) -> Call | Answer:
        if call.method == "GET" and _BALANCE.match(call.path) and b"as_of=" in call.query:
            call.headers["x-fault-as-of"] = call.params()["as_of"]
            call.query = b""
        return call

    def response(self, call: Call, answer: Answer) -> Answer:
        as_of = call.headers.get("x-fault-as-of")
        balance = answer.json()
        if as_of is None or answer.status != 200 or not isinstance(balance, dict):
            return answer
        return self.rewritten(answer, {**balance, "as_of": as_of})


class DescRunningBalance(Fault):
    """Statement pages in descending order show each line's balance before it, not after."""

    name = "desc_running_balance"

    def response(self, call: Call, answer: Answer) -> Answer:
        page = answer.json()
        if call.method != "GET" or answer.status != 200 or not _LINES.match(call.path):
            return answer
        if call.params().get("order") != "desc" or not page["data"]:
            return answer
        for line in page["data"]:
            step = line["amount"] if line["direction"] == "debit" else -line["amount"]
            line["balance_after"] -= step
        return self.rewritten(answer, page)


class ReportFault(Fault):
    """Rewrites the 200 answers of one report (``report``: the path's last segment)."""

    report = ""

    def response(self, call: Call, answer: Answer) -> Answer:
        read = _REPORT.match(call.path)
        if call.method != "GET" or answer.status != 200 or not read:
            return answer
        document = answer.json()
        if read.group(1) != self.report or not self.break_report(document):
            return answer
        return self.rewritten(answer, document)

    def break_report(self, document: dict[str, Any]) -> bool:
        raise NotImplementedError


class PnlTaxInNet(ReportFault):
    name, report = "pnl_tax_in_net", "pnl"

    def break_report(self, document: dict[str, Any]) -> bool:
        document["net"] -= document["tax"]
        return bool(document["tax"])


class TrialBalanceUnsummed(ReportFault):
    """Each total counts one more on both sides: still `balanced`, no longer its rows' sum."""

    name, report = "trial_balance_unsummed", "trial-balance"

    def break_report(self, document: dict[str, Any]) -> bool:
        for total in document["totals"]:
            total["debits"] += 1
            total["credits"] += 1
        return bool(document["totals"])


class CashFlowBucketDropped(ReportFault):
    name, report = "cash_flow_bucket_dropped", "cash-flow"

    def break_report(self, document: dict[str, Any]) -> bool:
        for bucket in document["buckets"]:
            if bucket["inflow"] or bucket["outflow"]:
                bucket.update(inflow=0, outflow=0, net=0)
                return True
        return False


def make_promise_fault(name: str, *, api_key: str = "") -> Fault:
    """A fresh fault by name (``tenant_leak_beyond_reads`` needs the tenant's API key)."""
    if name == TenantLeakBeyondReads.name:
        return TenantLeakBeyondReads(api_key)
    return PROMISE_FAULTS[name]() if name != "none" else Fault()


PROMISE_FAULTS: dict[str, type[Fault]] = {
    fault.name: fault
    for fault in (
        MutablePostedEntry,
        PendingResolvesTwice,
        ReversalUnlinked,
        RefusedEntryApplied,
        AvailableIgnoresPending,
        AsOfIgnored,
        DescRunningBalance,
        PnlTaxInNet,
        TrialBalanceUnsummed,
        CashFlowBucketDropped,
        StaleEventData,
        DropAsyncPosted,
        DropPayoutPaid,
        TenantLeakBeyondReads,
        RepeatedRequestId,
        CorrelationDropped,
        RateLimitStuck,
        RateLimitInconsistent,
        ServerErrorOnDeepInput,
        RetryNewWebhookId,
        RetrySignatureBroken,
        SequenceScrambled,
    )
}
