"""How big is the spec partners download, and what do generators make of it? (not a test)

Reports, side by side in one run: the served ``/v1/openapi.json`` of a real loopback server
(bytes, gzip bytes, ``$ref`` count, models openapi-python-client generates from it), the
``spec bundle`` file, and the old dereferenced document (prance's ResolvingParser, which is
what the server served and ``spec bundle`` wrote before the references were kept).

    python bench/spec_size.py           # about 30 s, most of it prance and the generator
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from gledger_sandbox import specfile
from gledger_sandbox.api.settings import Settings
from gledger_sandbox.bootstrap import LoopbackServer, sandbox_app


def _refs(text: str) -> int:
    return text.count('"$ref"')


def _models(document: bytes, work: Path, name: str) -> int | str:
    spec = work / f"{name}.json"
    spec.write_bytes(document)
    config = work / "config.yaml"
    config.write_text("post_hooks: []\n")
    out = work / name
    generator = Path(sys.executable).with_name("openapi-python-client")
    arguments = ["--path", spec, "--meta", "none", "--config", config, "--output-path", out]
    done = subprocess.run(
        [generator, "generate", *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        return "failed"
    return len(list((out / "models").glob("*.py"))) - 1  # less __init__.py


def _count(document: bytes, work: Path, name: str, skip: bool) -> int | str:
    return "-" if skip else _models(document, work, name)


def _row(name: str, body: bytes, models: int | str) -> dict[str, Any]:
    return {
        "document": name,
        "bytes": len(body),
        "gzip_bytes": len(gzip.compress(body)),
        "refs": _refs(body.decode()),
        "models": models,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-models", action="store_true", help="skip openapi-python-client")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, LoopbackServer(sandbox_app(Settings())[0]) as server:
        work = Path(tmp)
        started = time.perf_counter()
        served = httpx.get(f"{server.url}/v1/openapi.json", headers={"Accept-Encoding": "gzip"})
        fetched = time.perf_counter() - started
        wire = served.num_bytes_downloaded
        bundled = (json.dumps(specfile.bundle(), indent=2, ensure_ascii=False) + "\n").encode()
        old = json.dumps(specfile.dereferenced(), indent=2, ensure_ascii=False).encode()
        rows.append(
            _row(
                "served /v1/openapi.json",
                served.content,
                _count(served.content, work, "served", args.no_models),
            )
        )
        rows.append(_row("spec bundle -o FILE", bundled, "(same)"))
        rows.append(
            _row("before: dereferenced (prance)", old, _count(old, work, "old", args.no_models))
        )
    print(f"{'document':32} {'bytes':>10} {'gzip':>9} {'$refs':>6} {'models':>7}")
    for row in rows:
        print(
            f"{row['document']:32} {row['bytes']:>10,} {row['gzip_bytes']:>9,} "
            f"{row['refs']:>6} {row['models']!s:>7}"
        )
    print(f"served over the wire (gzip): {wire:,} bytes in {fetched * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
