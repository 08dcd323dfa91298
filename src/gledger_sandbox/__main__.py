"""``python -m gledger_sandbox``: the same as the ``gledger-sandbox`` command."""

from gledger_sandbox.cli import main

raise SystemExit(main())
