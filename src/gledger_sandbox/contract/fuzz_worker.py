"""``python -m gledger_sandbox.contract.fuzz_worker``: one fuzz worker (``fuzz_pool`` starts it).

It reads pickles from standard input and answers in pickles on what was standard output;
anything else that writes to standard output (a library's print) goes to standard error
instead, so it cannot break the conversation.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from gledger_sandbox.contract.fuzz_pool import serve_parent

    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve_parent(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
