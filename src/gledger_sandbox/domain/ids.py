"""Resource ids: a type prefix and 20 characters drawn from a keyed hash of a counter.

The same seed gives the same ids in the same order, so a seed reproduces a whole sandbox; the
generator's whole state is one integer, so a unit of work can save and restore it for nothing.
"""

from __future__ import annotations

import hashlib

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lower case


class IdGenerator:
    """Deterministic ids (``ent_7k2...``): BLAKE2b of a counter, keyed by the seed."""

    __slots__ = ("_count", "_key")

    def __init__(self, seed: int, stream: bytes = b"") -> None:
        """``stream`` names an independent sequence under the same seed."""
        self._key = seed.to_bytes(8, "big", signed=True) + stream
        self._count = 0

    def stream(self, name: bytes) -> IdGenerator:
        """An independent generator under the same seed (its ids never shift this one's)."""
        other = IdGenerator(0)
        other._key = self._key + b"/" + name
        return other

    def new(self, prefix: str) -> str:
        self._count += 1
        digest = hashlib.blake2b(self._count.to_bytes(8, "big"), key=self._key, digest_size=13)
        bits = int.from_bytes(digest.digest(), "big")
        chars = []
        for _ in range(20):
            chars.append(_ALPHABET[bits & 31])
            bits >>= 5
        return prefix + "_" + "".join(chars)

    def state(self) -> int:
        return self._count

    def restore(self, state: int) -> None:
        self._count = state
