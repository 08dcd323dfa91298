"""What the server derives from the spec at startup, kept on disk keyed by the spec's content.

Bundling the split YAML spec takes about a quarter of a second and connexion's validation of
the bundle against the OpenAPI schema about as long again: half of a start to the first answer
(``bench/startup.py``). Neither changes unless the spec's files do, so the bundle is kept as
JSON under a name made of a digest of every file of the spec, and a marker says that connexion
(of a given version) accepted that very bundle. A changed file makes a new digest: the cache
can only be missed, never stale. A cache that cannot be read or written is no cache: the work
is done as before, silently.

The default tenant's fixture names are kept here too (``seeding.names``: a replay checks every
call against Faker's recorded answers, so a recording too can only miss, never mislead).

Where: ``$GLEDGER_SANDBOX_CACHE`` (``off`` for none), else ``$XDG_CACHE_HOME/gledger-sandbox``,
else ``~/.cache/gledger-sandbox``. The image fills it at build time (``Dockerfile``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from functools import cache
from pathlib import Path

FORMAT = "1"
"""Changes when what is cached changes shape."""
PRODUCERS = (Path(__file__).with_name("specfile.py"),)
"""The code that makes what is cached from the spec's files: its bytes are in the digest too,
so an upgrade that bundles differently (the spec's files unchanged) never reads an old bundle."""


def directory() -> Path | None:
    """The cache's directory (perhaps not made yet), or None when caching is off."""
    given = os.environ.get("GLEDGER_SANDBOX_CACHE")
    if given:
        return None if given.lower() == "off" else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gledger-sandbox"


@cache
def digest(spec_dir: Path) -> str:
    """A digest of every file of the spec under ``spec_dir`` (names and bytes), and of the
    code that derives what is cached from them (``PRODUCERS``)."""
    h = hashlib.sha256(FORMAT.encode())
    for producer in PRODUCERS:
        with contextlib.suppress(OSError):  # no source (a zipped install): the spec alone
            h.update(b"\0" + producer.read_bytes())
    for path in sorted(p for p in spec_dir.rglob("*") if p.is_file()):
        h.update(b"\0" + str(path.relative_to(spec_dir)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()[:32]


def read(name: str) -> bytes | None:
    """The cached bytes named ``name``, or None."""
    folder = directory()
    if folder is None:
        return None
    try:
        return (folder / name).read_bytes()
    except OSError:
        return None


def write(name: str, data: bytes) -> None:
    """Keep ``data`` as ``name`` (atomically: readers see all of it or nothing); best effort."""
    folder = directory()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temporary, folder / name)
    except OSError:
        return
