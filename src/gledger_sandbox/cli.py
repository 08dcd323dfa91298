"""The ``gledger-sandbox`` command: parses arguments and calls the packages; no logic of its own."""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gledger_sandbox import __version__, serve_options
from gledger_sandbox.deferred_imports import UNUSED_BY_SERVE, deferred
from gledger_sandbox.serve_options import names as _names

DESCRIPTION = """\
GLedger Sandbox: a stateful, in-memory mock of the GLedger Live ledger API, and the
contract-test kit that proves a deployment honours it. `serve` runs the sandbox, `contract`
tests a deployment (or a sandbox started in-process), `spec` validates or bundles the OpenAPI
document, `listen` forwards a tenant's events to a local URL as signed webhooks, and `events
tail` prints them live."""


@functools.cache
def _help_width() -> int:
    return shutil.get_terminal_size().columns - 2  # what argparse computes, once per process


class _HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" where there is a default worth showing (not None, False, empty)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        # argparse makes a formatter for every argument added (to check its metavar), and each
        # asked the terminal its size: about a hundred calls, ~1% of a start (bench/startup.py).
        super().__init__(
            prog, indent_increment, max_help_position, _help_width() if width is None else width
        )

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        empty = action.default is None or action.default is False or action.default in ((), [], "")
        if empty or "default:" in text:
            return text
        return super()._get_help_string(action) or text


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time: give an ISO 8601 date-time such as 2026-06-01T09:00:00Z "
            "(UTC when no offset is given)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _seconds_list(text: str) -> tuple[float, ...]:
    delays = tuple(float(part) for part in text.split(",") if part.strip())
    if not delays or any(d <= 0 for d in delays):
        raise argparse.ArgumentTypeError("give positive seconds, comma separated")
    return delays


def _contract_parser(commands: Any) -> None:
    from gledger_sandbox.contract.options import CHECKS, DEFAULT_EXAMPLES, PHASES

    contract = commands.add_parser(
        "contract",
        formatter_class=_HelpWithDefaults,
        help="prove a deployment honours the contract (ledger checks + schemathesis)",
        description="Runs the ledger checks, then schemathesis over every operation of the "
        "spec; exit status 0 all passed, 1 a check failed, 2 usage error or target "
        "unreachable. Without --base-url it tests a sandbox started in-process.",
    )
    contract.add_argument("--base-url", help="the deployment to test (default: in-process)")
    contract.add_argument("--api-key")
    contract.add_argument("--client-id", help="OAuth2 client credentials, with --client-secret")
    contract.add_argument("--client-secret")
    contract.add_argument("--token-url", help="default: the spec's tokenUrl on the base URL")
    contract.add_argument("--scope", help="OAuth2 scopes to ask for (space separated)")
    contract.add_argument("--other-api-key", help="a second tenant's key (cross-tenant check)")
    contract.add_argument("--spec", help="path or URL of the OpenAPI document (default: shipped)")
    contract.add_argument("--operations", type=_names, metavar="ID,ID", help="only these")
    contract.add_argument(
        "--exclude-operations", type=_names, default=(), metavar="ID,ID", help="not these"
    )
    contract.add_argument(
        "--checks",
        type=_names,
        default=CHECKS,
        metavar="NAME,NAME",
        help=f"{', '.join(CHECKS)} (default: all)",
    )
    contract.add_argument(
        "--phases",
        type=_names,
        default=PHASES,
        metavar="PHASE,PHASE",
        help=f"{', '.join(PHASES)} (default: all; the ledger phase runs first)",
    )
    contract.add_argument(
        "--examples", type=int, default=DEFAULT_EXAMPLES, help="generated requests per operation"
    )
    contract.add_argument("--seed", type=int, help="for a reproducible run (default: random)")
    contract.add_argument("--time-budget", type=float, metavar="SECONDS")
    contract.add_argument("--junit-xml", type=Path, metavar="PATH")
    contract.add_argument("--webhook-host", default="127.0.0.1", help="the receiver listens here")
    contract.add_argument("--webhook-public-url", help="the receiver's URL as the target sees it")
    contract.add_argument("--no-webhooks", action="store_true", help="skip the webhook checks")
    contract.add_argument("--quiet", action="store_true", help="print the summary only")
    contract.add_argument(
        "--own-tenant",
        action="store_true",
        help="the credential's tenant is disposable: also fuzz advanceClock, which moves its clock",
    )
    contract.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="fuzz in N processes over parallel connections, same cases (default: 1 against "
        "--base-url, 2 in-process); ask for more only if the deployment takes parallel calls",
    )
    _proxy_parser(contract.add_subparsers(dest="contract_command", metavar="[proxy]"))


def _proxy_parser(commands: Any) -> None:
    proxy = commands.add_parser(
        "proxy",
        formatter_class=_HelpWithDefaults,
        help="a validating proxy for your own traffic: spec and ledger checks on every exchange",
        description="Forwards every request to --upstream unchanged and checks each exchange: "
        "the request and response against the spec, and the ledger checks that apply to what "
        "passed through (entries balance, idempotent replays identical, pages neither repeat "
        "nor end early, event sequences rise). Point your application or test suite at it. "
        "Ctrl-C or SIGTERM ends it with a summary naming each violation with its curl; exit "
        "status 0 none found, 1 violations, 2 usage error.",
    )
    proxy.add_argument("--upstream", required=True, help="the deployment to forward to")
    proxy.add_argument("--port", type=int, default=8788, help="where the proxy listens")
    proxy.add_argument("--host", default="127.0.0.1", help="loopback unless you need otherwise")
    proxy.add_argument("--spec", help="path or URL of the OpenAPI document (default: shipped)")
    proxy.add_argument("--junit-xml", type=Path, metavar="PATH", help="violations as JUnit XML")
    proxy.add_argument("--har", type=Path, metavar="PATH", help="the traffic as HAR 1.2")
    proxy.add_argument("--quiet", action="store_true", help="print the summary only")


def _trigger_parser(commands: Any) -> None:
    trigger = commands.add_parser(
        "trigger",
        formatter_class=_HelpWithDefaults,
        help="cause one event of a type in your tenant (like stripe trigger)",
        description="Creates the fewest preconditions in the API key's tenant (a ledger of "
        "its own, the accounts it needs) and causes one event of EVENT_TYPE, with the "
        "sandbox's simulations and clock; prints each call and the event. Some types move "
        "the tenant's clock (settlement.failed 61 s, payout.in_transit 1 h, payout.paid 2 d).",
    )
    trigger.add_argument("event_type", nargs="?", metavar="EVENT_TYPE", help="see --list")
    trigger.add_argument("--list", action="store_true", help="list the event types and exit")
    trigger.add_argument("--base-url", default="http://127.0.0.1:8080", help="the sandbox")
    trigger.add_argument("--api-key", help="a key of the tenant (default: $GLEDGER_API_KEY)")
    trigger.add_argument("--json", action="store_true", help="print the event as JSON")


def _parser(serve_only: bool = False) -> argparse.ArgumentParser:
    """The command line's parser; ``serve_only``: with the ``serve`` command alone, for a
    command line that starts with it (the others' arguments import their packages)."""
    from gledger_sandbox.api.settings import WebhookSettings
    from gledger_sandbox.resources import fixture_names

    parser = argparse.ArgumentParser(prog="gledger-sandbox", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="serve the sandbox (in-memory, seeded fixtures)",
        description="Serves the sandbox API, Swagger UI and the spec, with a default tenant "
        "seeded from a fixture profile; prints its API key. Every option has a default.",
        formatter_class=_HelpWithDefaults,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (0: any free)")
    serve.add_argument("--seed", type=int, default=0, help="seed of the default tenant's data")
    serve.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="keep every tenant durable in DIR (SQLite): a restarted server, even after "
        "kill -9, comes back with every write it answered (default: in memory only)",
    )
    fixtures = fixture_names()
    serve.add_argument(
        "--fixture",
        default="merchant",
        choices=fixtures,
        metavar="PROFILE",
        help=f"fixture profile of the default tenant: {', '.join(fixtures)}",
    )
    serve.add_argument("--api-key", help="API key of the default tenant (random if not given)")
    serve.add_argument(
        "--clock-start",
        type=_timestamp,
        metavar="TIME",
        help="freeze the default tenant's clock at this ISO 8601 time, e.g. 2026-06-01T09:00:00Z "
        "(default: real time)",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let browser pages on this origin call the API (repeat, or comma separated; "
        "'*' for any origin; default: none)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=1024 * 1024,
        metavar="BYTES",
        help="larger request bodies get 413",
    )
    serve.add_argument(
        "--max-tenants", type=int, default=1000, metavar="N", help="tenants held at once"
    )
    serve.add_argument(
        "--tenant-ttl",
        type=float,
        default=24 * 3600,
        metavar="SECONDS",
        help="an idle tenant expires after this",
    )
    serve.add_argument(
        "--async-post-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="an entry sent with Prefer: respond-async posts this much later",
    )
    serve.add_argument(
        "--validate-responses", action="store_true", help="check answers against the spec"
    )
    serve.add_argument(
        "--rate-limit",
        metavar="REQUESTS/SECONDS",
        help="per-credential limit, e.g. 100/60 (429 rate_limited beyond; default: none)",
    )
    serve.add_argument(
        "--event-retention",
        type=float,
        default=30 * 24 * 3600,
        metavar="SECONDS",
        help="sandbox time events are kept (older cursors get 410)",
    )
    serve.add_argument(
        "--event-retention-count",
        type=int,
        default=1_000_000,
        metavar="N",
        help="events kept per tenant",
    )
    serve.add_argument(
        "--webhook-retry-schedule",
        type=_seconds_list,
        default=WebhookSettings().retry_schedule,
        metavar="S,S,...",
        help="seconds between webhook attempts (default: 5,300,1800,7200,18000,36000,36000)",
    )
    serve.add_argument(
        "--webhook-retry-scale",
        type=float,
        default=1.0,
        help="multiply the retry schedule (0.001 turns hours into seconds)",
    )
    serve.add_argument(
        "--webhook-timeout", type=float, default=5.0, metavar="SECONDS", help="per attempt"
    )
    serve.add_argument(
        "--webhook-jitter", type=float, default=0.1, help="fraction added to retries (0: none)"
    )
    serve.add_argument(
        "--stream-keepalive",
        type=float,
        default=15.0,
        metavar="SECONDS",
        help="an SSE keep-alive comment this often",
    )
    serve.add_argument(
        "--quiet",
        action="store_true",
        help="no progress line while the default tenant is seeded (none is shown off a terminal)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="server log level",
    )
    serve_options.connection_options(serve)
    serve_options.public_options(serve)
    serve_options.trust_options(serve)
    serve_options.scale_options(serve)
    if serve_only:
        return parser

    _contract_parser(commands)
    _trigger_parser(commands)

    from gledger_sandbox.devtools.arguments import add_parsers

    add_parsers(commands, _HelpWithDefaults)

    spec = commands.add_parser("spec", help="the OpenAPI document")
    spec_commands = spec.add_subparsers(dest="spec_command", required=True)
    spec_commands.add_parser("validate", help="validate the spec (prance, openapi-spec-validator)")
    bundle = spec_commands.add_parser(
        "bundle",
        help="write the spec as one self-contained file",
        formatter_class=_HelpWithDefaults,
    )
    bundle.add_argument(
        "--output", "-o", type=Path, help="file to write (default: stdout, unless a terminal)"
    )
    bundle.add_argument("--format", choices=["json", "yaml"], default="json", help="file format")
    bundle.add_argument("--quiet", action="store_true", help="no progress line on a terminal")
    return parser


def _proxy(args: argparse.Namespace) -> int:
    from gledger_sandbox.contract import ContractUsageError
    from gledger_sandbox.contract.proxy import ProxyOptions, run_proxy

    try:
        options = ProxyOptions(
            upstream=args.upstream,
            port=args.port,
            host=args.host,
            spec=args.spec,
            junit_xml=args.junit_xml,
            har=args.har,
            quiet=args.quiet,
        )
        report = run_proxy(options)
    except ContractUsageError as error:
        print(f"gledger-sandbox contract proxy: {error}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


def _contract(args: argparse.Namespace) -> int:
    from gledger_sandbox.contract import (
        ContractOptions,
        ContractUsageError,
        TargetUnreachable,
        run_contract,
    )

    try:
        options = ContractOptions(
            base_url=args.base_url,
            api_key=args.api_key,
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_url=args.token_url,
            scope=args.scope,
            other_api_key=args.other_api_key,
            spec=args.spec,
            operations=frozenset(args.operations) if args.operations else None,
            exclude_operations=frozenset(args.exclude_operations),
            checks=frozenset(args.checks),
            phases=args.phases,
            examples=args.examples,
            seed=args.seed,
            time_budget=args.time_budget,
            junit_xml=args.junit_xml,
            webhook_host=args.webhook_host,
            webhook_public_url=args.webhook_public_url,
            webhooks=not args.no_webhooks,
            quiet=args.quiet,
            own_tenant=args.own_tenant,
            workers=args.workers,
        )
        if options.base_url:
            report = run_contract(options)
        else:
            from gledger_sandbox.bootstrap import contract_against_sandbox

            report = contract_against_sandbox(options)
    except (ContractUsageError, TargetUnreachable) as error:
        print(f"gledger-sandbox contract: {error}", file=sys.stderr)
        return 2
    return 0 if report.ok else 1


def _trigger(args: argparse.Namespace) -> int:
    from gledger_sandbox.contract.trigger import event_types, trigger_command

    if args.list or not args.event_type:
        print("\n".join(event_types()))
        return 0 if args.list else 2
    api_key = args.api_key or os.environ.get("GLEDGER_API_KEY")
    return trigger_command(args.base_url, api_key, args.event_type, args.json)


def _spec(args: argparse.Namespace) -> int:
    from gledger_sandbox.specfile import bundle, validate

    if args.spec_command == "validate":
        problems = validate()
        for problem in problems:
            print(problem, file=sys.stderr)
        print("spec is valid" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    if not args.output and sys.stdout.isatty():
        print(
            "gledger-sandbox spec bundle: the bundle is several megabytes; write it to a file "
            "with -o FILE (e.g. -o gledger.json), or pipe it",
            file=sys.stderr,
        )
        return 2
    from gledger_sandbox.progress import Progress

    progress = Progress(quiet=args.quiet)
    progress.start("bundling the spec (reading spec/, resolving its references)")
    document = bundle()
    progress.update(f"writing {args.format}")
    if args.format == "json":
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    progress.finish(f"bundled the spec ({len(document.get('paths', {}))} paths)")
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        size = len(text.encode())
        print(f"wrote {args.output} ({size:,} bytes, {args.format})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    # connexion 3.3 imports starlette's test client at import time, which warns; not ours.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    # Starting makes a few hundred thousand objects that all live on (modules, the spec, the
    # seeded tenant): collecting meanwhile is wasted time (~10% of a start). serve collects
    # once it answers (bootstrap.collect_start_garbage); every other command as usual.
    gc.disable()
    serving = list(sys.argv[1:] if argv is None else argv)[:1] == ["serve"]
    try:
        # Building the parser imports the web stack (the defaults of serve's options).
        with deferred(UNUSED_BY_SERVE) if serving else contextlib.nullcontext():
            args = _parser(serve_only=serving).parse_args(argv)
        if args.command == "serve":
            from gledger_sandbox.serve_command import run_serve

            return run_serve(args)
    finally:
        gc.enable()  # the other commands collect from here on; serve from bootstrap.serve on
    if args.command == "contract" and args.contract_command == "proxy":
        return _proxy(args)
    if args.command == "contract":
        return _contract(args)
    if args.command == "trigger":
        return _trigger(args)
    if args.command in ("listen", "events"):
        from gledger_sandbox.devtools.commands import run_listen, run_tail

        return run_listen(args) if args.command == "listen" else run_tail(args)
    return _spec(args)


if __name__ == "__main__":
    raise SystemExit(main())
