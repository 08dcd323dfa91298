"""The validating proxy: a partner's own traffic, checked against the spec and the ledger.

The partner points their application or test suite at the proxy instead of the deployment.
Every exchange goes through unchanged, and is judged on its way back: the request and the
response against the spec (``conformance``), then the ledger checks that apply to what passed
through (``ledger_traffic``); the traffic is written as HAR 1.2, and at the end the kit's own
summary and JUnit XML name each violation with its curl.

``app.ValidatingProxy`` is the ASGI app, ``session.ProxySession`` what it found;
``serve.run_proxy`` serves it in the foreground until SIGINT or SIGTERM (the command line), and
``bootstrap.LoopbackServer`` in a background thread (the pytest plugin, the tests).
"""

from gledger_sandbox.contract.proxy.app import ValidatingProxy
from gledger_sandbox.contract.proxy.serve import ProxyOptions, run_proxy
from gledger_sandbox.contract.proxy.session import PROXY_CHECKS, ProxySession

__all__ = ["PROXY_CHECKS", "ProxyOptions", "ProxySession", "ValidatingProxy", "run_proxy"]
