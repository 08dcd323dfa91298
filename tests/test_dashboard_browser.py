"""The dashboard in a real browser: every view rendered, a failed delivery retried for real.

Debian's chromium, headless, through playwright (as ``tests/test_browser.py``: never a
downloaded browser, nothing outside loopback). Screenshots of each view go to
``$GLEDGER_SCREENSHOTS`` when set, else to the test's tmp folder. The webhook receiver is the
real loopback one of ``tests/receiver.py``: two attempts (the retry schedule is one 0.2 s step) answered 500 make the delivery fail for
good; the Retry button then makes a third attempt that it receives, with the same webhook-id.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gledger_sandbox.api.settings import Settings, WebhookSettings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, loopback_only
from tests.receiver import Behaviour, Receiver

KEY = "gls_test_dashboard_key"

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver(behaviour=Behaviour(fail_every=1, fail_status=500)).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(receiver: Receiver) -> Iterator[str]:
    hooks = WebhookSettings(retry_schedule=(0.2,), jitter=0.0, timeout_seconds=2.0)
    settings = Settings(
        api_key=KEY, fixture="merchant", seed=3, validate_responses=True, webhooks=hooks
    )
    app, services = sandbox_app(settings)
    with LoopbackServer(app, services=services) as running:
        yield running.url


@pytest.fixture(scope="module")
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {KEY}"}) as made:
        yield made


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("GLEDGER_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("dashboard-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def problems() -> list[str]:
    """The page's script errors, CSP violations and failed loads (console errors)."""
    return []


@pytest.fixture(scope="module")
def page(api: str, problems: list[str]) -> Iterator[Any]:
    """One signed-in page for the module's views, in order; what it requested is checked after."""
    outside: list[str] = []
    requested: list[str] = []
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", loopback_only(outside, requested))
        opened = context.new_page()
        opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        opened.on("pageerror", lambda error: problems.append(str(error)))
        try:
            yield opened
        finally:
            browser.close()
    assert outside == [], "the dashboard tried to leave loopback"
    assert not [url for url in requested if KEY in url], "the API key went into a URL"
    assert problems == [], problems  # no script error, no CSP violation, no failed call


def test_1_signing_in_shows_the_tenant_at_a_glance_and_the_clock_advances(
    api: str, page: Any, shots: Path, problems: list[str]
) -> None:
    page.goto(f"{api}/dashboard")
    page.screenshot(path=str(shots / "dashboard-0-sign-in.png"))
    page.fill("#api-key", "gls_not_a_key")
    page.click("#sign-in-form button")
    page.locator("#sign-in-error").filter(has_text="not known").wait_for()
    assert problems and all("401" in text for text in problems), problems
    problems.clear()  # the refused key's 401s, as asked for
    page.fill("#api-key", KEY)
    page.click("#sign-in-form button")
    page.locator("#counts .count").first.wait_for()
    counts = page.locator("#counts").inner_text()
    assert re.search(r"226\s+entries", counts) and re.search(r"1\s+ledgers", counts), counts
    assert page.evaluate("sessionStorage.getItem('gledger.dashboard.key')") == KEY
    before = page.locator("#clock-now").inner_text()
    page.fill("#advance-seconds", "86400")
    page.click("#advance")
    page.locator("#advance-outcome").filter(has_text="Moved from").wait_for()
    after = page.locator("#clock-now").inner_text()
    assert after[:10] > before[:10], (before, after)  # a day later
    page.screenshot(path=str(shots / "dashboard-1-overview.png"), full_page=True)


def test_2_accounts_show_balances_and_a_chart_of_a_balance_over_time(
    page: Any, client: httpx.Client, shots: Path
) -> None:
    page.click("nav a[data-view=accounts]")
    bank = page.locator("#accounts tr[data-account=bank]")
    bank.wait_for()
    ledger = client.get("/v1/ledgers").json()["data"][0]["id"]
    balances = {b["code"]: b for b in client.get(f"/v1/ledgers/{ledger}/balances").json()["data"]}
    shown = f"${balances['bank']['balance'] / 100:,.2f}"
    assert shown in bank.inner_text()
    page.locator("#balance-chart svg circle").nth(30).wait_for()
    assert page.locator("#balance-chart svg circle").count() == 31
    page.locator("#accounts tr[data-account=revenue]").click()
    page.locator("#balance-chart h2").filter(has_text="revenue").wait_for()
    page.locator("#balance-chart svg path.line").wait_for()
    page.screenshot(path=str(shots / "dashboard-2-accounts.png"), full_page=True)


def test_3_the_entries_browser_filters_by_status(page: Any, shots: Path) -> None:
    page.click("nav a[data-view=entries]")
    page.locator("#entries tbody tr.clickable").first.wait_for()
    assert page.locator("#entries tbody tr.clickable").count() == 25
    page.select_option("select[name=status]", "voided")
    page.click("#view-entries form.filters button[type=submit]")
    page.wait_for_function(
        "[...document.querySelectorAll('#entries tbody tr.clickable .pill')]"
        ".every(p => p.textContent === 'voided')"
    )
    statuses = page.locator("#entries tbody tr.clickable .pill").all_inner_texts()
    assert statuses and set(statuses) == {"voided"}, statuses
    page.locator("#entries tbody tr.clickable").first.click()
    page.locator("#entries tr.detail:not([hidden]) code").first.wait_for()
    page.screenshot(path=str(shots / "dashboard-3-entries.png"), full_page=True)


def test_4_the_live_feed_shows_an_event_as_it_commits(
    page: Any, client: httpx.Client, shots: Path
) -> None:
    page.click("nav a[data-view=events]")
    page.locator("#feed-state").filter(has_text="live").wait_for()
    created = client.post("/v1/ledgers", json={"name": "Seen live"})
    assert created.status_code == 201
    event = client.get("/v1/events", params={"types": "ledger.created"}).json()["data"][-1]
    row = page.locator("#events tbody tr").filter(has_text=event["id"])
    row.wait_for()
    assert "ledger.created" in row.inner_text()
    page.screenshot(path=str(shots / "dashboard-4-events.png"), full_page=True)


def test_5_a_failed_delivery_is_highlighted_and_retry_really_redelivers(
    page: Any, client: httpx.Client, receiver: Receiver, shots: Path
) -> None:
    endpoint = client.post(
        "/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["ledger.created"]}
    )
    assert endpoint.status_code == 201, endpoint.text
    client.post("/v1/ledgers", json={"name": "Webhooked"})
    _wait(lambda: len(receiver.received) == 2)
    _wait(
        lambda: (
            client.get(f"/v1/webhook-endpoints/{endpoint.json()['id']}/deliveries").json()["data"][
                0
            ]["status"]
            == "failed"
        )
    )
    page.click("nav a[data-view=overview]")  # and back: the view reloads its data
    page.click("nav a[data-view=webhooks]")
    failing = page.locator("#delivery-log tr.failing")
    failing.wait_for()
    assert "failed" in failing.inner_text() and "500" in failing.inner_text()
    page.screenshot(path=str(shots / "dashboard-5-webhooks-failed.png"), full_page=True)

    receiver.behaviour = Behaviour()  # the receiver is fixed
    failing.locator("button.retry").click()
    page.locator("#status").filter(has_text="succeeded").wait_for()
    page.locator("#delivery-log tbody tr:not(.failing) .pill.succeeded").wait_for()
    first, second, third = receiver.received
    assert [got.answered for got in receiver.received] == [500, 500, 204]
    assert (
        first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    )
    assert third.headers["x-gledger-attempt"] == "3"
    page.screenshot(path=str(shots / "dashboard-6-webhooks-retried.png"), full_page=True)

    retained = client.get("/v1/events", params={"types": "ledger.created"}).json()["data"]
    page.click("#replay-all")  # every retained ledger.created event, delivered again
    page.locator("#status").filter(
        has_text=f"Replay: {len(retained)} deliveries scheduled"
    ).wait_for()
    _wait(lambda: len(receiver.received) == 3 + len(retained))
    replayed = {got.headers["webhook-id"] for got in receiver.received[3:]}
    assert replayed == {event["id"] for event in retained}


def test_6_reports_draw_the_pnl_and_the_cash_flow(page: Any, shots: Path) -> None:
    page.click("nav a[data-view=reports]")
    page.locator("#pnl svg rect.bar").nth(5).wait_for()
    page.locator("#cash-flow svg rect.inflow").first.wait_for(state="attached")
    assert "Net $" in page.locator("#pnl").inner_text()
    assert page.locator("#cash-flow svg rect.inflow").count() >= 30
    heights = page.eval_on_selector_all(
        "#cash-flow svg rect.inflow", "rs => rs.map(r => +r.getAttribute('height'))"
    )
    assert sum(height > 0 for height in heights) >= 20, heights  # the seeded month has flows
    page.screenshot(path=str(shots / "dashboard-7-reports.png"), full_page=True)


def _wait(condition: Any, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
