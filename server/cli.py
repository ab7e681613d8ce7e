"""The `tallystick` command: serve, check-port, worker, migrate, create-user, regenerate-token, demo, verify."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from models.errors import DomainError

from .database import DatabaseUnavailable
from .settings import Settings, SettingsError, load_settings
from .system import system_call

if TYPE_CHECKING:
    from federation.verify_client import Verdict

__all__ = ["main", "system_call"]


async def _with_database(settings: Settings, work: Callable[[], Awaitable[int]]) -> int:
    import federation.operations  # noqa: F401

    from .database import close_database, open_database

    orm = await open_database(settings)
    try:
        return await work()
    finally:
        await close_database(orm)


def _port_problem(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on (e.g. another server holds it), or None when it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as error:
        return str(error.strerror or error)
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            probe.bind(address)
        except OSError as error:
            return os.strerror(error.errno) if error.errno else str(error)
    return None


def _listen_address(settings: Settings, args: argparse.Namespace) -> tuple[str, int]:
    return args.host or settings.host, args.port if args.port is not None else settings.port


def _check_port(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 1 with one line when the port `serve` would use is taken (`make run` asks first,
    before migrating and loading the demo)."""
    host, port = _listen_address(settings, args)
    problem = _port_problem(host, port)
    if problem is not None:
        print(f"tallystick: cannot listen on {host}:{port}: {problem}", file=sys.stderr)
        return 1
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from .app import create_app

    host, port = _listen_address(settings, args)
    problem = None if args.reuse_port else _port_problem(host, port)
    if problem is not None:  # before building the app, opening the database or starting workers
        print(f"tallystick serve: cannot listen on {host}:{port}: {problem}", file=sys.stderr)
        return 1
    app = create_app(settings)
    listening = f"http://{host}:{port}"
    where = settings.base_url if listening == settings.base_url else f"{settings.base_url} on {listening}"

    def started(_message: str) -> None:  # run_app calls this once the socket listens
        print(f"Tallystick serving {where}", flush=True)

    try:
        web.run_app(
            app,
            host=host,
            port=port,
            reuse_port=args.reuse_port,
            print=started,
            access_log=None,
            # aiohttp closes a connection that has not sent a complete request head within its
            # keep-alive timeout, counted from connecting or from the previous answer.
            keepalive_timeout=settings.limits.header_timeout,
        )
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        print(f"tallystick serve: cannot listen on {host}:{port}: {reason}", file=sys.stderr)
        return 1
    return 0


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run job workers (and the lease reaper) until SIGINT or SIGTERM; no HTTP."""
    import signal

    from .app import site_from
    from .jobs import WorkerPool

    count = args.workers if args.workers is not None else settings.jobs.workers
    if count < 1:
        print("tallystick worker: --workers must be at least 1", file=sys.stderr)
        return 2

    async def work() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        pool = WorkerPool(site_from(settings), settings.jobs, count=count)
        pool.start()
        where = urlsplit(settings.resolved_database_url)
        print(f"tallystick worker: {count} worker(s) on {where.scheme}://{where.hostname or ''}{where.path}", flush=True)
        try:
            await stop.wait()
        finally:
            await pool.stop()
        return 0

    return asyncio.run(_with_database(settings, work))


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from .database import run_migrations

    asyncio.run(run_migrations(settings))
    print(f"database is up to date ({settings.resolved_database_url.split('?')[0]})")
    return 0


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:
        result = await system_call(
            settings,
            "admin.users.create",
            {"username": args.username, "password": args.password, "email": args.email or f"{args.username}@example.invalid", "roles": args.role},
        )
        print(f"created {result['user']['username']} roles={result['user']['roles']}\ntoken: {result['token']}")
        return 0

    return asyncio.run(_with_database(settings, work))


def _regenerate_token(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> int:
        result = await system_call(settings, "admin.users.regenerate_token", {"username": args.username})
        print(result["token"])
        return 0

    return asyncio.run(_with_database(settings, work))


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from .demo import load_demo

    return asyncio.run(_with_database(settings, lambda: load_demo(settings)))


def _verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check a token URL, or every token of an export (or token) file, against its origin; or a
    ledger trace file, offline with the type owner's key (`--key`)."""
    import orjson

    from federation.verify_client import check_document, check_token_url, check_trace, is_trace, read_key_file

    from .app import site_from

    site = site_from(settings)
    target = args.target
    key = None
    if args.key is not None:
        try:
            key = read_key_file(site, Path(args.key).read_bytes())
        except (OSError, ValueError) as error:
            print(f"tallystick verify: cannot use the key file {args.key}: {error}", file=sys.stderr)
            return 2
    if target.startswith(("https://", "http://")):
        if key is not None:
            print("tallystick verify: --key checks a ledger trace file, not a URL", file=sys.stderr)
            return 2
        verdicts = [asyncio.run(check_token_url(site, target, claimed_hash=args.content_hash))]
    else:
        try:
            document = orjson.loads(Path(target).read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            print(f"tallystick verify: cannot read {target}: {error}", file=sys.stderr)
            return 2
        if not isinstance(document, dict):
            print(f"tallystick verify: {target} is not a JSON object", file=sys.stderr)
            return 2
        if is_trace(document):
            return _report_trace(asyncio.run(check_trace(site, document, key)), str(document.get("traceOf")))
        if key is not None:
            print(f"tallystick verify: --key checks a ledger trace file; {target} is not one", file=sys.stderr)
            return 2
        verdicts = asyncio.run(check_document(site, document))
    for verdict in verdicts:
        version = f" (origin version {verdict.version})" if verdict.version is not None else ""
        print(f"{verdict.verdict.upper():<9} {verdict.token}{version}: {verdict.detail}")
    good = sum(verdict.accurate for verdict in verdicts)
    print(f"{good} of {len(verdicts)} token(s) accurate at their origin")
    return 0 if verdicts and good == len(verdicts) else 1


def _report_trace(verdicts: list[Verdict], traced: str) -> int:
    """One line per entry, then whether the whole trace checks; exit 0 only when it does."""
    for verdict in verdicts:
        print(f"{verdict.verdict.upper():<9} {verdict.token}: {verdict.detail}")
    good = sum(verdict.verdict == "valid" for verdict in verdicts)
    whole = bool(verdicts) and good == len(verdicts)
    print(f"{good} of {len(verdicts)} ledger entries valid: the trace of {traced} {'checks' if whole else 'does NOT check'}")
    return 0 if whole else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tallystick", description="Federated token server")
    parser.add_argument("--version", action="version", version=f"tallystick {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve HTTP (and run workers in-process)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--reuse-port", action="store_true", help="let several processes share the port")
    serve.set_defaults(run=_serve)
    worker = commands.add_parser("worker", help="run job workers only")
    worker.add_argument("--workers", type=int, help="worker tasks (default: settings jobs.workers)")
    worker.set_defaults(run=_worker)
    check = commands.add_parser("check-port", help="exit 1 if serve could not listen (the port is taken)")
    check.add_argument("--host")
    check.add_argument("--port", type=int)
    check.set_defaults(run=_check_port)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=_migrate)
    create = commands.add_parser("create-user", help="create a local user")
    create.add_argument("username")
    create.add_argument("--password", required=True)
    create.add_argument("--email")
    create.add_argument("--role", action="append", default=[], help="repeat for several roles")
    create.set_defaults(run=_create_user)
    regenerate = commands.add_parser("regenerate-token", help="issue a new personal token")
    regenerate.add_argument("username")
    regenerate.set_defaults(run=_regenerate_token)
    commands.add_parser("demo", help="load demo users and tokens (idempotent)").set_defaults(run=_demo)
    verify = commands.add_parser("verify", help="verify a copied token against its origin, or a ledger trace")
    verify.add_argument("target", help="a token URL, or an export, token or ledger trace JSON file")
    verify.add_argument("--content-hash", help="check a copy with this content hash instead of the current document")
    verify.add_argument(
        "--key", help="a trace's type owner's key (Ed25519 PEM, or its actor document as JSON): check offline"
    )
    verify.set_defaults(run=_verify)
    return parser


def _version() -> str:
    try:
        return version("tallystick")
    except PackageNotFoundError:  # a source tree that was not installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # APScheduler logs every run of every periodic job at INFO (45 lines a minute), and tortoise
    # its start-up and shutdown: keep their warnings only.
    for noisy in ("apscheduler", "tortoise"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"tallystick: {error}", file=sys.stderr)
        return 2
    try:
        return int(args.run(settings, args))
    except DomainError as error:
        print(f"tallystick: {error.detail}", file=sys.stderr)
        return 1
    except DatabaseUnavailable as error:
        print(f"tallystick: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
