"""The operator's commands beside ``cli.py``'s: ``scriptbots audit``, ``export``, ``import``.

``add_commands`` hangs them on the ``scriptbots`` parser; each handler takes the parsed
arguments and the Settings, like cli.py's, and answers an exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from service.settings import Settings

logger = logging.getLogger(__name__)


def add_commands(commands: Any) -> None:
    """Add the commands to ``commands``, the subparsers of the ``scriptbots`` parser."""
    audit = commands.add_parser(
        "audit", help="print the audit log of creator actions (oldest of the newest N first)"
    )
    audit.add_argument("--creator", metavar="NAME", help="only this creator's entries")
    audit.add_argument("--action", help="only this action (script.created, login.failed, ...)")
    audit.add_argument(
        "--since", type=_moment, metavar="WHEN", help="only entries from WHEN (ISO 8601) on"
    )
    audit.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    audit.add_argument("--json", action="store_true", help="one JSON object per line")
    audit.set_defaults(handler=cmd_audit)

    export = commands.add_parser(
        "export",
        help="write creators, tokens (hashes), scripts with versions, settings and secrets "
        "(still encrypted) and the audit log to FILE (JSON); keep SECRET_KEY with it",
    )
    export.add_argument("file", metavar="FILE")
    export.set_defaults(handler=cmd_export)
    load = commands.add_parser(
        "import", help="load an export into this (new, empty) database; same SECRET_KEY"
    )
    load.add_argument("file", metavar="FILE")
    load.set_defaults(handler=cmd_import)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _database(settings: Settings) -> Any:
    """The migrated database (quietly: the command's output must not drown in it)."""
    from service.store.db import Database
    from service.store.migrations import upgrade

    migration_logger = logging.getLogger("alembic.runtime.migration")
    level = migration_logger.level
    migration_logger.setLevel(logging.WARNING)
    db = Database(settings.database_url)
    try:
        upgrade(db.engine)
    finally:
        migration_logger.setLevel(level)
    return db


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from service.audit import operator_audit
    from service.store.creators import get_creator

    if not 1 <= args.limit <= 100_000:
        print("error: --limit must be 1 to 100000", file=sys.stderr)
        return 1
    db = _database(settings)
    try:
        with db.transaction() as session:
            creator_id = get_creator(session, args.creator).id if args.creator else None
            lines = operator_audit(
                session,
                creator_id=creator_id,
                action=args.action,
                since=args.since,
                limit=args.limit,
            )
    finally:
        db.dispose()
    if not args.json:
        print("at\tcreator\taction\tsubject\taddress\tdetail")
    for line in lines:
        at = line.at.isoformat(timespec="seconds")
        if args.json:
            entry = {
                "id": line.id,
                "at": at,
                "creator": line.creator,
                "action": line.action,
                "subject": line.subject,
                "address": line.address,
                "detail": line.detail,
            }
            print(json.dumps(entry, sort_keys=True))
        else:
            detail = json.dumps(line.detail, sort_keys=True) if line.detail else "-"
            fields = (at, line.creator, line.action, line.subject, line.address, detail)
            print("\t".join(field or "-" for field in fields))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from service.backup import export_database

    db = _database(settings)
    try:
        counts = export_database(db.engine, Path(args.file))
    except OSError as exc:
        print(f"error: cannot write {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"exported to {args.file}: {_describe(counts)}", file=sys.stderr)
    print("keep SCRIPTBOTS_SECRET_KEY with it: secrets and access keys need it", file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from service.backup import BackupError, import_database

    db = _database(settings)
    try:
        counts = import_database(db.engine, Path(args.file))
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        db.dispose()
    print(f"imported {args.file}: {_describe(counts)}", file=sys.stderr)
    return 0


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {table}" for table, count in counts.items())
