"""A hosted script as a run needs it, read from the database in one SELECT (SQLAlchemy
Core, on the path of every query): its current version's source, its effective Poe
settings, and its decrypted access key (its secrets, when it has any, in a second).

Also the bot endpoint's authentication (SPEC §7): the script's access key, or an API token
of the script's creator.
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass, field

import fastapi_poe as fp
from sqlalchemy import Connection

from sandbox import Limits
from service.bot_settings import effective_settings
from service.errors import NotFound, Unauthorized
from service.script_header import ScriptHeader
from service.security import AccessKeyCipher
from service.store.creators import token_use
from service.store.scripts import AnyRow, current_bot_row
from service.store.secrets import run_environment


@dataclass(frozen=True)
class BotScript:
    """A snapshot of one script at its current version; a run uses nothing else of it."""

    id: int
    name: str
    creator_id: int
    creator_name: str
    version: int
    source: str
    settings: fp.SettingsResponse
    access_key: str | None = field(repr=False)
    # The settings changed since Poe last fetched them (and Poe can fetch them: a key is set).
    refetch_settings: bool = False
    privacy_shield: str | None = None  # `# poe: privacy_shield=` of the version
    # The limits the version's header asks for (`# poe: timeout_s=60`), operator's at most.
    asked_limits: dict[str, int] = field(default_factory=dict)
    # The script's secrets, decrypted: its run's os.environ, and what redaction hides.
    environment: dict[str, str] = field(default_factory=dict, repr=False)

    def limits_within(self, operator: Limits) -> Limits:
        """The operator's limits, lowered where the script asks for less."""
        asked = self.asked_limits.get("timeout_s")
        if asked is None or asked >= operator.timeout_s:
            return operator
        return dataclasses.replace(operator, timeout_s=float(asked))


@dataclass(frozen=True)
class BotCaller:
    """Who sent a request to a bot URL: ``from_poe`` when it carried the access key.
    ``stale_token``: the id of the API token it carried, when its last use is to be noted."""

    script: BotScript
    from_poe: bool
    stale_token: int | None = None


def snapshot(row: AnyRow, cipher: AccessKeyCipher) -> BotScript:
    """A ``BotScript`` of a ``store.scripts.current_bot_row``."""
    stored = row.access_key_encrypted
    return BotScript(
        id=row.id,
        name=row.name,
        creator_id=row.creator_id,
        creator_name=row.creator_name,
        version=row.version,
        source=row.source,
        settings=effective_settings(
            row.settings or {},
            row.bot_dependencies or {},
            extracted=row.extracted_settings,
            dynamic_bot_calls=row.dynamic_bot_calls,
        ),
        access_key=cipher.decrypt(stored) if stored else None,
        refetch_settings=row.refetch_settings and stored is not None,
        privacy_shield=row.privacy_shield,
        asked_limits=ScriptHeader(dict(row.header or {})).limits,
    )


def find_bot(connection: Connection, name: str, cipher: AccessKeyCipher) -> BotScript | None:
    """The script named ``name`` (any case, any creator), or None."""
    row = current_bot_row(connection, name)
    return None if row is None else _with_secrets(connection, row, cipher)


def own_bot(
    connection: Connection, creator_id: int, name: str, cipher: AccessKeyCipher
) -> BotScript | None:
    """``creator_id``'s script named ``name``, or None: the only scripts a bot call of that
    creator's scripts reaches here (SPEC §8, issue 11: another creator's script of that name
    is not run; the call goes to Poe, where that creator publishes it)."""
    row = current_bot_row(connection, name)
    if row is None or row.creator_id != creator_id:
        return None
    return _with_secrets(connection, row, cipher)


def creators_bot(
    connection: Connection, creator_id: int, name: str, cipher: AccessKeyCipher
) -> BotScript:
    """``creator_id``'s script ``name``; NotFound when absent or someone else's."""
    bot = own_bot(connection, creator_id, name, cipher)
    if bot is None:
        raise NotFound(f"You have no script named {name[:60]!r}.")
    return bot


def authorize_bot(
    connection: Connection, name: str, credential: str | None, cipher: AccessKeyCipher
) -> BotCaller:
    """The script behind ``/bots/{name}`` for a request bearing ``credential``.

    NotFound for an unknown name (whatever the credential), Unauthorized unless the
    credential is the script's access key or an API token of its creator. Reads only."""
    bot = find_bot(connection, name, cipher)
    if bot is None:
        raise NotFound(f"There is no bot named {name[:60]!r}.")
    if not credential:
        raise Unauthorized(
            "Send the bot's Poe access key (or an API token of its creator) "
            "as 'Authorization: Bearer <key>'."
        )
    if bot.access_key is not None and _same(credential, bot.access_key):
        return BotCaller(bot, from_poe=True)
    use = token_use(connection, credential)
    if use is None or use.creator_id != bot.creator_id:
        raise Unauthorized("Invalid access key")
    return BotCaller(bot, from_poe=False, stale_token=use.token_id if use.stale else None)


def _with_secrets(connection: Connection, row: AnyRow, cipher: AccessKeyCipher) -> BotScript:
    """The script of ``row`` with its secrets (a second, indexed SELECT when it has any)."""
    bot = snapshot(row, cipher)
    if not row.has_secrets:
        return bot
    environment = run_environment(connection, bot.id, cipher)
    return dataclasses.replace(bot, environment=environment) if environment else bot


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
