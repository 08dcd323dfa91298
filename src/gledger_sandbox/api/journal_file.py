"""The journal of ``serve --state-dir``: records appended to files beside the SQLite database.

Why files, not a table: a journal record in SQLite cost an INSERT and a commit per write (about
ten ``pwrite64`` and six ``fcntl`` calls, measured at 112 us per journaled write in a loaded
server); one ``write`` to a file opened ``O_APPEND`` costs about 6 us. What is promised is the
same as SQLite's WAL with ``synchronous=NORMAL``: once ``write`` returns, the record is in the
operating system's cache, so it survives the process being killed (``kill -9``), not an
operating system crash or a power loss.

The files are segments, ``journal-<n>.log``, numbered upwards; records go to the newest, which
is never one a previous process wrote (its end may be cut short). A record (a frame) is::

    b"GJ" | payload length u32 | CRC-32 u32 of all that follows it | epoch u64 | number u32
          | tenant id length u8 | tenant id | payload (JSON)

A record belongs to the full document of its tenant with the same **epoch** (each full
document written gets a new one, from a counter kept in the database): the ``number``-th record
since that document. Records of older epochs are dead: a full document replaces its journal
without deleting anything here. A segment past ``SEGMENT_BYTES`` is retired (``rotate``): the
next records go to a new one, and the old ones are deleted once every tenant they hold records
of has a newer full document (``durability`` writes them).

Reading back (``read``) takes a tenant's records of its epoch in order. A record that cannot be
read (its CRC-32, its JSON) is kept as None where it stood, so its tenant's replay ends there;
a frame whose length cannot be trusted ends the reading of its segment (said in the log).
"""

from __future__ import annotations

import json
import logging
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("gledger_sandbox.durability")

SEGMENT_BYTES = 128 << 20
"""The size past which a segment is retired (its live records then get full documents)."""
_MAGIC = b"GJ"
_HEAD = struct.Struct("<2sII")  # magic, payload length, CRC-32
_KEY = struct.Struct("<QIB")  # epoch, number, tenant id length
_NAME = re.compile(r"journal-(\d{6,})\.log")
_LONGEST = 1 << 30
"""No record is this long: a length past it is a damaged frame."""


def segments(directory: Path) -> list[Path]:
    """The directory's segments, oldest first."""
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.fullmatch(p.name))]
    return [path for _, path in sorted(found)]


def frame(tenant_id: str, epoch: int, number: int, payload: bytes) -> bytes:
    tenant = tenant_id.encode()
    keyed = _KEY.pack(epoch, number, len(tenant)) + tenant + payload
    return _HEAD.pack(_MAGIC, len(payload), zlib.crc32(keyed)) + keyed


@dataclass(slots=True)
class Frame:
    """One record as read back: ``record`` is None when it cannot be read."""

    tenant_id: str
    epoch: int
    number: int
    record: dict[str, Any] | None
    segment: Path
    offset: int
    end: int


def frames(path: Path) -> Iterator[Frame]:
    """A segment's records in order, up to the first whose length cannot be trusted."""
    data = path.read_bytes()
    at = 0
    while at < len(data):
        head = data[at : at + _HEAD.size + _KEY.size]
        if len(head) < _HEAD.size + _KEY.size:
            logger.error("%s: %d bytes at its end cannot be read (cut short)", path, len(data) - at)
            return
        magic, length, crc = _HEAD.unpack_from(head)
        epoch, number, tenant_length = _KEY.unpack_from(head, _HEAD.size)
        begins = at + _HEAD.size + _KEY.size
        end = begins + tenant_length + length
        if magic != _MAGIC or length > _LONGEST:
            logger.error("%s: the record at byte %d cannot be read; the rest is skipped", path, at)
            return
        keyed = data[at + _HEAD.size : end]
        tenant_id = data[begins : begins + tenant_length].decode(errors="replace")
        record = None
        if end <= len(data) and zlib.crc32(keyed) == crc:
            record = parse_record(data[begins + tenant_length : end])
        yield Frame(tenant_id, epoch, number, record, path, at, min(end, len(data)))
        at = end


def parse_record(payload: bytes) -> dict[str, Any] | None:
    """A record's JSON object, or None when it is not one (its checksum already checked)."""
    try:
        found = json.loads(payload)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def read(directory: Path, epochs: dict[str, int]) -> dict[str, list[dict[str, Any] | None]]:
    """Each tenant's records of its epoch (``epochs``: tenant id -> epoch), in order. A record
    missing from the sequence, or one that cannot be read, is a None where it stood."""
    journals: dict[str, list[dict[str, Any] | None]] = {}
    for path in segments(directory):
        for found in frames(path):
            if epochs.get(found.tenant_id) != found.epoch:
                continue  # a dead record (an older document's), or a tenant gone
            journal = journals.setdefault(found.tenant_id, [])
            if journal and journal[-1] is None:
                continue  # its replay ends at the record that cannot be read
            journal.append(found.record if found.number == len(journal) + 1 else None)
    return journals


@dataclass(slots=True)
class Retired:
    """A segment no longer written to, and the newest epoch of each tenant's records in it."""

    path: Path
    epochs: dict[str, int] = field(default_factory=dict)


class Segments:
    """The segment records are appended to (on the server's loop: one ``write`` per commit),
    and the segments retired since, until they can be deleted."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        found = segments(directory)
        self.older = found
        """Segments an earlier process wrote: read back, then deleted by the start-up write."""
        last = _NAME.fullmatch(found[-1].name) if found else None
        self._next = int(last.group(1)) + 1 if last else 1
        self._fd: int | None = None
        self._path: Path | None = None
        self._size = 0
        self._epochs: dict[str, int] = {}
        self.retired: list[Retired] = []

    def append(self, records: list[tuple[str, int, int, bytes]]) -> None:
        """Append records (tenant id, epoch, number, payload) in one write. Past
        ``SEGMENT_BYTES`` the segment retires (``retired``). Raises OSError; the segment then
        retires too (it may end in a cut record), so the next append starts a new one."""
        if not records:
            return
        data = b"".join(frame(*record) for record in records)
        if self._fd is None:
            self._open()
        assert self._fd is not None
        for tenant_id, epoch, _, _ in records:
            self._epochs[tenant_id] = epoch
        try:
            written = os.write(self._fd, data)
            while written < len(data):  # a short write: the rest, or the error that cut it
                written += os.write(self._fd, data[written:])
        except OSError:
            self._retire()
            raise
        self._size += len(data)
        if self._size > SEGMENT_BYTES:
            self._retire()

    def deletable(self, written: dict[str, int]) -> list[Retired]:
        """The retired segments whose every record is dead: each of their tenants has a full
        document (or its deletion) newer than its records (``written``: tenant id -> epoch)."""
        return [
            retired
            for retired in self.retired
            if all(written.get(t, 0) > epoch for t, epoch in retired.epochs.items())
        ]

    def forget(self, deleted: list[Retired]) -> None:
        self.retired = [retired for retired in self.retired if retired not in deleted]

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"journal-{self._next:06d}.log"
        self._next += 1
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._path, self._size, self._epochs = path, 0, {}

    def _retire(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        if self._path is not None:
            self.retired.append(Retired(self._path, self._epochs))
        self._fd, self._path, self._size, self._epochs = None, None, 0, {}


def delete(paths: Iterable[Path]) -> None:
    """Delete segments (on the writer thread, or before serving: freeing a big file blocks)."""
    for path in paths:
        path.unlink(missing_ok=True)
