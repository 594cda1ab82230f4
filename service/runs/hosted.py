"""A hosted script as a run needs it, read from the database in one go: its current
version's source, its effective Poe settings, and its decrypted access key.

Also the bot endpoint's authentication (SPEC §7): the script's access key, or an API token
of the script's creator.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

import fastapi_poe as fp
from sqlalchemy.orm import Session

from service.bot_settings import version_settings
from service.errors import NotFound, Unauthorized
from service.security import AccessKeyCipher
from service.store.creators import creator_for_token
from service.store.scripts import current_version, find_script, get_script
from service.store.tables import Creator, Script


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


@dataclass(frozen=True)
class BotCaller:
    """Who sent a request to a bot URL: ``from_poe`` when it carried the access key."""

    script: BotScript
    from_poe: bool


def snapshot(session: Session, script: Script, cipher: AccessKeyCipher) -> BotScript:
    version = current_version(session, script)
    creator = session.get(Creator, script.creator_id)
    stored = script.access_key_encrypted
    return BotScript(
        id=script.id,
        name=script.name,
        creator_id=script.creator_id,
        creator_name=creator.name if creator is not None else "",
        version=version.number,
        source=version.source,
        settings=version_settings(script, version),
        access_key=cipher.decrypt(stored) if stored else None,
        refetch_settings=script.refetch_settings and stored is not None,
        privacy_shield=version.privacy_shield,
    )


def find_bot(session: Session, name: str, cipher: AccessKeyCipher) -> BotScript | None:
    """The script named ``name`` (any case, any creator), or None."""
    script = find_script(session, name)
    return None if script is None else snapshot(session, script, cipher)


def own_bot(
    session: Session, creator_id: int, name: str, cipher: AccessKeyCipher
) -> BotScript | None:
    """``creator_id``'s script named ``name``, or None: the only scripts a bot call of that
    creator's scripts reaches here (SPEC §8, issue 11: another creator's script of that name
    is not run; the call goes to Poe, where that creator publishes it)."""
    script = find_script(session, name)
    if script is None or script.creator_id != creator_id:
        return None
    return snapshot(session, script, cipher)


def creators_bot(
    session: Session, creator_id: int, name: str, cipher: AccessKeyCipher
) -> BotScript:
    """``creator_id``'s script ``name``; NotFound when absent or someone else's."""
    return snapshot(session, get_script(session, creator_id, name), cipher)


def authorize_bot(
    session: Session, name: str, credential: str | None, cipher: AccessKeyCipher
) -> BotCaller:
    """The script behind ``/bots/{name}`` for a request bearing ``credential``.

    NotFound for an unknown name (whatever the credential), Unauthorized unless the
    credential is the script's access key or an API token of its creator."""
    bot = find_bot(session, name, cipher)
    if bot is None:
        raise NotFound(f"There is no bot named {name[:60]!r}.")
    if not credential:
        raise Unauthorized(
            "Send the bot's Poe access key (or an API token of its creator) "
            "as 'Authorization: Bearer <key>'."
        )
    if bot.access_key is not None and _same(credential, bot.access_key):
        return BotCaller(bot, from_poe=True)
    creator = creator_for_token(session, credential)
    if creator is None or creator.id != bot.creator_id:
        raise Unauthorized("Invalid access key")
    return BotCaller(bot, from_poe=False)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
