"""Modules the server's libraries import that ``serve`` never uses: loaded only if something does.

connexion 3.3 imports, whatever app it builds, ``requests`` (to fetch remote ``$ref``s: the
bundled spec has none) and Starlette's test client, whose ``httpx`` imports what its own command
line prints with (``rich``, ``pygments``): about 200 modules and 50 ms of every start
(``bench/startup.py``). While ``serve`` starts, the modules named in ``UNUSED_BY_SERVE`` are
imported with the standard library's ``importlib.util.LazyLoader``: the module object is made
and registered as usual, and runs its code, in full, the first time anything reads one of its
attributes. Nothing is replaced or removed; the finder answers for these names only, and only
while the command line builds the server (``cli.main``): every other command, and every import
once the server runs, is as usual.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable, Iterator, Sequence
from types import ModuleType

UNUSED_BY_SERVE = (
    "requests",
    "pygments.lexers",
    "pygments.util",
    "rich.console",
    "rich.markup",
    "rich.progress",
    "rich.syntax",
    "rich.table",
)


class _DeferringFinder:
    """Finds the named modules as the path finder does, and hands them to a lazy loader.

    A meta path finder by its ``find_spec`` alone (``importlib.abc`` would import
    ``importlib.resources`` before anything needs it).
    """

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return None  # not a plain module on the path: imported as usual
        spec.loader = importlib.util.LazyLoader(spec.loader)  # type: ignore[arg-type]
        return spec


@contextlib.contextmanager
def deferred(names: Iterable[str]) -> Iterator[None]:
    """Modules of ``names`` first imported within run their code at first use, not at import."""
    finder = _DeferringFinder(names)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
