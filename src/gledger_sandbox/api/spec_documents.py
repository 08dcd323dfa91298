"""``GET /v1/openapi.json`` and ``/v1/openapi.yaml``: the bundled spec, precomputed, cacheable;
and ``/v1/guide.md``, the API guide (``spec/GUIDE.md``) that the spec's introduction links to.

Connexion would serve its own copy with every reference inlined (megabytes), encoded again on
each request. These routes sit in front of it and send the ref-kept bundle of ``specfile``,
encoded once: gzipped when the client accepts it, with an ETag that answers ``If-None-Match``
with 304, and a ``Cache-Control`` that lets a client keep it a while.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gledger_sandbox import resources, specfile

JSON_PATH = "/v1/openapi.json"
YAML_PATH = "/v1/openapi.yaml"
GUIDE_PATH = "/v1/guide.md"
# Partners' tools fetch the spec often: five minutes, then revalidated by ETag (a 304).
CACHE_CONTROL = "public, max-age=300"


@dataclass(frozen=True, slots=True)
class SpecDocument:
    """One encoding of the bundle, as sent: its bytes, gzipped bytes and entity tag."""

    media_type: str
    body: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, media_type: str, body: bytes) -> SpecDocument:
        digest = hashlib.sha256(body).hexdigest()[:32]
        return cls(media_type, body, gzip.compress(body, mtime=0), digest)


@cache
def document(path: str) -> SpecDocument:
    """The document served at ``path`` (``JSON_PATH``, ``YAML_PATH``, ``GUIDE_PATH``), made on
    first use."""
    if path == JSON_PATH:
        return SpecDocument.of("application/json", specfile.bundle_json())
    if path == GUIDE_PATH:
        guide = (resources.spec_dir() / "GUIDE.md").read_bytes()
        return SpecDocument.of("text/markdown; charset=utf-8", guide)
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(specfile.bundle(), Dumper=dumper, sort_keys=False, allow_unicode=True)
    return SpecDocument.of("application/yaml", text.encode())


def _accepts_gzip(accept_encoding: str) -> bool:
    for coding in accept_encoding.split(","):
        name, _, params = coding.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = params.strip().removeprefix("q=").strip() or "1"
            try:
                return float(quality) > 0
            except ValueError:
                return True
    return False


def _matches(if_none_match: str, etag: str) -> bool:
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def respond(request: Request, served: SpecDocument) -> Response:
    """``served`` as the request asks for it: gzipped or not, or 304 when the client has it."""
    gzipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = f'"{served.etag}-gzip"' if gzipped else f'"{served.etag}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    body = served.gzipped if gzipped else served.body
    return Response(body, media_type=served.media_type, headers=headers)


def with_spec_documents(app: ASGIApp) -> ASGIApp:
    """The spec routes in front of ``app``; every other request goes on to it."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] in (JSON_PATH, YAML_PATH, GUIDE_PATH)
            and scope["method"] in ("GET", "HEAD")
        ):
            response = respond(Request(scope), document(scope["path"]))
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return route
