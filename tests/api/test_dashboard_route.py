"""``/dashboard`` over HTTP: the shipped files, their CSP, caching, and the methods it allows."""

from __future__ import annotations

import httpx

from gledger_sandbox.api.dashboard import CSP, STATIC
from tests.conftest import ServerThread


def test_the_page_and_its_scripts_are_served_with_a_csp_that_allows_only_its_own_origin(
    anonymous: httpx.Client,
) -> None:
    page = anonymous.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CSP
    assert "script-src 'self';" in CSP and "frame-ancestors 'none'" in CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.content == (STATIC / "index.html").read_bytes()
    for name in ("app.js", "dom.js", "books.js", "live.js", "charts.js"):
        script = anonymous.get(f"/dashboard/{name}")
        assert script.status_code == 200, name
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert anonymous.get("/dashboard/app.css").headers["content-type"].startswith("text/css")


def test_a_revalidation_gets_304_and_the_slash_leads_to_the_page(anonymous: httpx.Client) -> None:
    etag = anonymous.get("/dashboard/app.js").headers["etag"]
    again = anonymous.get("/dashboard/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    slash = anonymous.get("/dashboard/")
    assert slash.status_code == 308 and slash.headers["location"] == "/dashboard"


def test_another_method_is_405_with_allow_and_an_unknown_file_is_404(
    server: ServerThread, anonymous: httpx.Client
) -> None:
    posted = anonymous.post("/dashboard", json={})
    assert posted.status_code == 405, posted.text
    assert posted.headers["allow"] == "GET, HEAD"
    assert posted.headers["content-type"] == "application/problem+json"
    missing = anonymous.get("/dashboard/nothing.js")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
