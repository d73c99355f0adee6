"""Argument parsing and dispatch for the ``mapay`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence

from pydantic import ValidationError

from agent.cli import admin, alerts, demo, doctor, ops, orders, pool, profiles, rsa_keys, transactions, trial
from agent.cli.context import CliContext, open_context
from agent.cli.errors import check_data_folder, problem_of, report, settings_problem
from agent.log import configure_logging
from agent.settings import Settings

Handler = Callable[[CliContext, argparse.Namespace], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mapay", description="码支付 mapay: self-hosted QR payment gateway")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the gateway (HTTP server, poller, notifier)")
    serve.add_argument("--host", help="bind address (default from MAPAY_HOST)")
    serve.add_argument("--port", type=int, help="port (default from MAPAY_PORT)")

    pool.register(commands)
    orders.register(commands)
    transactions.register(commands)
    ops.register(commands)
    rsa_keys.register(commands)
    alerts.register(commands)
    admin.register(commands)
    profiles.register(commands)
    demo.register(commands)
    trial.register(commands)
    doctor.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Accept --json anywhere on the line, the way people type it.
    raw = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in raw
    args = parser.parse_args([a for a in raw if a != "--json"])
    args.json = as_json
    configure_logging(level="INFO" if args.command == "serve" else "WARNING")
    try:
        settings = Settings()
    except ValidationError as exc:
        return report(settings_problem(exc))
    try:
        return _dispatch(settings, args)
    except Exception as exc:
        problem = problem_of(exc, settings)
        if problem is None:
            raise
        return report(problem)


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "serve":
        from agent.serve import serve

        check_data_folder(settings.data_dir)
        return serve(settings, host=args.host, port=args.port)
    if getattr(args, "standalone", None) is not None:  # opens the database itself, or not at all (doctor)
        code: int = args.standalone(settings, args)
        return code
    handler: Handler = args.handler
    return asyncio.run(_run(settings, handler, args))


async def _run(settings: Settings, handler: Handler, args: argparse.Namespace) -> int:
    async with open_context(settings) as ctx:
        return await handler(ctx, args)
