"""``GET /dashboard``: a page for people, served with the sandbox, that reads the API as it is.

Three static files shipped in the package (``api/static/dashboard/``: hand-written HTML, CSS
and vanilla JavaScript drawing its charts as inline SVG; nothing to build, nothing fetched
from elsewhere). The page signs in with an API key, keeps it in the tab's ``sessionStorage``
and sends it as ``Authorization: Bearer`` to the ordinary operations of the spec (the live
feed over the WebSocket, the key in its first message), so the key never appears in a URL.

Like Swagger UI at ``/v1/ui/``, the page is not an operation of the spec: it is no part of the
contract partners code against (no SDK should grow a method for an HTML page, and the
contract kit has nothing of the API to check in it); everything it shows comes through
operations that are in the spec. Its answers carry a Content-Security-Policy that lets it
load its own files and talk to its own origin only, and forbids framing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gledger_sandbox.api.problems import problem_response

PATH = "/dashboard"
METHODS = ("GET", "HEAD")
STATIC = Path(__file__).resolve().parent / "static" / "dashboard"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The page's own files and its own origin (fetch and the WebSocket), nothing else; no inline
# script, no framing by another site (the page holds an API key), no form posted anywhere.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Revalidated every time (by ETag), so a new version of the sandbox never serves stale JS.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class StaticFile:
    media_type: str
    body: bytes
    etag: str


def _route(name: str) -> str:
    return PATH if name == "index.html" else f"{PATH}/{name}"


def _shipped() -> list[Path]:
    return sorted(p for p in STATIC.iterdir() if p.suffix in MEDIA_TYPES)


def load() -> dict[str, StaticFile]:
    """The page's files by path, read once when the app is made (never in a request)."""
    files = {}
    for file in _shipped():
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        files[_route(file.name)] = StaticFile(MEDIA_TYPES[file.suffix], body, etag)
    return files


def allowed_methods() -> dict[str, list[str]]:
    """The routes and methods for the ``Allow`` header (a POST to the page answers 405)."""
    return {
        path: list(METHODS) for path in [*map(_route, (f.name for f in _shipped())), PATH + "/"]
    }


def with_dashboard(app: ASGIApp) -> ASGIApp:
    """The dashboard's routes in front of ``app``; every other request goes on to it."""
    files = load()

    allowed = allowed_methods()

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in allowed:
            await app(scope, receive, send)
            return
        if scope["method"] not in METHODS:
            allow = ", ".join(METHODS)
            detail = f"{scope['method']} is not allowed here; allowed: {allow}."
            rid = scope.get("gledger.request_id", "")
            refused = problem_response(
                405, "method_not_allowed", detail, rid, headers={"Allow": allow}
            )
            await refused(scope, receive, send)
            return
        if path == PATH + "/":
            await RedirectResponse(PATH, status_code=308)(scope, receive, send)
            return
        served = files.get(path)
        if served is None:
            await app(scope, receive, send)
            return
        headers = {**HEADERS, "ETag": served.etag}
        if served.etag in Request(scope).headers.get("if-none-match", ""):
            response = Response(status_code=304, headers=headers)
        else:
            response = Response(served.body, media_type=served.media_type, headers=headers)
        await response(scope, receive, send)

    return route
