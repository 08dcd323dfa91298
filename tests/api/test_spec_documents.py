"""The served spec: the ref-kept bundle, gzipped when asked, cacheable by ETag."""

from __future__ import annotations

import gzip
import json

import httpx
import yaml

from gledger_sandbox.specfile import bundle
from tests.conftest import ServerThread


def test_openapi_json_is_the_bundle_with_its_references(server: ServerThread) -> None:
    plain = httpx.get(f"{server.url}/v1/openapi.json", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "application/json"
    assert "content-encoding" not in plain.headers
    assert len(plain.content) < 400_000
    assert json.loads(plain.content) == bundle()
    assert '"$ref":"#/components/schemas/Entry"' in plain.text


def test_openapi_json_is_gzipped_when_the_client_accepts_it(server: ServerThread) -> None:
    with httpx.stream(
        "GET", f"{server.url}/v1/openapi.json", headers={"Accept-Encoding": "gzip, br"}
    ) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert len(raw) < 100_000
    assert json.loads(gzip.decompress(raw)) == bundle()
    refused = httpx.get(f"{server.url}/v1/openapi.json", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_openapi_json_answers_304_to_its_etag(server: ServerThread) -> None:
    first = httpx.get(f"{server.url}/v1/openapi.json")
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public")
    again = httpx.get(f"{server.url}/v1/openapi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = httpx.get(f"{server.url}/v1/openapi.json", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200


def test_openapi_yaml_is_the_same_bundle(server: ServerThread) -> None:
    response = httpx.get(f"{server.url}/v1/openapi.yaml")
    assert response.status_code == 200
    assert yaml.safe_load(response.text) == bundle()
    assert httpx.post(f"{server.url}/v1/openapi.json").status_code == 405


def test_the_guide_the_spec_links_to_is_served(server: ServerThread) -> None:
    description = bundle()["info"]["description"]
    assert "(/v1/guide.md)" in description
    guide = httpx.get(f"{server.url}/v1/guide.md")
    assert guide.status_code == 200
    assert guide.headers["content-type"].startswith("text/markdown")
    assert "## Authentication" in guide.text and "## Webhooks" in guide.text
