"""The names and memos of seeded data: a seeded Faker's answers, or the same answers recorded.

Importing Faker and loading its en_US providers is about a tenth of a start (~75 ms of
``bench/startup.py``), only for the few hundred names the default tenant's fixture asks for.
So the default tenant's answers are kept (``Seeder.recall``): the calls its seeding made, in
order, each with its arguments and Faker's answer, under a name made of Faker's version, the
Python version, the locale, the profile and the seed. A later start replays them without
importing Faker.

A replay cannot drift from Faker. Faker's answer to a call depends only on its version, the
locale, the seed and the calls made before it; a replay answers a call from the recording only
while every call so far, this one included, is the recorded one (same method, same arguments).
At the first that differs (the seeding code now asks otherwise) or past the recording's end, a
Faker seeded alike is brought to that very point by making the calls made so far, and answers
from there on. The names are Faker's either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from faker import Faker

LOCALE = "en_US"
FORMAT = "1"

Call = tuple[str, tuple[int, ...], str]
"""A Faker method's name, its arguments and its answer."""


class RecordingStore(Protocol):
    """Where recordings are kept by name (``spec_cache`` is one); best effort both ways."""

    def read(self, name: str) -> bytes | None: ...

    def write(self, name: str, data: bytes) -> None: ...


def new_faker(seed: int) -> Faker:
    from faker import Faker

    fake = Faker(LOCALE)
    fake.seed_instance(seed)
    return fake


def warm_up() -> None:
    """Import Faker and load its providers (~75 ms), so no visitor's new tenant waits for it."""
    new_faker(0).name()


class SeededNames:
    """Faker's answers for ``seed``, from ``recorded`` while the calls match it (see above)."""

    def __init__(self, seed: int, recorded: Sequence[Call] = ()) -> None:
        self.seed = seed
        self.recorded = recorded
        self.calls: list[Call] = []
        self._faker: Faker | None = None

    @property
    def replayed_all(self) -> bool:
        """True when every call was answered from the recording, and it had no more."""
        return self._faker is None and len(self.calls) == len(self.recorded)

    def company(self) -> str:
        return self._ask("company")

    def name(self) -> str:
        return self._ask("name")

    def email(self) -> str:
        return self._ask("email")

    def sentence(self, nb_words: int) -> str:
        return self._ask("sentence", nb_words)

    def _ask(self, method: str, *args: int) -> str:
        at = len(self.calls)
        if (
            self._faker is None
            and at < len(self.recorded)
            and self.recorded[at][:2]
            == (
                method,
                args,
            )
        ):
            answer = self.recorded[at][2]
        else:
            answer = str(getattr(self._live(), method)(*args))
        self.calls.append((method, args, answer))
        return answer

    def _live(self) -> Faker:
        if self._faker is None:
            fake = new_faker(self.seed)
            for method, args, _ in self.calls:  # to where the recording's answers stopped
                getattr(fake, method)(*args)
            self._faker = fake
        return self._faker


def recording_name(fixture: str, seed: int) -> str:
    from importlib.metadata import version

    python = "{}.{}".format(*sys.version_info[:2])
    return f"names-{FORMAT}-faker-{version('faker')}-py{python}-{LOCALE}-{fixture}-{seed}.json"


def load_recording(data: bytes | None) -> tuple[Call, ...]:
    """The calls of a recording's bytes; none if there are none or they cannot be read."""
    if data is None:
        return ()
    try:
        rows = json.loads(data)
        return tuple((str(m), tuple(int(a) for a in args), str(answer)) for m, args, answer in rows)
    except (ValueError, TypeError):
        return ()


def dump_recording(calls: Sequence[Call]) -> bytes:
    return json.dumps([[method, list(args), answer] for method, args, answer in calls]).encode()
