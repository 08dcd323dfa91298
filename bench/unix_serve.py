"""Run ``gledger-sandbox serve`` listening on a Unix socket as well as on its TCP port.

Used by ``proxy_cost.py``: one sandbox process that HAProxy reaches over loopback TCP and over
a Unix socket (``BENCH_UNIX_SOCKET``, a path), so that the two hops are measured against the
same process, side by side. The server is the unchanged CLI; uvicorn is handed one more
listening socket.

    BENCH_UNIX_SOCKET=/tmp/s.sock python bench/unix_serve.py --port 18080 --api-key gls_bench
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from gledger_sandbox.api.transport import SandboxServer
from gledger_sandbox.cli import main


def _also_on(path: str) -> None:
    serve_on = SandboxServer.run

    def run(self: SandboxServer, sockets: list[socket.socket] | None = None) -> Any:
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind(path)
        unix.listen(2048)
        return serve_on(self, sockets=[*(sockets or []), unix])

    SandboxServer.run = run  # type: ignore[method-assign]


if __name__ == "__main__":
    _also_on(os.environ["BENCH_UNIX_SOCKET"])
    raise SystemExit(main(["serve", *sys.argv[1:]]))
