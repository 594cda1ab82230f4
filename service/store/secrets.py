"""A script's secrets (issue 10): set, remove, list their names; their values only for runs.

Values are stored encrypted, as access keys are (``AccessKeyCipher``); nothing here returns
a value but ``run_environment``, which a run's snapshot calls. Every query takes the script,
which the caller found for its creator: secrets are never reached across creators.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from service.errors import InvalidSecret, NotFound
from service.security import AccessKeyCipher
from service.store.tables import Script, ScriptSecret, utcnow

MAX_SECRETS = 50
MAX_VALUE_CHARS = 8192
NAME_RULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
NAME_HELP = (
    "a secret's name is an environment variable name: 1 to 64 letters, digits or '_', "
    "not starting with a digit"
)


def check_name(name: str) -> str:
    if not NAME_RULE.fullmatch(name):
        raise InvalidSecret(f"{name[:70]!r} is not a valid secret name: {NAME_HELP}.")
    return name


def check_value(value: str) -> str:
    if not value:
        raise InvalidSecret("A secret's value may not be empty (delete the secret instead).")
    if len(value) > MAX_VALUE_CHARS:
        raise InvalidSecret(f"A secret's value may have at most {MAX_VALUE_CHARS} characters.")
    if "\x00" in value:
        raise InvalidSecret("A secret's value may not contain NUL characters.")
    return value


def secret_names(session: Session, script: Script) -> list[tuple[str, datetime]]:
    """The names of ``script``'s secrets with when each was last set, by name."""
    rows = session.execute(
        select(ScriptSecret.name, ScriptSecret.updated_at)
        .where(ScriptSecret.script_id == script.id)  # the id only: a detached script will do
        .order_by(ScriptSecret.name)
    ).all()
    return [(name, updated_at) for name, updated_at in rows]


def set_secret(
    session: Session, script: Script, name: str, value: str, cipher: AccessKeyCipher
) -> bool:
    """Store ``value`` as ``name`` (replacing it); True when the secret is new."""
    check_name(name)
    check_value(value)
    row = _find(session, script, name)
    if row is None:
        count = len(secret_names(session, script))
        if count >= MAX_SECRETS:
            raise InvalidSecret(f"A script may have at most {MAX_SECRETS} secrets.")
        session.add(
            ScriptSecret(script_id=script.id, name=name, value_encrypted=cipher.encrypt(value))
        )
        return True
    row.value_encrypted = cipher.encrypt(value)
    row.updated_at = utcnow()
    return False


def delete_secret(session: Session, script: Script, name: str) -> None:
    row = _find(session, script, name)
    if row is None:
        raise NotFound(f"The script {script.name!r} has no secret named {name[:70]!r}.")
    session.delete(row)


# Built once: on a query's path, building the statement costs more than running it.
_ENVIRONMENT = select(ScriptSecret.name, ScriptSecret.value_encrypted).where(
    ScriptSecret.script_id == bindparam("script_id")
)


def run_environment(
    connection: Connection | Session, script_id: int, cipher: AccessKeyCipher
) -> dict[str, str]:
    """The decrypted secrets of a script, for its run's ``os.environ`` (a secret encrypted
    under another SECRET_KEY is left out)."""
    rows = connection.execute(_ENVIRONMENT, {"script_id": script_id}).all()
    environment: dict[str, str] = {}
    for name, stored in rows:
        value = cipher.decrypt(stored)
        if value is not None:
            environment[name] = value
    return environment


def _find(session: Session, script: Script, name: str) -> ScriptSecret | None:
    return session.scalar(
        select(ScriptSecret).where(ScriptSecret.script_id == script.id, ScriptSecret.name == name)
    )
