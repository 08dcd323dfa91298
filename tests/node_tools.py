"""The project's pinned Node tools (package.json), as the spec tests run them."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "node_modules" / ".bin"


def node_tool(name: str) -> Path:
    """The installed tool ``name``; a failure that says how to install it when it is missing.

    Not a skip: ``.ci/run`` installs them with ``npm ci``, so a missing tool is a broken setup
    that would otherwise pass unseen.
    """
    tool = NODE_BIN / name
    if not tool.exists():
        raise AssertionError(f"{tool} is missing: run `npm ci` at the repository root")
    return tool


def run_tool(name: str, *args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``name`` run with ``args``; its output kept for the assertion message."""
    return subprocess.run(
        [str(node_tool(name)), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
