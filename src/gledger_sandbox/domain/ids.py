"""Resource ids: a type prefix and 20 characters drawn from a seeded generator.

The same seed gives the same ids in the same order, so a seed reproduces a whole sandbox.
"""

from __future__ import annotations

import random

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base32, lower case


class IdGenerator:
    """Deterministic ids (``ent_7k2...``) from a seed; its state can be saved and restored."""

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def new(self, prefix: str) -> str:
        bits = self._random.getrandbits(100)
        chars = []
        for _ in range(20):
            chars.append(_ALPHABET[bits & 31])
            bits >>= 5
        return prefix + "_" + "".join(chars)

    def state(self) -> object:
        return self._random.getstate()

    def restore(self, state: object) -> None:
        self._random.setstate(state)  # type: ignore[arg-type]
