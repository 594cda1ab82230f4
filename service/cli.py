"""The ``scriptbots`` command (SPEC §3). Builds Settings once and hands them down.

Standard output carries only what a shell would capture (a token, compile problems);
every message goes to standard error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from service.errors import ScriptbotsError
from service.logs import configure_logging
from service.operator_commands import add_commands as add_operator_commands
from service.settings import ENV_PREFIX, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)
# Uvicorn waits this much past SHUTDOWN_GRACE_S for the streams the grace ended (shutdown.py).
SHUTDOWN_MARGIN_S = 15
# What `scriptbots run` asks without --query: a script reading poe.query needs one.
DEFAULT_QUERY = "Hello"


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _migrate(settings: Settings, *, quiet: bool = False) -> None:
    from service.store.db import make_engine
    from service.store.migrations import upgrade

    alembic_logger = logging.getLogger("alembic.runtime.migration")
    level = alembic_logger.level
    if quiet:  # a command's own output should not drown in migration chatter
        alembic_logger.setLevel(logging.WARNING)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
        alembic_logger.setLevel(level)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    _migrate(settings)
    _say("database is up to date")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from service.app import create_app
    from service.tracing import tracing_from_environment

    _migrate(settings)  # once, here, not in each worker
    logger.info("serving", extra={"url": f"http://{settings.host}:{settings.port}"})
    if args.workers > 1:
        # Each worker process builds its own app from the environment: pass it what the
        # command line changed, and the secret key, so that all workers agree.
        for field in ("host", "port"):
            os.environ[ENV_PREFIX + field.upper()] = str(getattr(settings, field))
        assert settings.secret_key is not None
        os.environ[ENV_PREFIX + "SECRET_KEY"] = settings.secret_key.get_secret_value()
        uvicorn.run(
            "service.cli:worker_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=args.workers,
            log_config=None,
            proxy_headers=True,
            timeout_graceful_shutdown=settings.shutdown_grace_s + SHUTDOWN_MARGIN_S,
        )
    else:
        uvicorn.run(
            create_app(settings, tracing=tracing_from_environment()),
            host=settings.host,
            port=settings.port,
            log_config=None,
            proxy_headers=True,
            timeout_graceful_shutdown=settings.shutdown_grace_s + SHUTDOWN_MARGIN_S,
        )
    return 0


def worker_app() -> FastAPI:
    """The app of one ``serve --workers N`` worker process: settings from the environment."""
    from service.app import create_app
    from service.tracing import tracing_from_environment

    settings = load_settings()
    configure_logging(_log_level(settings))
    return create_app(settings, tracing=tracing_from_environment())


def _log_level(settings: Settings) -> int:
    return logging.getLevelNamesMapping()[settings.log_level.upper()]


def _read_password(name: str) -> str | None:
    """The first line of standard input, checked by the web pages' password rule."""
    from service.errors import WeakPassword
    from service.passwords import check_password

    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        _say("error: --password-stdin was given but standard input has no password")
        return None
    try:
        check_password(password, name=name)
    except WeakPassword as exc:
        _say(f"error: the password is refused: {exc}")
        return None
    return password


def cmd_creator_create(args: argparse.Namespace, settings: Settings) -> int:
    from service.security import hash_password
    from service.store.creators import create_api_token, create_creator
    from service.store.db import Database

    password_hash = None
    if args.password_stdin:
        password = _read_password(args.name)
        if password is None:
            return 1
        password_hash = hash_password(password)
    _migrate(settings, quiet=True)
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            creator = create_creator(session, args.name, password_hash)
            token = create_api_token(session, creator, label="cli")
    finally:
        db.dispose()
    _say(f"created creator {creator.name!r}; its API token follows (shown only once)")
    print(token)
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    from service.store.creators import create_api_token, get_creator
    from service.store.db import Database

    _migrate(settings, quiet=True)
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            token = create_api_token(session, get_creator(session, args.name), label="cli")
    finally:
        db.dispose()
    _say(f"new API token for {args.name!r} (shown only once):")
    print(token)
    return 0


def cmd_creator_passwd(args: argparse.Namespace, settings: Settings) -> int:
    from service.security import hash_password
    from service.store.creators import get_creator, set_password
    from service.store.db import Database

    password = _read_password(args.name)
    if password is None:
        return 1
    password_hash = hash_password(password)  # before the transaction, which stays short
    _migrate(settings, quiet=True)
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            set_password(session, get_creator(session, args.name), password_hash)
    finally:
        db.dispose()
    _say(f"password of {args.name!r} set; its web sessions are logged out")
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    from service.store.creators import get_creator, list_api_tokens
    from service.store.db import Database

    _migrate(settings, quiet=True)
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            tokens = list_api_tokens(session, get_creator(session, args.name).id)
    finally:
        db.dispose()
    print("id\tcreated\tlast used\tlabel")
    for token in tokens:
        last_used = token.last_used_at.isoformat(timespec="seconds") if token.last_used_at else "-"
        created = token.created_at.isoformat(timespec="seconds")
        print(f"{token.id}\t{created}\t{last_used}\t{token.label or '-'}")
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from service.store.creators import revoke_api_token_id
    from service.store.db import Database

    _migrate(settings, quiet=True)
    db = Database(settings.database_url)
    try:
        with db.transaction() as session:
            revoked = revoke_api_token_id(session, args.id)
    finally:
        db.dispose()
    if not revoked:
        _say(f"error: there is no unrevoked API token with id {args.id}")
        return 1
    _say(f"API token {args.id} revoked")
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings | None) -> int:
    from sandbox.policy.compiler import check_source
    from sandbox.policy.modules import import_problems

    path = Path(args.file)
    try:
        source = path.read_bytes().decode("utf-8")
    except OSError as exc:
        _say(f"error: cannot read {args.file}: {exc.strerror or exc}")
        return 1
    except UnicodeDecodeError as exc:
        print(f"{args.file}:1:1: the file is not UTF-8 ({exc.reason})")
        return 1
    # Imports are checked once the source compiles: against the policy, as a run would.
    problems = check_source(source) or import_problems(source)
    for problem in problems:
        print(f"{args.file}:{problem.line}:{problem.col}: {problem.message}")
    if not problems:
        _say(f"{args.file}: ok")
    return 1 if problems else 0


def cmd_run(args: argparse.Namespace, settings: Settings | None) -> int:
    from pydantic import ValidationError

    from service.runs.terminal import run_file  # imported here: only this command starts a pool
    from service.settings import settings_error

    try:  # no load_settings: a terminal run needs no secret key, and must not create one
        configured = Settings()
    except ValidationError as exc:
        _say(f"error: {settings_error(exc)}")
        return 1
    stored_key = configured.poe_access_key
    access_key = args.access_key or (stored_key.get_secret_value() if stored_key else None)
    query = args.query
    if query is None:
        _say(f"no --query given: the query is {DEFAULT_QUERY!r}")
        query = DEFAULT_QUERY
    return run_file(args.file, query, args.bot_base or str(configured.poe_api_base), access_key)


def cmd_check_sandbox(args: argparse.Namespace, settings: Settings | None) -> int:
    from sandbox.check import check_sandbox

    return check_sandbox()


# Commands that need no Settings (no database, no secret key).
_WITHOUT_SETTINGS = {cmd_check, cmd_run, cmd_check_sandbox}


def _positive(text: str) -> int:
    value = int(text) if text.isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scriptbots", description="Host Poe script bots: upload a script, get a bot URL."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply pending migrations, then serve HTTP")
    serve.add_argument("--host", help="listen address (default: SCRIPTBOTS_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default: SCRIPTBOTS_PORT)")
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (default 1)")
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply pending migrations and exit")
    migrate.set_defaults(handler=cmd_migrate)

    creator = commands.add_parser("creator", help="manage creators")
    creator_commands = creator.add_subparsers(dest="action", required=True, metavar="ACTION")
    creator_create = creator_commands.add_parser(
        "create", help="create a creator and print a new API token on standard output"
    )
    creator_create.add_argument("name")
    creator_create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a password for the web pages from the first line of standard input",
    )
    creator_create.set_defaults(handler=cmd_creator_create)
    creator_passwd = creator_commands.add_parser(
        "passwd", help="set a creator's password for the web pages (logs out their sessions)"
    )
    creator_passwd.add_argument("name")
    creator_passwd.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from the first line of standard input",
    )
    creator_passwd.set_defaults(handler=cmd_creator_passwd)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="action", required=True, metavar="ACTION")
    token_create = token_commands.add_parser(
        "create", help="print a new API token of an existing creator on standard output"
    )
    token_create.add_argument("name", help="the creator's name")
    token_create.set_defaults(handler=cmd_token_create)
    token_list = token_commands.add_parser(
        "list", help="list a creator's API tokens: id, created, last used (never the secret)"
    )
    token_list.add_argument("name", help="the creator's name")
    token_list.set_defaults(handler=cmd_token_list)
    token_revoke = token_commands.add_parser("revoke", help="revoke an API token by its id")
    token_revoke.add_argument("id", type=_positive, help="the token's id (from token list)")
    token_revoke.set_defaults(handler=cmd_token_revoke)

    run = commands.add_parser("run", help="run a script locally in the sandbox")
    run.add_argument("file", metavar="FILE.py")
    run.add_argument("--query", help=f"the user's message (default: {DEFAULT_QUERY!r})")
    run.add_argument("--bot-base", help="where bot calls go (default: SCRIPTBOTS_POE_API_BASE)")
    run.add_argument(
        "--access-key",
        help="the Poe access key bot calls carry (default: SCRIPTBOTS_POE_ACCESS_KEY)",
    )
    run.set_defaults(handler=cmd_run)

    check = commands.add_parser("check", help="compile a script under the sandbox policy")
    check.add_argument("file", metavar="FILE.py")
    check.set_defaults(handler=cmd_check)

    check_sandbox = commands.add_parser(
        "check-sandbox", help="report which isolation layers this machine provides"
    )
    check_sandbox.set_defaults(handler=cmd_check_sandbox)
    add_operator_commands(commands)  # audit, export, import
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    handler: Callable[[argparse.Namespace, Settings | None], int] = args.handler
    if handler in _WITHOUT_SETTINGS:
        return handler(args, None)
    from sqlalchemy.exc import SQLAlchemyError  # not needed by the commands above

    # Command-line values are settings too, validated like the environment's.
    overrides = {k: getattr(args, k, None) for k in ("host", "port")}
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
        configure_logging(_log_level(settings))
        return handler(args, settings)
    except (SettingsError, ScriptbotsError) as exc:
        _say(f"error: {exc}")
        return 1
    except SQLAlchemyError as exc:
        _say(f"error: database: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
