"""A real browser: Swagger UI works as served, and a page on another origin calls the API (CORS).

Debian's chromium, headless, driven by playwright (never ``playwright install``: the browser
is the system's). Every request the browser makes outside loopback is aborted, and the test
fails if one was attempted. Screenshots go to ``$GLEDGER_SCREENSHOTS`` when set (to look at
them), else to the test's tmp folder.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app
from tests.chromium import CHROMIUM, CHROMIUM_ARGS, loopback_only

KEY = "gls_test_browser_key"
PAGE_HOST = "127.0.0.2"

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Partner docs page</title></head>
<body><h1>Try it now (another origin)</h1><pre id="out">waiting</pre></body></html>
"""


@pytest.fixture(scope="module")
def docs_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A static page on another loopback origin: what a partner's docs site would be."""
    root = tmp_path_factory.mktemp("docs-site")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    handler = partial(QuietHandler, directory=str(root))
    with ThreadingHTTPServer((PAGE_HOST, 0), handler) as site:
        threading.Thread(target=site.serve_forever, daemon=True).start()
        yield f"http://{PAGE_HOST}:{site.server_address[1]}"
        site.shutdown()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def api(docs_site: str) -> Iterator[str]:
    settings = Settings(api_key=KEY, fixture="merchant", seed=3, cors_origins=(docs_site,))
    with LoopbackServer(sandbox_app(settings)[0]) as running:
        yield running.url


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("GLEDGER_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(shots: Path) -> Iterator[Any]:
    outside: list[str] = []
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", loopback_only(outside))
        try:
            yield context.new_page()
        finally:
            browser.close()
    assert outside == [], "the browser tried to leave loopback"


def execute(
    page: Any, operation_id: str, status: str, shot: Path, edit: Callable[[str], str] | None = None
) -> str:
    """Open an operation in Swagger UI, Try it out (``edit`` the prefilled body), Execute.

    Checks the status its response panel shows; returns the response body shown.
    """
    block = page.locator(f"[id$='-{operation_id}']").first
    block.locator(".opblock-summary").first.click()
    block.locator("button.try-out__btn").click()
    if edit is not None:
        body = block.locator("textarea.body-param__text")
        body.fill(edit(body.input_value()))
    block.locator("button.execute").click()
    cell = block.locator(".live-responses-table .response .response-col_status").first
    cell.wait_for(timeout=15_000)
    block.locator(".live-responses-table").scroll_into_view_if_needed()
    page.screenshot(path=str(shot))
    shown = str(cell.inner_text()).strip()
    assert shown == status, block.locator(".live-responses-table").inner_text()
    return str(block.locator(".live-responses-table .microlight").first.inner_text())


def test_swagger_ui_authorizes_with_an_api_key_and_executes_list_ledgers_and_create_entry(
    api: str, page: Any, shots: Path
) -> None:
    ledger = httpx.get(f"{api}/v1/ledgers", headers={"Authorization": f"Bearer {KEY}"}).json()
    ledger_id = ledger["data"][0]["id"]
    page.goto(f"{api}/", wait_until="domcontentloaded")  # GET / leads to Swagger UI
    assert page.url == f"{api}/v1/ui/"
    page.locator(".opblock").first.wait_for(timeout=30_000)
    page.screenshot(path=str(shots / "1-swagger-ui.png"))
    # The Servers box names this sandbox (it was blank: connexion served url "").
    assert "this sandbox" in page.locator(".servers select").inner_text()
    assert page.locator(".servers select").input_value() == "/"

    page.locator("button.authorize").first.click()
    dialog = page.locator(".modal-ux")
    scheme = dialog.locator(".auth-container").filter(has_text="apiKey")
    scheme.locator("input").fill(KEY)
    scheme.locator("button.authorize").click()
    page.screenshot(path=str(shots / "2-authorized.png"))
    dialog.locator("button.btn-done").first.click()

    listed = json.loads(execute(page, "listLedgers", "200", shots / "3-list-ledgers.png"))
    assert ledger_id in [item["id"] for item in listed["data"]]

    def real_ledger(prefilled: str) -> str:
        """The prefilled example as it is, but for its placeholder ledger id."""
        example = json.loads(prefilled)
        assert example["ledger_id"] == "ldg_your_ledger_id"
        return json.dumps({**example, "ledger_id": ledger_id}, indent=2)

    entry = execute(page, "createEntry", "201", shots / "4-create-entry.png", edit=real_ledger)
    created = json.loads(entry)
    assert created["status"] == "posted" and created["ledger_id"] == ledger_id


def test_a_page_on_another_origin_calls_the_api_and_reads_an_exposed_header(
    api: str, docs_site: str, page: Any, shots: Path
) -> None:
    page.goto(f"{docs_site}/index.html")
    answer = page.evaluate(
        """async ([api, key]) => {
            const response = await fetch(api + "/v1/ledgers?limit=1", {
                headers: {"Authorization": "Bearer " + key, "X-Correlation-Id": "docs-page"}});
            const body = await response.json();
            const seen = {status: response.status, request_id:
                response.headers.get("X-GLedger-Request-Id"), ledger: body.data[0].name};
            document.getElementById("out").textContent = JSON.stringify(seen, null, 2);
            return seen;
        }""",
        [api, KEY],
    )
    page.screenshot(path=str(shots / "5-other-origin.png"))
    assert answer["status"] == 200
    assert str(answer["request_id"]).startswith("req_")
    assert answer["ledger"]
