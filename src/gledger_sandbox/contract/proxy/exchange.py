"""One request and its response as they went through the proxy, and what is made of them:
a curl to reproduce it against the deployment, and its HAR 1.2 entry."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from gledger_sandbox.contract.curl import CREDENTIAL_VARIABLE, curl_command

EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True, slots=True)
class Exchange:
    """What the client sent (as forwarded upstream) and what it got back."""

    method: str
    upstream_url: str
    """The request's URL on the deployment (query included)."""
    path: str
    query: str
    request_headers: httpx.Headers
    request_body: bytes
    status: int
    response_headers: httpx.Headers
    response_body: bytes
    started: datetime
    seconds: float
    truncated: bool = False
    """The body kept is only the first part of what was relayed (a long event stream)."""

    @property
    def media_type(self) -> str:
        return str(self.response_headers.get("content-type", "")).split(";")[0].strip().lower()

    @property
    def is_stream(self) -> bool:
        return self.media_type == EVENT_STREAM

    def complete_body(self) -> bytes:
        """The body up to its last complete event, for a stream ended or cut mid-event."""
        if not self.is_stream:
            return self.response_body
        end = self.response_body.rfind(b"\n\n")
        return self.response_body[: end + 2] if end >= 0 else b""

    def curl(self) -> str:
        """The request as curl against the deployment, the credential as ``$GLEDGER_TOKEN``."""
        return curl_command(self.method, self.upstream_url, self.request_headers, self.request_body)

    def har_entry(self) -> dict[str, Any]:
        """The keyword arguments of ``harfile.HarFile.add_entry`` for this exchange."""
        import harfile

        request = harfile.Request(
            method=self.method,
            url=self.upstream_url,
            httpVersion="HTTP/1.1",
            headers=_records(self.request_headers),
            queryString=[
                harfile.Record(name=name, value=value)
                for name, value in httpx.QueryParams(self.query).multi_items()
            ],
            postData=(
                harfile.PostData(
                    mimeType=self.request_headers.get("content-type", ""),
                    text=self.request_body.decode("utf-8", "replace"),
                )
                if self.request_body
                else None
            ),
            bodySize=len(self.request_body),
        )
        text, encoding = _text(self.response_body)
        response = harfile.Response(
            status=self.status,
            statusText=httpx.codes.get_reason_phrase(self.status),
            httpVersion="HTTP/1.1",
            headers=_records(self.response_headers),
            content=harfile.Content(
                size=len(self.response_body),
                mimeType=self.response_headers.get("content-type", ""),
                text=text,
                encoding=encoding,
                comment="only the first part of the stream is kept" if self.truncated else None,
            ),
            bodySize=len(self.response_body),
        )
        milliseconds = round(self.seconds * 1000, 3)
        return {
            "startedDateTime": self.started,
            "time": milliseconds,
            "request": request,
            "response": response,
            "timings": harfile.Timings(send=0, wait=milliseconds, receive=0),
        }


def _records(headers: httpx.Headers) -> list[Any]:
    """HAR header records; a credential is written as ``$GLEDGER_TOKEN`` (HAR files are shared)."""
    import harfile

    records = []
    for name, value in headers.multi_items():
        if name.lower() == "authorization":
            scheme = value.split(" ", 1)[0] if " " in value else "Bearer"
            value = f"{scheme} {CREDENTIAL_VARIABLE}"
        records.append(harfile.Record(name=name, value=value))
    return records


def _text(body: bytes) -> tuple[str, str | None]:
    try:
        return body.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), "base64"
